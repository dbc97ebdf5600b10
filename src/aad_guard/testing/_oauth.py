"""OAuth 2.0 on the wire, for the local sign-in: parameters, client credentials, PKCE, errors."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal
from urllib.parse import parse_qsl, unquote_plus, urlencode

import httpx

from ._page import form_post_page

__all__ = [
    "NO_STORE",
    "OAuthError",
    "Reply",
    "ResponseMode",
    "basic_credentials",
    "form_params",
    "posted_form",
    "required",
    "s256",
]

NO_STORE = MappingProxyType({"Cache-Control": "no-store", "Pragma": "no-cache"})  # RFC 6749 §5.1


class OAuthError(Exception):
    """An OAuth error response, as Entra gives it: `error`, an AADSTS code and a description.

    Args:
        error: The OAuth `error` code (RFC 6749 §5.2), or Entra's own where it has one.
        code: The AADSTS number Entra answers the same mistake with; it leads the
            description (`AADSTS70011: ...`) and is listed in `error_codes`.
        description: What went wrong, for the developer.
        status: The HTTP status. Default 400.
        basic: The client authenticated with HTTP Basic: a 401 names the scheme.
    """

    def __init__(
        self, error: str, code: int, description: str, *, status: int = 400, basic: bool = False
    ) -> None:
        super().__init__(description)
        self.error = error
        self.code = code
        self.description = f"AADSTS{code}: {description}"
        self.status = status
        # RFC 6749 §5.2: a 401 to a client that used HTTP Basic names the scheme.
        self.headers = {"WWW-Authenticate": 'Basic realm="aad-guard"'} if basic else {}

    def document(self, *, now: float, correlation_id: str | None) -> dict[str, object]:
        """The JSON body Entra's token endpoint answers with: its members, in its order."""
        trace_id = str(uuid.uuid4())
        correlation_id = correlation_id or str(uuid.uuid4())
        timestamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(now))
        return {
            "error": self.error,
            "error_description": (
                f"{self.description}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


ResponseMode = Literal["query", "fragment", "form_post"]


@dataclass(frozen=True, slots=True)
class Reply:
    """Where authorization answers go: the client's redirect URI, with its state and mode."""

    redirect_uri: str
    state: str | None
    mode: ResponseMode = "query"

    def send(self, **params: str) -> httpx.Response:
        if self.state is not None:
            params["state"] = self.state
        if self.mode == "form_post":  # OAuth 2.0 Form Post Response Mode, as Entra does it
            return form_post_page(self.redirect_uri, params)
        query = urlencode(params)
        if self.mode == "fragment":
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
        raise OAuthError(
            "invalid_request", 9002313, "Request is malformed or invalid: not valid UTF-8."
        ) from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:  # RFC 6749 §3.1: no parameter more than once
            raise OAuthError("invalid_request", 9002313, f"The parameter {name!r} appears twice.")
        if value:  # RFC 6749 §3.1: a parameter without a value is omitted
            params[name] = value
    return params


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise OAuthError(
            "invalid_request",
            900144,
            f"The request body must contain the following parameter: '{name}'.",
        )
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
            "invalid_client", 7000215, "The Authorization header is not Basic credentials.",
            status=401, basic=True,
        ) from exc  # fmt: skip
    return unquote_plus(client_id), unquote_plus(secret)


def s256(value: str) -> str:
    """BASE64URL(SHA256(value)) without padding, as PKCE's S256 (RFC 7636 §4.2)."""
    digest = hashlib.sha256(value.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def posted_form(request: httpx.Request) -> dict[str, str]:
    """The form a token or devicecode request posts, or the `OAuthError` to answer."""
    if request.method != "POST":
        raise OAuthError(
            "invalid_request", 900561, "The endpoint only accepts POST requests.", status=405
        )
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", 900144, "Send the form as x-www-form-urlencoded.")
    return form_params(request.content)
