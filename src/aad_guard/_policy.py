"""Tenant policies and the issuer-template check (`iss` must be the issuer for its `tid`)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard

__all__ = [
    "MSA_TENANT_ID",
    "IssuerTemplate",
    "TenantPolicy",
    "TenantRule",
    "is_guid",
    "normalize_tenant",
    "normalize_tenant_ids",
]

# Every personal Microsoft account lives in this one tenant (Entra ID token reference).
MSA_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
"""The tenant of every personal Microsoft account: `tid` of a consumers token."""
KEYWORDS = frozenset({"organizations", "consumers", "common"})
PLACEHOLDER = "{tenantid}"

# Entra emits tenant ids in lower case; anything else is not a `tid` Entra issued.
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_TENANT_SEGMENT = r"(\{tenantid\}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
_ISSUER_FORMS = {
    "2.0": re.compile(rf"https?://[^/?#@\s]+/{_TENANT_SEGMENT}/v2\.0"),
    "1.0": re.compile(rf"https?://[^/?#@\s]+/{_TENANT_SEGMENT}/"),
}

TenantPolicy: TypeAlias = Callable[[str, str, Mapping[str, object]], bool | Awaitable[bool]]
"""A callable `(tenant_id, issuer, claims) -> bool`, sync or async: `True` admits the tenant."""


def is_guid(value: object) -> TypeGuard[str]:
    """Whether `value` is a GUID in the lower-case form Entra uses for tenant ids."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


def normalize_tenant(tenant: str) -> str:
    """Check a configured `tenant`: a GUID, a verified domain or a keyword; lower-cased.

    Raises:
        ValueError: `tenant` is none of those.
    """
    if not isinstance(tenant, str):
        raise TypeError(f"tenant must be a string, not {type(tenant).__name__}")
    value = tenant.strip().lower()
    if value in KEYWORDS or _GUID.fullmatch(value) or _DOMAIN.fullmatch(value):
        return value
    raise ValueError(
        f"tenant {tenant!r} is neither a tenant id (GUID), a verified domain, nor one of "
        "'organizations', 'consumers', 'common'"
    )


def normalize_tenant_ids(tenant_ids: Iterable[str]) -> frozenset[str]:
    """Check an allow-list of tenant ids; each must be a GUID.

    Raises:
        ValueError: an entry is not a GUID, or the list is empty.
    """
    if isinstance(tenant_ids, str):
        raise TypeError("allowed_tenants must be a collection of tenant ids, not a string")
    normalized = set()
    for tenant_id in tenant_ids:
        value = tenant_id.strip().lower() if isinstance(tenant_id, str) else tenant_id
        if not is_guid(value):
            raise ValueError(f"allowed_tenants entry {tenant_id!r} is not a tenant id (GUID)")
        normalized.add(value)
    if not normalized:
        raise ValueError("allowed_tenants is empty: no tenant could ever call")
    return frozenset(normalized)


@dataclass(frozen=True, slots=True)
class IssuerTemplate:
    """An issuer from OpenID metadata: a `{tenantid}` template, or fixed to one tenant."""

    value: str
    version: str
    tenant_id: str | None

    @classmethod
    def parse(cls, issuer: object, *, version: str, tenant: str) -> IssuerTemplate:
        """Check a metadata `issuer` against the configured `tenant`.

        Raises:
            ValueError: not an Entra issuer of this version, or one for another tenant.
        """
        if (
            not isinstance(issuer, str)
            or (match := _ISSUER_FORMS[version].fullmatch(issuer)) is None
        ):
            raise ValueError(f"the metadata issuer {issuer!r} is not a v{version} Entra issuer")
        segment = match.group(1)
        fixed = None if segment == PLACEHOLDER else segment
        if tenant in ("organizations", "common"):
            expected_ok = fixed is None
        elif tenant == "consumers":
            expected_ok = fixed == MSA_TENANT_ID
        elif is_guid(tenant):
            expected_ok = fixed == tenant
        else:  # a verified domain: the metadata tells which tenant it belongs to
            expected_ok = fixed is not None
        if not expected_ok:
            raise ValueError(f"the metadata issuer {issuer!r} does not belong to tenant {tenant!r}")
        return cls(issuer, version, fixed)

    def for_tenant(self, tenant_id: str) -> str | None:
        """The exact issuer a token of `tenant_id` must carry, or `None` if it can have none."""
        if self.tenant_id is None:
            return self.value.replace(PLACEHOLDER, tenant_id)
        return self.value if self.tenant_id == tenant_id else None


@dataclass(frozen=True, slots=True)
class TenantRule:
    """The built-in tenant conditions: the configured `tenant` and `allowed_tenants`."""

    tenant: str
    allowed_tenants: frozenset[str] | None

    def admits(self, tenant_id: str, *, resolved_tenant_id: str | None) -> bool:
        """Whether `tenant_id` passes; `resolved_tenant_id` is a domain tenant's id."""
        if self.allowed_tenants is not None and tenant_id not in self.allowed_tenants:
            return False
        if self.tenant == "common":
            return True
        if self.tenant == "organizations":
            return tenant_id != MSA_TENANT_ID
        if self.tenant == "consumers":
            return tenant_id == MSA_TENANT_ID
        if is_guid(self.tenant):
            return tenant_id == self.tenant
        return resolved_tenant_id is not None and tenant_id == resolved_tenant_id
