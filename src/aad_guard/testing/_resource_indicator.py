"""The RFC 8707 `resource` parameter as Entra v2 reads it: only the scopes' App ID URI.

Entra's v2 endpoints take scopes, not resources; a `resource` parameter is accepted only
when it names the App ID URI the requested scopes start with, character for character (a
trailing slash differs): AADSTS9010010 otherwise. MCP clients send one, so this is where an
MCP server whose App ID URI is not its resource URL fails, here as against Entra.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._oauth import OAuthError

__all__ = ["check_resource_indicator", "requested_app_id_uri"]


def requested_app_id_uri(scope: str, identifier_uris: Iterable[str]) -> str | None:
    """The identifier URI (besides `api://<id>`) the first API scope of `scope` starts with."""
    for item in scope.split(" "):
        for uri in identifier_uris:
            if item.startswith(uri.rstrip("/") + "/"):
                return uri.rstrip("/")
    return None


def check_resource_indicator(
    params: Mapping[str, str], api_id: str, identifier_uris: Iterable[str]
) -> None:
    """Refuse a `resource` that is not the App ID URI of every API scope requested.

    Raises:
        OAuthError: AADSTS9010010.
    """
    resource = params.get("resource")
    if resource is None:
        return
    uris = [f"api://{api_id}", *identifier_uris]
    requested = [item for item in params.get("scope", "").split(" ") if "/" in item]
    if resource in uris and all(item.startswith(resource + "/") for item in requested):
        return
    raise OAuthError(
        "invalid_target",
        9010010,
        f"The resource parameter provided in the request doesn't match with the requested "
        f"scopes: {resource!r} is not the App ID URI of {' '.join(requested) or 'them'}.",
    )
