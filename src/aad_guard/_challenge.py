"""RFC 6750 answers: `WWW-Authenticate` challenges and the JSON error body."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .errors import (
    AADGuardError,
    AuthContextChallengeError,
    InsufficientScopeError,
    KeysUnavailableError,
    RevocationUnavailableError,
    TokenRevokedError,
)

__all__ = ["claims_challenge", "error_body", "error_headers", "quoted", "www_authenticate"]


def quoted(value: str) -> str:
    """An RFC 9110 quoted-string: backslash and double quote escaped, controls dropped."""
    cleaned = "".join(ch for ch in value if ch == "\t" or " " <= ch != "\x7f")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def www_authenticate(
    *,
    realm: str | None = None,
    error: str | None = None,
    description: str | None = None,
    scopes: Iterable[str] = (),
) -> str:
    """A `Bearer` challenge (RFC 6750 §3); with no error for a request that sent no token."""
    params = []
    if realm is not None:
        params.append(f"realm={quoted(realm)}")
    if error is not None:
        params.append(f"error={quoted(error)}")
    if description is not None:
        params.append(f"error_description={quoted(description)}")
    scope = " ".join(scopes)
    if scope:
        params.append(f"scope={quoted(scope)}")
    return "Bearer " + ", ".join(params) if params else "Bearer"


def error_headers(
    error: AADGuardError,
    *,
    realm: str | None = None,
    authorization_uri: str = "https://login.microsoftonline.com/common/oauth2/authorize",
    client_id: str = "",
) -> dict[str, str]:
    """The headers that go with `error`'s status: a challenge, or `Retry-After` for a 503.

    A claims challenge names the API's `client_id` and the `authorization_uri` where the
    client gets its new token, as Microsoft's documented header shape has them.
    """
    if isinstance(error, KeysUnavailableError | RevocationUnavailableError):
        return {"Retry-After": str(error.retry_after)}
    claims = (
        error.claims if isinstance(error, TokenRevokedError | AuthContextChallengeError) else None
    )
    if claims is not None:
        cc_type = "authcontext" if isinstance(error, AuthContextChallengeError) else None
        challenge = claims_challenge(
            claims,
            realm=realm or "",
            authorization_uri=authorization_uri,
            client_id=client_id,
            cc_type=cc_type,
        )
        return {"WWW-Authenticate": challenge}
    scopes: tuple[str, ...] = ()
    if isinstance(error, InsufficientScopeError):
        scopes = error.scopes + error.roles
    description = error.description if error.error is not None else None
    challenge = www_authenticate(
        realm=realm, error=error.error, description=description, scopes=scopes
    )
    return {"WWW-Authenticate": challenge}


def claims_challenge(
    claims: str,
    *,
    realm: str,
    authorization_uri: str,
    client_id: str,
    cc_type: str | None = None,
) -> str:
    """The `WWW-Authenticate` value of a claims challenge, in the order Microsoft documents.

    `Bearer realm="", authorization_uri="…/oauth2/authorize", client_id="…",
    error="insufficient_claims", claims="…", cc_type="authcontext"` (the developer guide to
    Conditional Access authentication context); `cc_type` is left out for revocation (CAE).
    """
    params = [
        f"realm={quoted(realm)}",
        f"authorization_uri={quoted(authorization_uri)}",
        f"client_id={quoted(client_id)}",
        'error="insufficient_claims"',
        f"claims={quoted(claims)}",
    ]
    if cc_type is not None:
        params.append(f"cc_type={quoted(cc_type)}")
    return "Bearer " + ", ".join(params)


def error_body(error: AADGuardError) -> bytes:
    """`{"error": ..., "error_description": ...}`, the same shape for every status."""
    document = {"error": error.error or error.reason, "error_description": error.description}
    return json.dumps(document, separators=(",", ":")).encode("utf-8")
