"""The OpenAPI document of a protected app describes its own middleware's Entra settings.

No FastAPI import: the middleware wraps the `openapi()` of the app it protects (FastAPI's
document builder), and the built document is completed here, so two apps in one process
each describe their own tenant and scopes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._app_id_uri import AppIdUri, short_scope

__all__ = ["SCHEME_NAME", "EntraApp", "announce", "describe"]

SCHEME_NAME = "EntraID"

OpenAPIDocument = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EntraApp:
    """What Swagger UI needs to sign a user in: the authority, tenant and API client id."""

    authority: str
    tenant: str
    client_id: str
    scope_prefix: AppIdUri | None = None  # the middleware's App ID URI, if not the default

    @property
    def app_id_uri(self) -> str:
        """The Application ID URI, the prefix of the API's full scope names."""
        return (self.scope_prefix or AppIdUri.default(self.client_id)).value

    def full_scope(self, scope: str) -> str:
        """`Tasks.Read` as Entra's authorize endpoint needs it: `api://<client-id>/Tasks.Read`."""
        return AppIdUri(self.app_id_uri).full(scope)


def describe(document: OpenAPIDocument, entra: EntraApp) -> None:
    """Complete the `EntraID` scheme of `document` for `entra`, in place.

    Every operation's `EntraID` requirement names full scope URIs, and the scheme declares
    exactly those, with the tenant's authorize and token endpoints. Idempotent.
    """
    scheme = document.get("components", {}).get("securitySchemes", {}).get(SCHEME_NAME)
    if not isinstance(scheme, dict):
        return
    declared: dict[str, str] = {}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            # A path item also holds `parameters` (a list) and `summary` (a string).
            for requirement in operation.get("security", []) if isinstance(operation, dict) else ():
                if SCHEME_NAME in requirement:
                    scopes = [entra.full_scope(scope) for scope in requirement[SCHEME_NAME]]
                    requirement[SCHEME_NAME] = list(dict.fromkeys(scopes))
                    declared.update((scope, short_scope(scope)) for scope in scopes)
    endpoint = f"{entra.authority}/{entra.tenant}/oauth2/v2.0"
    scheme["flows"] = {
        "authorizationCode": {
            "authorizationUrl": f"{endpoint}/authorize",
            "tokenUrl": f"{endpoint}/token",
            "scopes": dict(sorted(declared.items())),
        }
    }


class _DescribedOpenAPI:
    """An app's `openapi()`, whose document then describes one middleware's settings."""

    def __init__(self, build: Callable[[], OpenAPIDocument], entra: EntraApp) -> None:
        self._build = build
        self._entra = entra

    def __call__(self) -> OpenAPIDocument:
        document = self._build()
        describe(document, self._entra)
        return document


def announce(app: object, entra: EntraApp) -> None:
    """Make the OpenAPI document `app` builds (`app.openapi()`, FastAPI's) describe `entra`.

    Apps without `openapi()` are left alone; an app already described keeps its first
    middleware's settings.
    """
    build = getattr(app, "openapi", None)
    if callable(build) and not isinstance(build, _DescribedOpenAPI):
        app.openapi = _DescribedOpenAPI(build, entra)  # type: ignore[attr-defined]
