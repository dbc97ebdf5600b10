"""What a sign-in tells the client about the user, as Entra does: the ID token and client_info.

MSAL builds its account (and so its cache and silent sign-in) from these two: `client_info`
gives the home account id (`uid.utid`), the ID token the username and the nonce it checks.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Collection

from ._accounts import LocalUser
from ._minting import Minter
from ._oauth import s256

__all__ = ["client_info", "id_token", "pairwise_subject"]


def pairwise_subject(user: LocalUser, client_id: str) -> str:
    """`sub`: the user as one application sees them, unlike any other's (Entra's pairwise)."""
    return s256(f"{user.object_id}/{client_id}")


def id_token(
    issuer: Minter,
    user: LocalUser,
    *,
    client_id: str,
    scopes: Collection[str],
    nonce: str | None,
    lifetime: float,
) -> str:
    """A v2 ID token for `client_id`, signed with the issuer's key, with Entra's claims.

    `name` and `preferred_username` come with the `profile` scope, `email` with `email`, and
    `nonce` echoes the authorization request's, as the Microsoft identity platform's.
    """
    tenant_id = user.tenant_id or issuer.tenant_id
    now = int(issuer.clock())
    claims: dict[str, object] = {
        "aud": client_id,
        "iss": issuer.issuer(tenant_id),
        "iat": now,
        "nbf": now,
        "exp": int(now + lifetime),
    }
    if "profile" in scopes:
        claims["name"] = user.name
    if nonce is not None:
        claims["nonce"] = nonce
    claims["oid"] = user.object_id
    if "profile" in scopes:
        claims["preferred_username"] = user.username
    if "email" in scopes:
        claims["email"] = user.username
    claims.update(
        {
            "sub": pairwise_subject(user, client_id),
            "tid": tenant_id,
            "uti": uuid.uuid4().hex[:22],
            "ver": "2.0",
        }
    )
    return issuer.sign(claims)


def client_info(user: LocalUser, home_tenant_id: str) -> str:
    """base64url of `{"uid": oid, "utid": tid}`: the account's home id, as Entra sends it."""
    document = {"uid": user.object_id, "utid": user.tenant_id or home_tenant_id}
    data = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
