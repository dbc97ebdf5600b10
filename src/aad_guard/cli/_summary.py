"""What a token says about itself, read without verifying it: for people, never for decisions."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal

from .._tenant import MSA_TENANT_ID

__all__ = [
    "GRAPH_AUDIENCES",
    "TokenSummary",
    "is_quoted",
    "UnreadableTokenError",
    "relative_time",
    "summarize",
    "utc_time",
    "when",
]

GRAPH_AUDIENCES = frozenset(
    {
        "00000003-0000-0000-c000-000000000000",
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/",
    }
)
# Audiences of Microsoft's own APIs that clients often send to the wrong API by mistake.
_MICROSOFT_APIS = MappingProxyType(
    {
        "00000003-0000-0000-c000-000000000000": "Microsoft Graph",
        "https://graph.microsoft.com": "Microsoft Graph",
        "https://graph.microsoft.com/": "Microsoft Graph",
        "https://management.azure.com/": "Azure Resource Manager",
        "https://management.azure.com": "Azure Resource Manager",
        "https://management.core.windows.net/": "Azure Service Management",
        "https://storage.azure.com/": "Azure Storage",
        "https://vault.azure.net": "Azure Key Vault",
        "00000002-0000-0000-c000-000000000000": "Azure AD Graph (retired)",
    }
)

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))
# Quote marks a token is often pasted with: from JSON, a shell line, or a word processor.
_QUOTES = "\"'`\u2018\u2019\u201c\u201d"

Kind = Literal["access token", "ID token", "unknown"]
Account = Literal["work or school", "personal", "app", "unknown"]


class UnreadableTokenError(ValueError):
    """The text is not a JWT whose header and payload decode to JSON objects."""


@dataclass(frozen=True, slots=True)
class TokenSummary:
    """The readable facts of a token, taken from its claims as they are (unverified)."""

    header: dict[str, object]
    claims: dict[str, object]

    @property
    def version(self) -> str | None:
        """`1.0` or `2.0`: the `ver` claim, else the issuer's form."""
        ver = self.claims.get("ver")
        if isinstance(ver, str):
            return ver
        issuer = self.issuer or ""
        if issuer.endswith("/v2.0"):
            return "2.0"
        return "1.0" if issuer.startswith("https://sts.") else None

    @property
    def issuer(self) -> str | None:
        return _text(self.claims.get("iss"))

    @property
    def tenant_id(self) -> str | None:
        return _text(self.claims.get("tid"))

    @property
    def audience(self) -> str | None:
        aud = self.claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return _text(aud)

    @property
    def audience_name(self) -> str | None:
        """The Microsoft API the audience belongs to, if it is one of the well-known ones."""
        return _MICROSOFT_APIS.get(self.audience or "")

    @property
    def is_graph_token(self) -> bool:
        """Graph tokens carry a `nonce` in the header: only Graph itself can verify them."""
        return "nonce" in self.header or self.audience in GRAPH_AUDIENCES

    @property
    def client_app(self) -> str | None:
        """The calling application: `azp` (v2) or `appid` (v1)."""
        return _text(self.claims.get("azp")) or _text(self.claims.get("appid"))

    @property
    def client_app_name(self) -> str | None:
        return _text(self.claims.get("app_displayname"))

    @property
    def scopes(self) -> list[str]:
        scp = self.claims.get("scp")
        return scp.split() if isinstance(scp, str) else []

    @property
    def roles(self) -> list[str]:
        roles = self.claims.get("roles")
        return [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []

    @property
    def kind(self) -> Kind:
        """An access token names its client app; an ID token does not (Entra token reference)."""
        if self.client_app is not None or "scp" in self.claims or "roles" in self.claims:
            return "access token"
        if "aud" in self.claims and "iss" in self.claims:
            return "ID token"
        return "unknown"

    @property
    def account(self) -> Account:
        """Who the token speaks for: a work or school user, a personal account, or an app."""
        if self.claims.get("idtyp") == "app" or (
            self.kind == "access token" and "scp" not in self.claims and "roles" in self.claims
        ):
            return "app"
        if self.tenant_id == MSA_TENANT_ID:
            return "personal"
        return "work or school" if self.tenant_id else "unknown"

    @property
    def user(self) -> str | None:
        for name in ("preferred_username", "upn", "unique_name", "email", "name"):
            value = _text(self.claims.get(name))
            if value:
                return value
        return None

    def time(self, name: str) -> float | None:
        """A time claim (`iat`, `nbf`, `exp`) when it is a finite number."""
        value = self.claims.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            return float(value) if math.isfinite(value) else None
        except OverflowError:  # an integer beyond any float
            return None

    def to_dict(self, *, now: float) -> dict[str, object]:
        """The summary as JSON-ready data, with times relative to `now`."""
        return {
            "header": self.header,
            "claims": self.claims,
            "kind": self.kind,
            "version": self.version,
            "account": self.account,
            "tenant_id": self.tenant_id,
            "issuer": self.issuer,
            "audience": self.audience,
            "audience_name": self.audience_name,
            "graph_token": self.is_graph_token,
            "client_app": self.client_app,
            "user": self.user,
            "scopes": self.scopes,
            "roles": self.roles,
            "times": {
                name: {"at": value, "utc": utc_time(value), "relative": relative_time(value, now)}
                for name in ("iat", "nbf", "exp")
                if (value := self.time(name)) is not None
            },
            "expired": (exp := self.time("exp")) is not None and exp <= now,
        }


def summarize(token: str) -> TokenSummary:
    """Read a JWT's header and claims, leniently, without checking anything.

    Quote marks around the token and a `Bearer ` prefix are left out.

    Raises:
        UnreadableTokenError: the text has no JSON-object header and payload to show.
    """
    token = token.strip().strip(_QUOTES)
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    segments = token.split(".")
    if len(segments) == 5:
        raise UnreadableTokenError("This is an encrypted token (JWE, five segments).")
    if len(segments) != 3:
        raise UnreadableTokenError(f"A JWT has three dot-separated segments, not {len(segments)}.")
    return TokenSummary(_segment(segments[0], "header"), _segment(segments[1], "payload"))


def is_quoted(token: str) -> bool:
    """Whether `token` was pasted with the quote marks around it."""
    token = token.strip()
    return token[:1] in _QUOTES or token[-1:] in _QUOTES


def relative_time(at: float, now: float) -> str:
    """`in 55 minutes` or `3 hours ago`, rounded to the largest whole unit."""
    delta = at - now
    seconds = abs(delta)
    unit, size = next(((unit, size) for unit, size in _UNITS if seconds >= size), ("second", 1))
    count = int(seconds // size)
    text = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {text}" if delta >= 0 else f"{text} ago"


def utc_time(at: float) -> str:
    """`at` (UNIX seconds) in ISO 8601, UTC, to the second: `2026-12-01T22:32:31Z`."""
    try:
        moment = datetime.fromtimestamp(at, UTC)
    except (OverflowError, ValueError, OSError):  # beyond the calendar's years
        return "not a date"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def when(at: float, now: float) -> str:
    """`2026-12-01T22:32:31Z (3 minutes ago)`: the moment, and how far it is from `now`."""
    return f"{utc_time(at)} ({relative_time(at, now)})"


def _segment(segment: str, name: str) -> dict[str, object]:
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(data)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableTokenError(f"The {name} is not base64url-encoded JSON.") from exc
    if not isinstance(value, dict):
        raise UnreadableTokenError(f"The {name} is not a JSON object.")
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
