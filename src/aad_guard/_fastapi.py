"""FastAPI dependencies: scope and role requirements, the caller, and the OpenAPI scheme."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from fastapi import Security
from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlows
from fastapi.requests import HTTPConnection
from fastapi.security import OAuth2, SecurityScopes

from ._announce import ROUTE_SCOPES_ATTRIBUTE, SCHEME_DESCRIPTION, SCHEME_NAME
from ._auth_context import AuthContext, AuthContextResolver
from ._groups import GroupRequirement, GroupResolver
from ._principal import Principal
from ._requirement import Requirement, caller, names

__all__ = [
    "current_principal",
    "require_auth_context",
    "require_groups",
    "require_roles",
    "require_scope_or_role",
    "require_scopes",
    "swagger_ui_init_oauth",
]

# The dependencies take an `HTTPConnection`, which FastAPI passes to HTTP and WebSocket routes
# alike (a `Request` parameter fails on WebSocket routes); annotations name module globals only.


class EntraAuthorizationCode(OAuth2):
    """The OAuth2 authorization code flow (with PKCE) of Entra ID, for Swagger UI.

    It authenticates nothing itself: the middleware already did. It only declares, in the
    OpenAPI document, how to get a token, so Swagger UI's Authorize button works. The
    middleware completes the declaration with its tenant and the routes' scopes when the
    app builds its document (`_announce.describe`); these are the values without one.
    An `OAuth2`, as FastAPI lists a route's scopes only for its OAuth2 schemes (0.115).
    """

    def __init__(self) -> None:
        endpoint = "https://login.microsoftonline.com/organizations/oauth2/v2.0"
        flow = OAuthFlowAuthorizationCode(
            authorizationUrl=f"{endpoint}/authorize", tokenUrl=f"{endpoint}/token", scopes={}
        )
        super().__init__(
            flows=OAuthFlows(authorizationCode=flow),
            scheme_name=SCHEME_NAME,
            description=SCHEME_DESCRIPTION,
        )

    # No parameters, on purpose. FastAPI before 0.123.7 resolves string annotations (this
    # module's `from __future__ import annotations`) in `call.__globals__`, and an instance
    # has none: a `request: Request` here stayed unresolved, became a required query
    # parameter, and every protected route answered 422. WebSocket routes get no `Request`.
    async def __call__(self) -> None:  # type: ignore[override]
        return None


entra_scheme = EntraAuthorizationCode()


def _require(scopes: Iterable[str], roles: Iterable[str]) -> Callable[..., Awaitable[Principal]]:
    scopes = names(scopes)
    requirement = Requirement.of(scopes, roles)

    # One flat dependency: FastAPI resolves each nested one (a `Security` of the scheme) on
    # every request, about 8 µs a level. The OpenAPI document gets the scheme and the
    # route's scopes from this attribute instead (`_announce.describe`).
    async def dependency(connection: HTTPConnection) -> Principal:
        return requirement.admit(connection.scope)

    setattr(dependency, ROUTE_SCOPES_ATTRIBUTE, scopes)
    return dependency


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits tokens with any one of `scopes` (delegated, `scp`).

    Full scope URIs (`api://<app>/Tasks.Read`) are matched by their last segment, as `scp`
    carries them. Returns the `Principal`.

    Raises:
        ValueError: no scope is named.
    """
    return _require(scopes, ())


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits tokens with any one of `roles` (app roles, `roles`)."""
    return _require((), roles)


def require_scope_or_role(
    *, scopes: Iterable[str] = (), roles: Iterable[str] = ()
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits tokens with any one of `scopes` or any one of `roles`."""
    return _require(scopes, roles)


def require_auth_context(
    context: str | AuthContextResolver, *, operation: str | None = None
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits tokens satisfying an authentication context (`acrs`).

    `context` is an id (`"c1"`) or a resolver `(tenant_id, operation) -> id | None`, sync or
    async. A caller without it gets 401 `insufficient_claims` with a claims challenge when its
    app declared `cp1`, else 403 saying what is required. Returns the `Principal`.

    Raises:
        ValueError: the id is not `c1` to `c99`, or a resolver comes without `operation`.
    """
    requirement = AuthContext(context, operation)

    async def dependency(connection: HTTPConnection, _: None = Security(entra_scheme)) -> Principal:
        return await requirement.admit(connection.scope)

    return dependency


def require_groups(
    *groups: str, resolver: GroupResolver | None = None
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers in any one of `groups` (group object ids).

    A token in groups overage (too many groups to carry) is refused with 403
    `groups_overage` unless `resolver`, an `async (principal) -> group ids`, looks the
    groups up (e.g. in Microsoft Graph). Returns the `Principal`.

    Raises:
        ValueError: no group is named.
    """
    requirement = GroupRequirement.of(groups, resolver)

    async def dependency(connection: HTTPConnection, _: None = Security(entra_scheme)) -> Principal:
        return await requirement.admit(connection.scope)

    return dependency


async def current_principal(
    connection: HTTPConnection,
    security_scopes: SecurityScopes,
    _: None = Security(entra_scheme),  # the route's security in the OpenAPI document
) -> Principal | None:
    """The caller's `Principal`, or `None` when anonymous.

    Used as `Security(current_principal, scopes=[...])`, it requires any one of those scopes
    (or app roles of the same names) and never returns `None`.
    """
    if not security_scopes.scopes:
        return caller(connection.scope)
    wanted = security_scopes.scopes
    return Requirement.of(wanted, wanted).admit(connection.scope)


def swagger_ui_init_oauth(*, client_id: str, scopes: Iterable[str] = ()) -> dict[str, object]:
    """Settings for `FastAPI(swagger_ui_init_oauth=...)`: PKCE, a client and default scopes.

    Args:
        client_id: The client id of the app registration Swagger UI signs in with (a
            single-page-application registration, usually not the API's own).
        scopes: Full scope names to select by default, e.g. `api://<api>/Tasks.Read`.
    """
    return {
        "clientId": client_id,
        "usePkceWithAuthorizationCodeGrant": True,
        "scopes": " ".join(scopes),
    }
