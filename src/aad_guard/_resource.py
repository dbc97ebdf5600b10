"""RFC 9728 protected-resource metadata, and the opt-in authorization-server mirror.

The metadata tells a client (an MCP client, say) which authorization server issues tokens
for this API and which scopes to ask for. RFC 9728 §3.3: a document's `resource` must be
the identifier its URL was built from, so the path-inserted document
(`/.well-known/oauth-protected-resource/mcp`) names `https://host/mcp`, and the root one
names the origin `https://host`.

The mirror is for Entra's two refusals by spec-strict clients: its metadata lacks
`code_challenge_methods_supported`, and for `organizations`/`common` its `issuer` is the
`{tenantid}` template, not the URL it was fetched from (RFC 8414 §3.3). Served on the
resource's own origin, it names that origin as its `issuer` and Entra's endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._app_id_uri import AppIdUri
from ._fetch import Origin
from ._settings import ValidatorOptions

__all__ = [
    "AUTHORIZATION_SERVER_PATHS",
    "METADATA_PATH",
    "ProtectedResource",
    "ResourceDocuments",
    "serve_document",
]

METADATA_PATH = "/.well-known/oauth-protected-resource"
# RFC 8414 §3 and OpenID Connect Discovery 1.0 §4, for an issuer without a path.
AUTHORIZATION_SERVER_PATHS = (
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
)


@dataclass(frozen=True, slots=True)
class ProtectedResource:
    """The resource identifier of an API and what its metadata says about it.

    Args:
        resource: The RFC 9728 resource identifier: an `https` URL without query or
            fragment (`http` only to a loopback address), such as `https://host/mcp`.
        scopes: The scopes to publish in `scopes_supported`, short or full form.
        app_id_uri: The Application ID URI that prefixes full-form scopes. Default: the
            `resource` itself, the one value Entra accepts as the `resource` parameter.
        name: `resource_name`, for people.
        documentation: `resource_documentation`, a URL for people.
        authorization_servers: Override the `authorization_servers` entries. Default:
            the tenant's Entra v2 issuer URL, or this origin with `mirror_authorization_server`.
        mirror_authorization_server: Serve authorization-server metadata on the
            resource's origin, with `code_challenge_methods_supported` (see the module).

    Raises:
        ValueError: `resource` is not such a URL, or a scope is not a string.
    """

    resource: str
    scopes: tuple[str, ...] = ()
    app_id_uri: str | None = None
    name: str | None = None
    documentation: str | None = None
    authorization_servers: tuple[str, ...] = ()
    mirror_authorization_server: bool = False

    def __post_init__(self) -> None:
        _check_identifier("resource", self.resource)
        if self.app_id_uri is not None and not isinstance(self.app_id_uri, str):
            raise TypeError(f"app_id_uri must be a string, not {self.app_id_uri!r}")
        scopes: object = self.scopes  # what a caller passed, whatever the annotation says
        if isinstance(scopes, str) or not all(isinstance(s, str) and s for s in self.scopes):
            raise ValueError("scopes must be a collection of non-empty strings")
        servers: object = self.authorization_servers
        if isinstance(servers, str):
            raise ValueError("authorization_servers must be a collection of URLs, not a string")
        for server in self.authorization_servers:
            _check_identifier("authorization_servers entry", server)
        object.__setattr__(self, "scopes", tuple(self.scopes))
        object.__setattr__(self, "authorization_servers", tuple(self.authorization_servers))

    @classmethod
    def of(cls, resource: object) -> ProtectedResource | None:
        """The `resource=` setting: `None`, a URL or a `ProtectedResource`.

        Raises:
            TypeError: anything else.
        """
        if resource is None or isinstance(resource, ProtectedResource):
            return resource
        if not isinstance(resource, str):
            raise TypeError(f"resource must be a URL or a ProtectedResource, not {resource!r}")
        return cls(resource)

    def admit_as_audience(self, options: ValidatorOptions) -> None:
        """Accept tokens whose `aud` is the App ID URI (v1 tokens), unless `audiences` is set."""
        client_id = options.get("client_id")
        if options.get("audiences") is None and isinstance(client_id, str):
            options["audiences"] = (client_id, f"api://{client_id}", self.scope_forms.value)

    def documents(self, entra_authority: str, entra_tenant: str) -> ResourceDocuments:
        """The documents to serve for it, with the scopes it names."""
        return ResourceDocuments.build(
            self, scopes=self.scopes, entra_authority=entra_authority, entra_tenant=entra_tenant
        )

    def metadata_for(self, path: str) -> str | None:
        """The `resource_metadata` of a challenge for a request for `path`, if it is under it."""
        return self.metadata_url if self.covers(path) else None

    @property
    def origin(self) -> str:
        """`scheme://host[:port]` of the resource."""
        parts = urlsplit(self.resource)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:
        """The resource's path, `""` for an origin."""
        path = urlsplit(self.resource).path
        return "" if path == "/" else path

    @property
    def scope_forms(self) -> AppIdUri:
        """The App ID URI its full-form scopes start with."""
        return AppIdUri(self.app_id_uri or self.resource)

    @property
    def metadata_url(self) -> str:
        """Where its metadata is (RFC 9728 §3.1): the well-known path inserted before its path."""
        return f"{self.origin}{METADATA_PATH}{self.path}"

    def covers(self, path: str) -> bool:
        """Whether a request for `path` (on this origin) is for this resource, by segments."""
        prefix = self.path.rstrip("/")
        return not prefix or path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True, slots=True)
class ResourceDocuments:
    """The documents one middleware serves, by path, built once from its settings."""

    documents: Mapping[str, bytes]

    @classmethod
    def build(
        cls,
        resource: ProtectedResource,
        *,
        scopes: Iterable[str],
        entra_authority: str,
        entra_tenant: str,
    ) -> ResourceDocuments:
        """The metadata (both well-known forms) and, if asked for, the mirror.

        Args:
            resource: The settings.
            scopes: Every scope to publish (those of `resource` and of declared requirements).
            entra_authority: The cloud's sign-in origin.
            entra_tenant: The configured tenant (a GUID, domain or keyword).
        """
        entra = f"{entra_authority}/{entra_tenant}"
        servers = list(resource.authorization_servers) or (
            [resource.origin] if resource.mirror_authorization_server else [f"{entra}/v2.0"]
        )
        published = list(dict.fromkeys(resource.scope_forms.full(s) for s in scopes))
        documents: dict[str, bytes] = {}
        # The root form names the origin, the identifier its URL is built from (§3.3).
        for identifier, path in ((resource.origin, ""), (resource.resource, resource.path)):
            document: dict[str, object] = {
                "resource": identifier,
                "authorization_servers": servers,
                "scopes_supported": published,
                "bearer_methods_supported": ["header"],
            }
            if resource.name is not None:
                document["resource_name"] = resource.name
            if resource.documentation is not None:
                document["resource_documentation"] = resource.documentation
            documents[METADATA_PATH + path] = _json(document)
        if resource.mirror_authorization_server:
            mirror = _mirror(resource.origin, entra, published)
            documents.update((path, mirror) for path in AUTHORIZATION_SERVER_PATHS)
        return cls(documents)

    def get(self, path: str) -> bytes | None:
        """The document served at `path`, if any."""
        return self.documents.get(path)


def _mirror(issuer: str, entra: str, scopes: list[str]) -> bytes:
    """Authorization-server metadata naming `issuer` and the tenant's Entra v2 endpoints.

    Only what Entra does is said: no registration endpoint (Entra has none), PKCE with S256
    (Entra supports it, its metadata just does not say so), the grants a user's client needs.
    """
    return _json(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{entra}/oauth2/v2.0/authorize",
            "token_endpoint": f"{entra}/oauth2/v2.0/token",
            "jwks_uri": f"{entra}/discovery/v2.0/keys",
            "scopes_supported": [*scopes, "openid", "profile", "offline_access"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_post",
                "client_secret_basic",
                "private_key_jwt",
            ],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
    )


def _check_identifier(name: str, value: object) -> None:
    """An `https` URL without query or fragment; plain `http` to loopback only."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a URL string, not {value!r}")
    parts = urlsplit(value)
    if parts.query or parts.fragment or "#" in value or "?" in value or not parts.netloc:
        raise ValueError(
            f"{name} {value!r} must be an absolute https URL without query or fragment "
            "(RFC 9728, section 1.2)"
        )
    try:
        Origin.of(f"{parts.scheme}://{parts.netloc}")
    except ValueError as exc:
        raise ValueError(f"{name} {value!r}: {exc}") from None


def _json(document: Mapping[str, object]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


async def serve_document(
    documents: ResourceDocuments, scope: Scope, receive: Receive, send: Send
) -> bool:
    """Answer a `GET` or `HEAD` for one of `documents`, unauthenticated; `False` if not one.

    Any origin may read them (browser-based clients discover with `fetch`).
    """
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return False
    body = documents.get(scope["path"])
    if body is None:
        return False
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=3600"}
    await Response(body, 200, headers, "application/json")(scope, receive, send)
    return True
