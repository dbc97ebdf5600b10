"""`Tenant`: a configured tenant, parsed once, that knows its kind and what it admits.

Entra names a tenant five ways: a tenant id (GUID), a verified domain, or one of the keywords
`organizations` (every work or school tenant), `consumers` (personal Microsoft accounts, which
all live in one tenant) and `common` (both). The kind decides which tokens a tenant admits and
which issuer its OpenID metadata must name, so it is decided here, once, not by comparing
strings wherever it matters.
"""

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeGuard

__all__ = [
    "ISSUER_PLACEHOLDER",
    "KEYWORDS",
    "MSA_TENANT_ID",
    "Tenant",
    "TenantKind",
    "is_guid",
]

# Every personal Microsoft account lives in this one tenant (Entra ID token reference).
MSA_TENANT_ID: Final = "9188040d-6c67-4c5b-b112-36a304b66dad"
"""The tenant of every personal Microsoft account: `tid` of a consumers token."""
KEYWORDS: Final = frozenset({"organizations", "consumers", "common"})
# Where a multi-tenant issuer (and a key's `issuer` member) puts the token's `tid`.
ISSUER_PLACEHOLDER: Final = "{tenantid}"

# Entra emits tenant ids in lower case; anything else is not a `tid` Entra issued.
GUID_PATTERN: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GUID = re.compile(GUID_PATTERN)
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def is_guid(value: object) -> TypeGuard[str]:
    """Whether `value` is a GUID in the lower-case form Entra uses for tenant ids."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


class TenantKind(Enum):
    """How a tenant is named, which decides what it admits."""

    ORGANIZATIONS = "organizations"
    CONSUMERS = "consumers"
    COMMON = "common"
    TENANT_ID = "tenant id"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True, eq=False)
class Tenant:
    """A tenant setting, checked and lower-cased; compares equal to its string form.

    Build one with `Tenant.parse`; `str(tenant)` is the form that goes into URLs.
    """

    value: str
    kind: TenantKind

    @classmethod
    def parse(cls, tenant: object) -> "Tenant":
        """Check a configured `tenant`: a GUID, a verified domain or a keyword.

        Raises:
            TypeError: `tenant` is not a string.
            ValueError: `tenant` is none of those.
        """
        if isinstance(tenant, Tenant):
            return tenant
        if not isinstance(tenant, str):
            raise TypeError(f"tenant must be a string, not {type(tenant).__name__}")
        value = tenant.strip().lower()
        if value in KEYWORDS:
            return cls(value, TenantKind(value))
        if _GUID.fullmatch(value):
            return cls(value, TenantKind.TENANT_ID)
        if _DOMAIN.fullmatch(value):
            return cls(value, TenantKind.DOMAIN)
        raise ValueError(
            f"tenant {tenant!r} is neither a tenant id (GUID), a verified domain, nor one of "
            "'organizations', 'consumers', 'common'"
        )

    @property
    def is_keyword(self) -> bool:
        """Whether this is `organizations`, `consumers` or `common`, not one tenant."""
        return self.kind in (TenantKind.ORGANIZATIONS, TenantKind.CONSUMERS, TenantKind.COMMON)

    @property
    def has_v1_issuer(self) -> bool:
        """Whether v1 tokens exist for it: personal accounts get v2 tokens only."""
        return self.kind is not TenantKind.CONSUMERS

    def expects_issuer_tenant(self, fixed: str | None) -> bool:
        """Whether metadata whose issuer is fixed to tenant `fixed` belongs to this tenant.

        `fixed` is `None` for the `{tenantid}` template.
        """
        if self.kind in (TenantKind.ORGANIZATIONS, TenantKind.COMMON):
            return fixed is None
        if self.kind is TenantKind.CONSUMERS:
            return fixed == MSA_TENANT_ID
        if self.kind is TenantKind.TENANT_ID:
            return fixed == self.value
        return fixed is not None  # a verified domain: the metadata tells which tenant it is

    def admits(self, tenant_id: str, *, resolved_tenant_id: str | None) -> bool:
        """Whether a token of `tenant_id` may call; `resolved_tenant_id` is a domain's id."""
        if self.kind is TenantKind.COMMON:
            return True
        if self.kind is TenantKind.ORGANIZATIONS:
            return tenant_id != MSA_TENANT_ID
        if self.kind is TenantKind.CONSUMERS:
            return tenant_id == MSA_TENANT_ID
        if self.kind is TenantKind.TENANT_ID:
            return tenant_id == self.value
        return resolved_tenant_id is not None and tenant_id == resolved_tenant_id

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Tenant({self.value!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tenant):
            return self.value == other.value
        return isinstance(other, str) and self.value == other

    def __hash__(self) -> int:
        return hash(self.value)
