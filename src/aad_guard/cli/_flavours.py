"""The mistakes of a token from another Entra flavour: B2C, External ID, a guest's.

A B2C token checked as a workforce token fails for lacking `tid`, an External ID token for
its `ciamlogin.com` issuer; neither failure says what to configure instead, so these do.
"""

from __future__ import annotations

from types import MappingProxyType
from urllib.parse import urlsplit

from .._flavour import Flavour, flavour_of
from .._principal import is_guest, user_flow
from .._validator import ValidatorOptions
from ._summary import TokenSummary

__all__ = ["EXPLAINS", "flavour_mistakes"]

# The reason codes each mistake explains (as `_mistakes._EXPLAINS`).
EXPLAINS = MappingProxyType(
    {
        "b2c_token": frozenset({"missing_claim", "invalid_issuer", "keys_unavailable"}),
        "external_id_token": frozenset(
            {"invalid_issuer", "tenant_not_allowed", "keys_unavailable"}
        ),
        "guest": frozenset({"guest_not_allowed"}),
    }
)


def flavour_mistakes(
    summary: TokenSummary, options: ValidatorOptions, reasons: set[str]
) -> list[tuple[str, str]]:
    """`(code, message)` of each flavour mistake the token and settings show."""
    found = []
    claims, issuer = summary.claims, summary.issuer or ""
    host = (urlsplit(issuer).hostname or "").lower()
    configured = _configured_flavour(options)
    flow = user_flow(claims)
    b2c = "tid" not in claims and (
        flavour_of(host=host, metadata_path=None) is Flavour.B2C
        or (flow is not None and flow.lower().startswith("b2c_1"))
    )
    if b2c and configured is not Flavour.B2C:
        tenant = host.removesuffix(".b2clogin.com") if host.endswith(".b2clogin.com") else None
        example = (
            f"https://{host}/{tenant}.onmicrosoft.com/{flow or '<user-flow>'}/v2.0/"
            ".well-known/openid-configuration"
            if tenant
            else "the user flow's OpenID metadata URL"
        )
        found.append(
            (
                "b2c_token",
                (
                    f"This is an Azure AD B2C token (issuer {issuer!r}, user flow {flow!r}): "
                    "it has no 'tid', its tenant is the issuer's path, and its keys are the "
                    f"user flow's. Configure metadata_url, e.g. --metadata-url {example}."
                ),
            )
        )
    if host.endswith(".ciamlogin.com") and configured is Flavour.WORKFORCE:
        found.append(
            (
                "external_id_token",
                (
                    f"This is an Entra External ID token (issuer {issuer!r}). Configure the "
                    "tenant's External ID authority, "
                    "authority='https://<subdomain>.ciamlogin.com/' (the tenant "
                    "<subdomain>.onmicrosoft.com is inferred), or metadata_url for a custom "
                    "URL domain."
                ),
            )
        )
    tenant_id = summary.tenant_id
    if "guest_not_allowed" in reasons or (
        configured is Flavour.WORKFORCE
        and tenant_id is not None
        and is_guest(claims, tenant_id=tenant_id)
    ):
        found.append(
            (
                "guest",
                (
                    f"The user is a guest (B2B) in tenant {tenant_id!r}: its 'idp' "
                    f"{claims.get('idp')!r} is not the issuer, or its 'acct' is 1. "
                    "allow_guest_users=False refuses guests; the default admits them."
                ),
            )
        )
    return found


def _configured_flavour(options: ValidatorOptions) -> Flavour:
    metadata_url = options.get("metadata_url")
    authority = metadata_url or options.get("authority", "https://login.microsoftonline.com")
    parts = urlsplit(authority)
    path = f"{parts.path}/{parts.query}" if metadata_url is not None else None
    return flavour_of(host=(parts.hostname or "").lower(), metadata_path=path)
