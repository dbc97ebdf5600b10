"""The `claims` request parameter (OpenID Connect Core §5.5), as Entra honours it for tokens.

MSAL sends it to the authorize and token endpoints: `xms_cc` with `values: ["cp1"]` for an
app built with `client_capabilities=["cp1"]`, merged with the claims challenge it answers
(`acrs` for an authentication context, `nbf` after a revocation). Entra puts the declared
capabilities in the access token's `xms_cc` and, once the user met the context's policy, the
context in `acrs`; the local issuer has no policies, so it grants what is asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ._oauth import OAuthError

__all__ = ["access_token_claims", "checked_claims"]

_MAX_CLAIMS = 8 * 1024


def checked_claims(value: str | None) -> str | None:
    """`value` if it is a claims request (a JSON object), for the authorize endpoint.

    Raises:
        OAuthError: it is not.
    """
    if value is not None:
        _access_token_request(value)
    return value


def access_token_claims(requests: Iterable[str | None]) -> dict[str, object]:
    """The claims to add to the access token for these `claims` parameters, merged.

    Raises:
        OAuthError: one is not a claims request.
    """
    capabilities: list[str] = []
    contexts: list[str] = []
    for value in requests:
        if value is None:
            continue
        asked = _access_token_request(value)
        capabilities += _values(asked.get("xms_cc"))
        contexts += _values(asked.get("acrs"))
    claims: dict[str, object] = {}
    if capabilities:
        claims["xms_cc"] = list(dict.fromkeys(capabilities))
    if contexts:
        claims["acrs"] = list(dict.fromkeys(contexts))
    return claims


def _access_token_request(value: str) -> dict[str, object]:
    try:
        document = json.loads(value) if len(value) <= _MAX_CLAIMS else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise OAuthError("invalid_request", 90100, "The claims parameter is not a JSON object.")
    access_token = document.get("access_token", {})
    if not isinstance(access_token, dict):
        raise OAuthError("invalid_request", 90100, "The claims' access_token is not an object.")
    return access_token


def _values(request: object) -> list[str]:
    """The values an individual claim request asks for: `value`, or each of `values`."""
    if not isinstance(request, dict):
        return []
    asked = request.get("values", [request["value"]] if "value" in request else [])
    return [item for item in asked if isinstance(item, str)] if isinstance(asked, list) else []
