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

_ANY_ISSUER: Final = re.compile(
    r"https://[^/?#@\s]+/[^?#\s]*|http://(127\.0\.0\.1|localhost)(:\d+)?/[^?#\s]*"
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

    @classmethod
    def of_metadata(cls, issuer: object, *, tenant: Tenant) -> "IssuerTemplate":
        """The issuer of a document the caller named (`metadata_url`).

        Any HTTPS URL whose path names the tenant (`{tenantid}` or a GUID segment), as B2C's
        `https://{host}/{tid}/v2.0/` and External ID's custom domains do.

        Raises:
            ValueError: not such a URL, B2C's `tfp` form, or the issuer of another tenant.
        """
        if not isinstance(issuer, str) or _ANY_ISSUER.fullmatch(issuer) is None:
            raise ValueError(f"the metadata issuer {issuer!r} is not an HTTPS URL")
        segments = issuer.split("/")[3:]
        if "tfp" in (segment.lower() for segment in segments):
            # Microsoft's own validator refuses the `.../tfp/{tid}/{flow}/v2.0/` form too.
            raise ValueError(
                f"the metadata issuer {issuer!r} has B2C's tfp form; set the user flow's "
                "issuer claim to the form without 'tfp'"
            )
        tenant_segments = [s for s in segments if s == ISSUER_PLACEHOLDER or is_guid(s)]
        if not tenant_segments:
            raise ValueError(f"the metadata issuer {issuer!r} names no tenant id")
        fixed = None if tenant_segments[0] == ISSUER_PLACEHOLDER else tenant_segments[0]
        if not tenant.expects_issuer_tenant(fixed):
            raise ValueError(
                f"the metadata issuer {issuer!r} does not belong to tenant {str(tenant)!r}"
            )
        version: TokenVersion = "2.0" if "v2.0" in segments else "1.0"
        return cls(issuer, version, fixed)

    def for_tenant(self, tenant_id: str) -> str | None:
        """The exact issuer a token of `tenant_id` must carry, or `None` if it can have none."""
        if self.tenant_id is None:
            return self.value.replace(ISSUER_PLACEHOLDER, tenant_id)
        return self.value if self.tenant_id == tenant_id else None
