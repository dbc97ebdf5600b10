"""The local issuer's mint endpoint: any token on request, for `aad-guard token mint`.

Entra has no such endpoint; the local issuer serves it on loopback only, so that a token for
a local API is one command away. The body names `LocalIssuer.token` arguments (`TokenSpec`
fields) as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import httpx

from ._minting import Minter, TokenSpec

__all__ = ["MINT_PATH", "mint_response"]

MINT_PATH = "/_local/mint"
_MAX_BODY = 64 * 1024
# Each accepted member and the JSON type it must have.
_MEMBERS: Mapping[str, type | tuple[type, ...]] = MappingProxyType(
    {
        "version": str,
        "tenant_id": str,
        "personal": bool,
        "scopes": list,
        "roles": list,
        "app_only": bool,
        "audience": str,
        "client_id": str,
        "lifetime": (int, float),
        "issued_at": (int, float),
        "claims": dict,
    }
)


def mint_response(issuer: Minter, request: httpx.Request) -> httpx.Response:
    """Answer `POST /_local/mint` with `{"access_token": ..., "expires_in": ...}`, or 400."""
    if request.method != "POST":
        return _error(405, "Use POST with a JSON object of token options.")
    try:
        options = _options(request.content)
        token = issuer.mint(_spec(options))
    except ValueError as error:
        return _error(400, str(error))
    lifetime = options.get("lifetime", 3600)
    return httpx.Response(
        200,
        json={"access_token": token, "token_type": "Bearer", "expires_in": int(lifetime)},
        headers={"Cache-Control": "no-store"},
    )


def _options(body: bytes) -> dict[str, Any]:
    if len(body) > _MAX_BODY:
        raise ValueError("The request body is too large.")
    try:
        options = json.loads(body or b"{}")
    except ValueError as error:
        raise ValueError("The request body is not JSON.") from error
    if not isinstance(options, dict):
        raise ValueError("The request body must be a JSON object.")
    for name, value in options.items():
        expected = _MEMBERS.get(name)
        if expected is None:
            raise ValueError(f"Unknown option {name!r}; known: {sorted(_MEMBERS)}.")
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            raise ValueError(f"Option {name!r} has the wrong type.")
    if options.get("version", "2.0") not in ("1.0", "2.0"):
        raise ValueError("Option 'version' must be '1.0' or '2.0'.")
    for name in ("scopes", "roles"):
        if not all(isinstance(item, str) for item in options.get(name, ())):
            raise ValueError(f"Option {name!r} must be a list of strings.")
    for name in ("lifetime", "issued_at"):
        value = options.get(name, 1)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"Option {name!r} must be a positive number of seconds.")
    return options


def _spec(options: Mapping[str, Any]) -> TokenSpec:
    """The token the checked options ask for; lists are the spec's tuples."""
    lists = {name: tuple(options[name]) for name in ("scopes", "roles") if name in options}
    return TokenSpec(**{**options, **lists})


def _error(status: int, description: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": "invalid_request", "error_description": description}
    )
