"""`Flavour`: which Entra identity product issues the tokens, decided once from the settings.

Workforce Entra ID, Azure AD B2C and Entra External ID (CIAM) sign tokens alike but differ in
what the tokens carry: B2C tokens have no `tid` (the tenant is the issuer's path), carry
`ver` "1.0" from the v2.0 endpoint and name their user flow in `tfp` or `acr`; External ID
serves no v1 metadata; in both, `idp` names a social provider, not a guest's home tenant. So
the flavour decides those rules here, once, and the checks ask it.
"""

import re
from enum import Enum
from typing import Final
from urllib.parse import urlsplit

from ._tenant import Tenant, TenantKind

__all__ = ["Flavour", "external_id_tenant", "flavour_of"]

# B2C's sign-in hosts in each cloud (B2C docs, "Set redirect URLs to b2clogin.com").
_B2C_HOSTS: Final = (".b2clogin.com", ".b2clogin.cn", ".b2clogin.us", ".b2clogin.de")
_CIAM_HOST: Final = ".ciamlogin.com"
# A B2C user flow (`B2C_1_...`) or custom policy (`B2C_1A_...`) in a metadata URL's path.
_USER_FLOW_SEGMENT: Final = re.compile(r"b2c_1a?_[^/]+", re.IGNORECASE)


class Flavour(Enum):
    """The identity product behind a validator's metadata."""

    WORKFORCE = "Entra ID"
    B2C = "Azure AD B2C"
    EXTERNAL_ID = "Entra External ID"
    OTHER = "OpenID metadata"

    @property
    def infers_guests(self) -> bool:
        """Whether `idp`/`acct` mark a guest: in B2C and External ID `idp` is a social one."""
        return self is Flavour.WORKFORCE

    @property
    def tid_optional(self) -> bool:
        """Whether a token may lack `tid`, its tenant being the issuer's path (B2C)."""
        return self is Flavour.B2C


def flavour_of(*, host: str, metadata_path: str | None) -> Flavour:
    """The flavour of metadata on `host` (lower case); `metadata_path` of a `metadata_url`."""
    if host.endswith(_B2C_HOSTS) or (
        metadata_path is not None
        and any(_USER_FLOW_SEGMENT.fullmatch(part) for part in metadata_path.split("/"))
    ):
        return Flavour.B2C
    if host.endswith(_CIAM_HOST):
        return Flavour.EXTERNAL_ID
    return Flavour.WORKFORCE if metadata_path is None else Flavour.OTHER


def external_id_tenant(authority: str, tenant: object) -> Tenant:
    """The tenant of an External ID authority: `{sub}.ciamlogin.com` means `{sub}.onmicrosoft.com`.

    Raises:
        ValueError: `tenant` is a keyword: External ID tenants are single tenants.
    """
    if tenant is None:
        sub = (urlsplit(authority).hostname or "").removesuffix(_CIAM_HOST)
        return Tenant.parse(f"{sub}.onmicrosoft.com")
    parsed = Tenant.parse(tenant)
    if parsed.kind not in (TenantKind.TENANT_ID, TenantKind.DOMAIN):
        raise ValueError(
            f"tenant {str(parsed)!r} cannot be used with External ID authority {authority!r}: "
            "give the tenant id or domain, or leave tenant out"
        )
    return parsed
