"""Azure AD B2C, Entra External ID and guest users, on the local issuer's extension points.

The local issuer serves Entra's metadata; these metadata builders make it serve a B2C user
flow's (issuer `https://{host}/{tid}/v2.0/`, asked for with `?p={flow}`) or an External ID
tenant's (issuer `https://{tid}.ciamlogin.com/{tid}/v2.0`), and the token helpers mint the
tokens those products issue: B2C's with `ver` "1.0", no `tid` and the user flow in `tfp`;
guests' with an `idp` of their home tenant.

```python
issuer = b2c_issuer()
validator = TokenValidator(
    client_id=issuer.client_id, metadata_url=b2c_metadata_url(issuer), http_client=issuer.client()
)
principal = await validator.validate(b2c_token(issuer))
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final
from urllib.parse import urlsplit

from ._accounts import OTHER_TENANT_ID
from ._issuer import DEFAULT_TENANT_ID, LocalIssuer
from ._metadata import MetadataBuilder, MetadataRequest, entra_metadata

__all__ = [
    "b2c_issuer",
    "b2c_metadata",
    "b2c_metadata_url",
    "b2c_token",
    "external_id_issuer",
    "external_id_metadata",
    "external_id_token",
    "guest_token",
]

DEFAULT_USER_FLOW: Final = "B2C_1_signin"


def _tenant_id_of(issuer: str) -> str:
    return urlsplit(issuer).path.strip("/").split("/")[0]


def b2c_metadata(request: MetadataRequest) -> dict[str, object]:
    """A B2C user flow's metadata: issuer with a trailing slash, keys of the flow (`?p=`)."""
    document = entra_metadata(request)
    flow = request.query.get("p")
    document["issuer"] = f"{request.issuer.rstrip('/')}/"
    if flow is not None:
        document["jwks_uri"] = f"{document['jwks_uri']}?p={flow}"
    claims = document.get("claims_supported")
    if isinstance(claims, list):
        document["claims_supported"] = [c for c in claims if c != "tid"] + ["tfp", "idp"]
    return document


def external_id_metadata(request: MetadataRequest) -> dict[str, object]:
    """An External ID tenant's metadata: issuer `https://{tid}.ciamlogin.com/{tid}/v2.0`."""
    document = entra_metadata(request)
    tenant_id = _tenant_id_of(request.issuer)
    document["issuer"] = f"https://{tenant_id}.ciamlogin.com/{tenant_id}/v2.0"
    return document


def _issuer_on(
    host: str,
    label: str,
    builder: MetadataBuilder,
    tenant_id: str,
    clock: Callable[[], float] | None,
) -> LocalIssuer:
    """An issuer on `https://{label}.{host}`, of tenant `{label}.onmicrosoft.com`.

    Its listed keys carry no `issuer` member, as B2C's and External ID's do not.
    """
    issuer = LocalIssuer(
        authority=f"https://{label}.{host}",
        tenant_id=tenant_id,
        domains={f"{label}.onmicrosoft.com": tenant_id},
        metadata=builder,
        clock=clock,
    )
    for key in issuer.keys.listed:
        issuer.keys.issuers[key.kid] = None
    return issuer


def b2c_issuer(
    *,
    tenant: str = "contoso",
    tenant_id: str = DEFAULT_TENANT_ID,
    clock: Callable[[], float] | None = None,
) -> LocalIssuer:
    """A local issuer on `https://{tenant}.b2clogin.com` serving B2C user-flow metadata.

    Keys added later (`keys.rotate()`) are bound to an issuer unless
    `keys.issuers[kid] = None`, as B2C's never are.
    """
    return _issuer_on("b2clogin.com", tenant, b2c_metadata, tenant_id, clock)


def b2c_metadata_url(issuer: LocalIssuer, user_flow: str = DEFAULT_USER_FLOW) -> str:
    """The metadata URL of `user_flow` on a `b2c_issuer`, in B2C's `?p=` form."""
    tenant = next(iter(issuer.domains), issuer.tenant_id)
    return f"{issuer.authority}/{tenant}/v2.0/.well-known/openid-configuration?p={user_flow}"


def b2c_token(
    issuer: LocalIssuer,
    *,
    user_flow: str = DEFAULT_USER_FLOW,
    idp: str | None = "google.com",
    claims: dict[str, object] | None = None,
    remove: Iterable[str] = (),
    scopes: Iterable[str] | None = ("access_as_user",),
) -> str:
    """A B2C access token of `user_flow`: `ver` "1.0", no `tid`, `tfp`, a social `idp`."""
    b2c: dict[str, object] = {
        "iss": f"{issuer.issuer(issuer.tenant_id)}/",
        "ver": "1.0",
        "tfp": user_flow,
    }
    if idp is not None:
        b2c["idp"] = idp
    return issuer.token(claims={**b2c, **(claims or {})}, remove=("tid", *remove), scopes=scopes)


def external_id_issuer(
    *,
    subdomain: str = "contoso",
    tenant_id: str = DEFAULT_TENANT_ID,
    clock: Callable[[], float] | None = None,
) -> LocalIssuer:
    """A local issuer on `https://{subdomain}.ciamlogin.com` serving External ID metadata."""
    return _issuer_on("ciamlogin.com", subdomain, external_id_metadata, tenant_id, clock)


def external_id_token(issuer: LocalIssuer, *, claims: dict[str, object] | None = None) -> str:
    """An External ID access token (v2.0, issuer `https://{tid}.ciamlogin.com/{tid}/v2.0`)."""
    tenant_id = issuer.tenant_id
    ciam = {"iss": f"https://{tenant_id}.ciamlogin.com/{tenant_id}/v2.0", "idp": "google.com"}
    return issuer.token(claims={**ciam, **(claims or {})})


def guest_token(
    issuer: LocalIssuer,
    *,
    home_tenant_id: str = OTHER_TENANT_ID,
    claims: dict[str, object] | None = None,
) -> str:
    """A guest (B2B) user's token: `idp` is the home tenant's issuer, `acct` is 1."""
    guest = {"idp": f"https://sts.windows.net/{home_tenant_id}/", "acct": 1}
    return issuer.token(claims={**guest, **(claims or {})})
