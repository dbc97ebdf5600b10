"""Scopes as Entra reads them: the API's scopes by short name, and the OpenID Connect ones."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._oauth import OAuthError

__all__ = ["OIDC_SCOPES", "delegated_scopes", "scope_names"]

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token


def delegated_scopes(
    scope: str | None, api_id: str, *, identifier_uris: Iterable[str] = ()
) -> tuple[tuple[str, ...], frozenset[str]]:
    """The API's scopes (by short name) and the OpenID Connect scopes in `scope`."""
    api = f"api://{api_id}"
    if scope is None:
        raise OAuthError(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        )
    names = scope_names(scope, api_id, skip_oidc=True, identifier_uris=identifier_uris)
    if not names or ".default" in names:
        raise OAuthError(
            "invalid_scope",
            70011,
            f"Name the scopes of {api} to consent to, like {api}/access_as_user.",
        )
    oidc = frozenset(item for item in scope.split(" ") if item in OIDC_SCOPES)
    return tuple(dict.fromkeys(names)), oidc


def scope_names(
    scope: str, api_id: str, *, skip_oidc: bool, identifier_uris: Iterable[str] = ()
) -> list[str]:
    """The scopes of the API `api_id` named in `scope`, by short name.

    Entra issues a token for one resource at a time: every other scope is refused. A scope
    may start with any of the API's App ID URIs (`identifier_uris`) besides `api://<id>`.
    """
    prefixes = (
        f"api://{api_id}/",
        f"{api_id}/",
        *(f"{uri.rstrip('/')}/" for uri in identifier_uris),
    )
    api = f"api://{api_id}"
    names: list[str] = []
    for item in scope.split(" "):
        if not item or (item in OIDC_SCOPES and skip_oidc):
            continue
        name = next(
            (item[len(p) :] for p in prefixes if item.startswith(p)),
            "",
        )
        if not _SCOPE_TOKEN.fullmatch(name) or "/" in name:
            raise OAuthError(
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' isn't valid: {item!r} "
                f"is not a scope of {api}, the only API of this issuer.",
            )
        names.append(name)
    return names
