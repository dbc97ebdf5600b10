"""The OpenAPI document of a protected app describes its own middleware's Entra settings.

No FastAPI import: the middleware wraps the `openapi()` of the app it protects (FastAPI's
document builder), and the built document is completed here, so two apps in one process
each describe their own tenant and scopes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ._app_id_uri import AppIdUri, short_scope

__all__ = [
    "ROUTE_SCOPES_ATTRIBUTE",
    "SCHEME_DESCRIPTION",
    "SCHEME_NAME",
    "EntraApp",
    "announce",
    "describe",
]

SCHEME_NAME = "EntraID"
SCHEME_DESCRIPTION = "Microsoft Entra ID"
# The attribute of a requirement dependency (`require_scopes`, ...) naming the scopes its
# route declares; such a route's operation lists the scheme with them.
ROUTE_SCOPES_ATTRIBUTE = "aad_guard_scopes"

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


def route_scopes(routes: Iterable[object]) -> dict[tuple[str, str], list[str]]:
    """The scopes each operation's requirement dependencies declare, by path and method.

    Read from FastAPI's routes by their attributes (`path_format`, `methods`, `dependant`):
    every dependency, nested ones and the router's too, whose callable carries
    `ROUTE_SCOPES_ATTRIBUTE`. Recent FastAPI keeps an included router as one route whose
    `effective_route_contexts()` are its routes with their prefix and dependencies.
    """
    found: dict[tuple[str, str], list[str]] = {}
    for route in _flattened(routes):
        path, methods = getattr(route, "path_format", None), getattr(route, "methods", None)
        pending = [getattr(route, "dependant", None)]
        scopes: list[str] | None = None
        while pending:
            dependant = pending.pop(0)  # in declaration order
            if dependant is None:
                continue
            named = getattr(getattr(dependant, "call", None), ROUTE_SCOPES_ATTRIBUTE, None)
            if isinstance(named, tuple):
                scopes = [*(scopes or ()), *named]
            pending.extend(getattr(dependant, "dependencies", ()))
        if scopes is not None and isinstance(path, str) and methods:
            found.update(((path, method.lower()), scopes) for method in methods)
    return found


def _flattened(routes: Iterable[object]) -> Iterator[object]:
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            yield from contexts()
        else:
            yield route


def _declare(document: OpenAPIDocument, scopes: dict[tuple[str, str], list[str]]) -> None:
    """Give each operation of `scopes` its `EntraID` requirement, and the document the scheme."""
    paths = document.get("paths", {})
    for (path, method), named in scopes.items():
        operation = paths.get(path, {}).get(method)
        if not isinstance(operation, dict):
            continue  # not in the document (`include_in_schema=False`)
        security = operation.setdefault("security", [])
        requirement = next((each for each in security if SCHEME_NAME in each), None)
        if requirement is None:
            security.append({SCHEME_NAME: list(named)})
        else:
            requirement[SCHEME_NAME] = [*requirement[SCHEME_NAME], *named]
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes.setdefault(SCHEME_NAME, {"type": "oauth2", "description": SCHEME_DESCRIPTION})


def describe(document: OpenAPIDocument, entra: EntraApp, routes: Iterable[object] = ()) -> None:
    """Complete the `EntraID` scheme of `document` for `entra`, in place.

    The operations of `routes` whose requirement dependencies declare scopes get an `EntraID`
    requirement (`route_scopes`). Every operation's `EntraID` requirement names full scope
    URIs, and the scheme declares exactly those, with the tenant's authorize and token
    endpoints. Idempotent.
    """
    by_operation = route_scopes(routes)
    if by_operation:
        _declare(document, by_operation)
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

    def __init__(self, app: object, build: Callable[[], OpenAPIDocument], entra: EntraApp) -> None:
        self._app = app
        self._build = build
        self._entra = entra

    def __call__(self) -> OpenAPIDocument:
        document = self._build()
        describe(document, self._entra, getattr(self._app, "routes", ()))
        return document


def announce(app: object, entra: EntraApp) -> None:
    """Make the OpenAPI document `app` builds (`app.openapi()`, FastAPI's) describe `entra`.

    Apps without `openapi()` are left alone; an app already described keeps its first
    middleware's settings.
    """
    build = getattr(app, "openapi", None)
    if callable(build) and not isinstance(build, _DescribedOpenAPI):
        app.openapi = _DescribedOpenAPI(app, build, entra)  # type: ignore[attr-defined]
