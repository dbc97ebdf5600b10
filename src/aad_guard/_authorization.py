"""The `Authorization` request header as RFC 6750 §2.1 reads it: a Bearer token or none."""

import re

from starlette.types import Scope

from .errors import DuplicateAuthorizationError, MalformedAuthorizationError, MissingTokenError

__all__ = ["authorization_header", "bearer_token"]

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive.
# b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_SCHEME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?: .*)?")


def authorization_header(scope: Scope, *, required: bool) -> bytes | None:
    """The `Authorization` value if it names the Bearer scheme; `None` for anonymous.

    Raises:
        AADGuardError: no token where one is required, or a malformed or repeated header.
    """
    values = [value for name, value in scope["headers"] if name == b"authorization"]
    if len(values) > 1:
        raise DuplicateAuthorizationError
    raw = values[0] if values else b""
    if raw[:7].lower() == b"bearer ":
        return raw
    header = raw.decode("latin-1")
    if not header.strip():
        if required:
            raise MissingTokenError
        return None
    if header.split(" ", 1)[0].lower() == "bearer" or not _SCHEME.fullmatch(header):
        raise MalformedAuthorizationError
    # Another scheme (Basic, ...) carries no bearer token: as if none were sent.
    if required:
        raise MissingTokenError
    return None


def bearer_token(header: bytes) -> str | None:
    """The b64token of a `Bearer` `Authorization` value (RFC 6750 §2.1), or `None`."""
    if header[:6].lower() != b"bearer" or header[6:7] != b" ":
        return None
    value = header[7:].strip(b" ")
    characters = value.rstrip(b"=")
    if not characters or characters.translate(None, _B64TOKEN_CHARACTERS):
        return None
    return value.decode("ascii")
