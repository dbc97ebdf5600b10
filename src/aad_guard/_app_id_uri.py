"""The two forms of an Entra scope: what clients request and what the token carries.

A client asks Entra for `api://<app>/Tools.Read` (the App ID URI, a slash, the name); the
token's `scp` then says `Tools.Read`. Everything sent to clients (protected-resource
metadata, challenges, OpenAPI) names the full form; everything enforced compares the short.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AppIdUri", "short_scope"]


def short_scope(scope: str) -> str:
    """`api://<app>/Mail.Read` as the token's `scp` carries it: `Mail.Read`."""
    return scope.rsplit("/", 1)[-1] if "://" in scope else scope


@dataclass(frozen=True, slots=True)
class AppIdUri:
    """An API's Application ID URI, the prefix of its full-form scopes.

    Entra accepts the RFC 8707 `resource` parameter only when it equals this URI
    (AADSTS9010010), so an MCP server's App ID URI is its resource URL.
    """

    value: str

    @classmethod
    def default(cls, client_id: str) -> AppIdUri:
        """The URI Entra proposes for a new registration: `api://<client-id>`."""
        return cls(f"api://{client_id}")

    def full(self, scope: str) -> str:
        """`Tools.Read` as a client requests it: `<App ID URI>/Tools.Read`; full forms stay."""
        return scope if "://" in scope else f"{self.value.rstrip('/')}/{scope}"
