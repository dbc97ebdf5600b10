"""Tenant policies and the issuer-template check (`iss` must be the issuer for its `tid`)."""

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeAlias

from ._tenant import GUID_PATTERN, ISSUER_PLACEHOLDER, KEYWORDS, MSA_TENANT_ID, Tenant, is_guid
from ._version import TokenVersion

__all__ = [
    # The tenant names live in `_tenant`; these three stay importable from here.
    "KEYWORDS",
    "MSA_TENANT_ID",
    "IssuerTemplate",
    "TenantPolicy",
    "is_guid",
    "normalize_tenant_ids",
]

_TENANT_SEGMENT = rf"({re.escape(ISSUER_PLACEHOLDER)}|{GUID_PATTERN})"
_ISSUER_FORMS: Final = MappingProxyType[TokenVersion, re.Pattern[str]](
    {
        "2.0": re.compile(rf"https?://[^/?#@\s]+/{_TENANT_SEGMENT}/v2\.0"),
        "1.0": re.compile(rf"https?://[^/?#@\s]+/{_TENANT_SEGMENT}/"),
    }
)

TenantPolicy: TypeAlias = Callable[[str, str, Mapping[str, object]], bool | Awaitable[bool]]
"""A callable `(tenant_id, issuer, claims) -> bool`, sync or async: `True` admits the tenant."""


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
    version: TokenVersion
    tenant_id: str | None

    @classmethod
    def parse(cls, issuer: object, *, version: TokenVersion, tenant: Tenant) -> "IssuerTemplate":
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
        fixed = None if segment == ISSUER_PLACEHOLDER else segment
        if not tenant.expects_issuer_tenant(fixed):
            raise ValueError(
                f"the metadata issuer {issuer!r} does not belong to tenant {str(tenant)!r}"
            )
        return cls(issuer, version, fixed)

    def for_tenant(self, tenant_id: str) -> str | None:
        """The exact issuer a token of `tenant_id` must carry, or `None` if it can have none."""
        if self.tenant_id is None:
            return self.value.replace(ISSUER_PLACEHOLDER, tenant_id)
        return self.value if self.tenant_id == tenant_id else None
