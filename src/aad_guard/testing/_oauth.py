"""OAuth 2.0 on the wire, for the local sign-in: parameters, client credentials, PKCE, errors."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus, urlencode

import httpx

__all__ = [
    "NO_STORE",
    "OAuthError",
    "Reply",
    "basic_credentials",
    "form_params",
    "required",
    "s256",
]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


class OAuthError(Exception):
    """An OAuth error response: the `error` code, a description, and the HTTP status."""

    def __init__(
        self, error: str, description: str, *, status: int = 400, basic: bool = False
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        # RFC 6749 §5.2: a 401 to a client that used HTTP Basic names the scheme.
        self.headers = {"WWW-Authenticate": 'Basic realm="aad-guard"'} if basic else {}


@dataclass(frozen=True, slots=True)
class Reply:
    """Where authorization answers go: the client's redirect URI, with its state."""

    redirect_uri: str
    state: str | None
    fragment: bool

    def send(self, **params: str) -> httpx.Response:
        if self.state is not None:
            params["state"] = self.state
        query = urlencode(params)
        if self.fragment:
            location = f"{self.redirect_uri}#{query}"
        else:
            location = f"{self.redirect_uri}{'&' if '?' in self.redirect_uri else '?'}{query}"
        return httpx.Response(302, headers={"Location": location, **NO_STORE})

    def error(self, error: OAuthError) -> httpx.Response:
        return self.send(error=error.error, error_description=error.description)


def form_params(raw: bytes) -> dict[str, str]:
    """Form or query parameters; empty ones count as absent, repeated ones are refused."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_request", "The parameters are not valid UTF-8.") from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:  # RFC 6749 §3.1: no parameter more than once
            raise OAuthError("invalid_request", f"The parameter {name!r} appears twice.")
        if value:  # RFC 6749 §3.1: a parameter without a value is omitted
            params[name] = value
    return params


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise OAuthError("invalid_request", f"{name} is required.")
    return value


def basic_credentials(authorization: str) -> tuple[str, str]:
    """Client id and secret from `Basic` credentials, form-decoded (RFC 6749 §2.3.1)."""
    scheme, _, encoded = authorization.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError(scheme)
        client_id, colon, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        if not colon:
            raise ValueError("no colon")
    except (ValueError, binascii.Error) as exc:
        raise OAuthError(
            "invalid_client", "The Authorization header is not Basic credentials.", status=401,
            basic=True,
        ) from exc  # fmt: skip
    return unquote_plus(client_id), unquote_plus(secret)


def s256(value: str) -> str:
    """BASE64URL(SHA256(value)) without padding, as PKCE's S256 (RFC 7636 §4.2)."""
    digest = hashlib.sha256(value.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
