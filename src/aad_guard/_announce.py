"""The OpenAPI document of a protected app describes its own middleware's Entra settings.

No FastAPI import: the middleware wraps the `openapi()` of the app it protects (FastAPI's
document builder), and the built document is completed here, so two apps in one process
each describe their own tenant and scopes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._requirement import short_scope

__all__ = ["SCHEME_NAME", "EntraApp", "announce", "describe"]

SCHEME_NAME = "EntraID"

OpenAPIDocument = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EntraApp:
    """What Swagger UI needs to sign a user in: the authority, tenant and API client id."""

    authority: str
    tenant: str
    client_id: str
    metadata_url: str | None = None
    name: str = "Microsoft Entra ID"

    @property
    def endpoint(self) -> str:
        """The OAuth 2.0 endpoints' base: beside the metadata (B2C's user flow, say)."""
        if self.metadata_url is None:
            return f"{self.authority}/{self.tenant}/oauth2/v2.0"
        base = self.metadata_url.split("/.well-known/", 1)[0].removesuffix("/v2.0")
        return f"{base}/oauth2/v2.0"

    @property
    def app_id_uri(self) -> str:
        """The default Application ID URI, the prefix of the API's full scope names."""
        return f"api://{self.client_id}"

    def full_scope(self, scope: str) -> str:
        """`Tasks.Read` as Entra's authorize endpoint needs it: `api://<client-id>/Tasks.Read`."""
        return scope if "://" in scope else f"{self.app_id_uri}/{scope}"


def describe(document: OpenAPIDocument, entra: EntraApp, *others: EntraApp) -> None:
    """Complete the `EntraID` scheme of `document` for `entra`, in place.

    Every operation's `EntraID` requirement names full scope URIs, and the scheme declares
    exactly those, with the tenant's authorize and token endpoints. Each of `others` (the
    middleware's further validators) gets a scheme of its own, `EntraID2`, ..., described
    by its name and metadata, that every such operation accepts instead. Idempotent.
    """
    schemes = document.get("components", {}).get("securitySchemes", {})
    scheme = schemes.get(SCHEME_NAME)
    if not isinstance(scheme, dict):
        return
    _describe_one(document, scheme, entra)
    for number, other in enumerate(others, start=2):
        name = f"{SCHEME_NAME}{number}"
        extra = schemes.setdefault(name, {**scheme})
        extra["description"] = f"{other.name}: {other.metadata_url or other.endpoint}"
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                requirements = operation.get("security", []) if isinstance(operation, dict) else []
                for requirement in list(requirements):
                    if SCHEME_NAME in requirement and {name: requirement[SCHEME_NAME]} not in (
                        requirements
                    ):
                        requirements.append({name: list(requirement[SCHEME_NAME])})
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

    def __init__(self, build: Callable[[], OpenAPIDocument], entras: tuple[EntraApp, ...]) -> None:
        self._build = build
        self._entras = entras

    def __call__(self) -> OpenAPIDocument:
        document = self._build()
        describe(document, *self._entras)
        return document


def announce(app: object, entra: EntraApp, *others: EntraApp) -> None:
    """Make the OpenAPI document `app` builds (`app.openapi()`, FastAPI's) describe `entra`.

    Apps without `openapi()` are left alone; an app already described keeps its first
    middleware's settings.
    """
    build = getattr(app, "openapi", None)
    if callable(build) and not isinstance(build, _DescribedOpenAPI):
        app.openapi = _DescribedOpenAPI(build, (entra, *others))  # type: ignore[attr-defined]
