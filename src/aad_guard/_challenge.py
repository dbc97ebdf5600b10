"""RFC 6750 answers: `WWW-Authenticate` challenges, the JSON error body, WebSocket refusals."""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import Scope, Send

from ._app_id_uri import AppIdUri
from .errors import (
    AADGuardError,
    AuthContextChallengeError,
    InsufficientScopeError,
    KeysUnavailableError,
    RevocationUnavailableError,
    TokenRevokedError,
)

__all__ = [
    "check_realm",
    "claims_challenge",
    "error_body",
    "error_headers",
    "quoted",
    "refuse_websocket",
    "www_authenticate",
]


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
    resource_metadata: str | None = None,
) -> str:
    """A `Bearer` challenge (RFC 6750 §3); with no error for a request that sent no token.

    `resource_metadata` is the URL of the RFC 9728 metadata (§5.1), sent with every status.
    """
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
    if resource_metadata is not None:
        params.append(f"resource_metadata={quoted(resource_metadata)}")
    return "Bearer " + ", ".join(params) if params else "Bearer"


def error_headers(
    error: AADGuardError,
    *,
    realm: str | None = None,
    authorization_uri: str = "https://login.microsoftonline.com/common/oauth2/authorize",
    client_id: str = "",
    resource_metadata: str | None = None,
    scope_forms: AppIdUri | None = None,
) -> dict[str, str]:
    """The headers that go with `error`'s status: a challenge, or `Retry-After` for a 503.

    A claims challenge names the API's `client_id` and the `authorization_uri` where the
    client gets its new token, as Microsoft's documented header shape has them. With
    `scope_forms` the challenge names scopes in the full form a client requests, and no app
    roles: a client would request them as scopes, which Entra refuses (AADSTS70011).
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
            resource_metadata=resource_metadata,
        )
        return {"WWW-Authenticate": challenge}
    scopes: tuple[str, ...] = ()
    if isinstance(error, InsufficientScopeError):
        if scope_forms is None:
            scopes = error.scopes + error.roles
        else:
            scopes = tuple(map(scope_forms.full, error.scopes))
    description = error.description if error.error is not None else None
    challenge = www_authenticate(
        realm=realm,
        error=error.error,
        description=description,
        scopes=scopes,
        resource_metadata=resource_metadata,
    )
    return {"WWW-Authenticate": challenge}


def claims_challenge(
    claims: str,
    *,
    realm: str,
    authorization_uri: str,
    client_id: str,
    cc_type: str | None = None,
    resource_metadata: str | None = None,
) -> str:
    """The `WWW-Authenticate` value of a claims challenge, in the order Microsoft documents.

    `Bearer realm="", authorization_uri="…/oauth2/authorize", client_id="…",
    error="insufficient_claims", claims="…", cc_type="authcontext"` (the developer guide to
    Conditional Access authentication context); `cc_type` is left out for revocation (CAE).
    Under an RFC 9728 protected resource, `resource_metadata` follows, as on every challenge.
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
    if resource_metadata is not None:
        params.append(f"resource_metadata={quoted(resource_metadata)}")
    return "Bearer " + ", ".join(params)


def error_body(error: AADGuardError) -> bytes:
    """`{"error": ..., "error_description": ...}`, the same shape for every status."""
    document = {"error": error.error or error.reason, "error_description": error.description}
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def check_realm(realm: object) -> None:
    """The realm goes into every challenge's header: printable ASCII (quotes are escaped)."""
    if realm is None:
        return
    if not isinstance(realm, str):
        raise TypeError(f"realm must be a string, not {realm!r}")
    if any(not " " <= char <= "~" for char in realm):
        raise ValueError(
            f"realm {realm!r} must be printable ASCII (it is sent in the WWW-Authenticate header)"
        )


async def refuse_websocket(
    scope: Scope,
    send: Send,
    status: int,
    headers: dict[str, str],
    body: bytes,
    *,
    close_code: int = 1008,
    close_reason: str = "unauthorized",
) -> None:
    """Refuse before `accept`: an HTTP answer where the server allows it, else close 1008."""
    if "websocket.http.response" in scope.get("extensions", {}):
        raw = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
        ]
        raw.append((b"content-type", b"application/json"))
        raw.append((b"content-length", str(len(body)).encode("ascii")))
        await send({"type": "websocket.http.response.start", "status": status, "headers": raw})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    # RFC 6455 §7.4.1: 1008, policy violation, unless the caller names another code.
    await send({"type": "websocket.close", "code": close_code, "reason": close_reason})
