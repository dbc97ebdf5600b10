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
    metadata_url: str | None = None
    name: str = "Microsoft Entra ID"
    scope_prefix: AppIdUri | None = None  # the middleware's App ID URI, if not the default

    @property
    def endpoint(self) -> str:
        """The OAuth 2.0 endpoints' base: beside the metadata (B2C's user flow, say)."""
        if self.metadata_url is None:
            return f"{self.authority}/{self.tenant}/oauth2/v2.0"
        base = self.metadata_url.split("/.well-known/", 1)[0].removesuffix("/v2.0")
        return f"{base}/oauth2/v2.0"

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


def describe(
    document: OpenAPIDocument,
    entra: EntraApp,
    routes: Iterable[object] = (),
    others: tuple[EntraApp, ...] = (),
) -> None:
    """Complete the `EntraID` scheme of `document` for `entra`, in place.

    The operations of `routes` whose requirement dependencies declare scopes get an `EntraID`
    requirement (`route_scopes`). Every operation's `EntraID` requirement names full scope
    URIs, and the scheme declares exactly those, with the tenant's authorize and token
    endpoints. Each of `others` (the middleware's further validators) gets a scheme of its
    own, `EntraID2`, ..., described by its name and metadata, that every such operation
    accepts instead. Idempotent.
    """
    by_operation = route_scopes(routes)
    if by_operation:
        _declare(document, by_operation)
    schemes = document.get("components", {}).get("securitySchemes", {})
    scheme = schemes.get(SCHEME_NAME)
    if not isinstance(scheme, dict):
        return
    names = [f"{SCHEME_NAME}{number}" for number in range(2, len(others) + 2)]
    # Copied while `EntraID` still names short scopes: each scheme's own App ID URI (another
    # app registration's, say) then makes them full.
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            requirements = operation.get("security", []) if isinstance(operation, dict) else []
            ours = [r[SCHEME_NAME] for r in requirements if SCHEME_NAME in r]
            for name in names:
                if not any(name in requirement for requirement in requirements):
                    requirements.extend({name: list(scopes)} for scopes in ours)
    _describe_one(document, scheme, entra)
    for name, other in zip(names, others, strict=True):
        extra = schemes.setdefault(name, {**scheme})
        extra["description"] = f"{other.name}: {other.metadata_url or other.endpoint}"
        _describe_one(document, extra, other, scheme_name=name)


def _describe_one(
    document: OpenAPIDocument,
    scheme: dict[str, Any],
    entra: EntraApp,
    *,
    scheme_name: str = SCHEME_NAME,
) -> None:
    """Complete one scheme and the requirements that name it."""
    declared: dict[str, str] = {}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            # A path item also holds `parameters` (a list) and `summary` (a string).
            for requirement in operation.get("security", []) if isinstance(operation, dict) else ():
                if scheme_name in requirement:
                    scopes = [entra.full_scope(scope) for scope in requirement[scheme_name]]
                    requirement[scheme_name] = list(dict.fromkeys(scopes))
                    declared.update((scope, short_scope(scope)) for scope in scopes)
    endpoint = entra.endpoint
    scheme["flows"] = {
        "authorizationCode": {
            "authorizationUrl": f"{endpoint}/authorize",
            "tokenUrl": f"{endpoint}/token",
            "scopes": dict(sorted(declared.items())),
        }
    }


class _DescribedOpenAPI:
    """An app's `openapi()`, whose document then describes one middleware's settings."""

    def __init__(
        self, app: object, build: Callable[[], OpenAPIDocument], entras: tuple[EntraApp, ...]
    ) -> None:
        self._app = app
        self._build = build
        self._entras = entras

    def __call__(self) -> OpenAPIDocument:
        document = self._build()
        describe(document, self._entras[0], getattr(self._app, "routes", ()), self._entras[1:])
        return document


def announce(app: object, entra: EntraApp, *others: EntraApp) -> None:
    """Make the OpenAPI document `app` builds (`app.openapi()`, FastAPI's) describe `entra`.

    Apps without `openapi()` are left alone; an app already described keeps its first
    middleware's settings.
    """
    build = getattr(app, "openapi", None)
    if callable(build) and not isinstance(build, _DescribedOpenAPI):
        app.openapi = _DescribedOpenAPI(app, build, (entra, *others))  # type: ignore[attr-defined]
