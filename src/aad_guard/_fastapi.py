"""FastAPI dependencies: scope and role requirements, the caller, and the OpenAPI scheme."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from fastapi import Request, Security
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlows
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase

from ._announce import announced
from ._principal import Principal
from .errors import InsufficientScopeError, MissingTokenError

__all__ = [
    "current_principal",
    "require_roles",
    "require_scope_or_role",
    "require_scopes",
    "swagger_ui_init_oauth",
]

SCHEME_NAME = "EntraID"
_declared_scopes: set[str] = set()


def short_scope(scope: str) -> str:
    """`api://<app>/Mail.Read` as the token's `scp` carries it: `Mail.Read`."""
    return scope.rsplit("/", 1)[-1] if "://" in scope else scope


def _full_scope(scope: str, app_id_uri: str) -> str:
    return scope if "://" in scope else f"{app_id_uri}/{scope}"


class EntraAuthorizationCode(SecurityBase):
    """The OAuth2 authorization code flow (with PKCE) of the announced tenant, for Swagger UI.

    It authenticates nothing itself: the middleware already did. It only describes, in the
    OpenAPI document, how to get a token, so Swagger UI's Authorize button works.
    """

    def __init__(self) -> None:
        self.scheme_name = SCHEME_NAME

    @property
    def model(self) -> OAuth2Model:  # type: ignore[override]  # read when the document is built
        app = announced()
        authority = app.authority if app else "https://login.microsoftonline.com"
        tenant = app.tenant if app else "organizations"
        app_id_uri = app.app_id_uri if app else "api://<client-id>"
        scopes = {_full_scope(scope, app_id_uri): scope for scope in sorted(_declared_scopes)}
        flow = OAuthFlowAuthorizationCode(
            authorizationUrl=f"{authority}/{tenant}/oauth2/v2.0/authorize",
            tokenUrl=f"{authority}/{tenant}/oauth2/v2.0/token",
            scopes=scopes,
        )
        return OAuth2Model(
            flows=OAuthFlows(authorizationCode=flow), description="Microsoft Entra ID"
        )

    # No parameters, on purpose. FastAPI before 0.123.7 resolves string annotations (this
    # module's `from __future__ import annotations`) in `call.__globals__`, and an instance
    # has none: a `request: Request` here stayed unresolved, became a required query
    # parameter, and every protected route answered 422.
    async def __call__(self) -> None:
        return None


entra_scheme = EntraAuthorizationCode()


def _principal(request: Request) -> Principal:
    user = request.scope.get("user")
    if isinstance(user, Principal):
        return user
    raise MissingTokenError("This route needs an access token; the request is anonymous.")


def _require(scopes: Iterable[str], roles: Iterable[str]) -> Callable[..., Awaitable[Principal]]:
    wanted_scopes = tuple(short_scope(scope) for scope in scopes)
    wanted_roles = tuple(roles)
    if not wanted_scopes and not wanted_roles:
        raise ValueError("name at least one scope or role")
    if any(not isinstance(name, str) or not name for name in (*wanted_scopes, *wanted_roles)):
        raise ValueError("scopes and roles must be non-empty strings")
    _declared_scopes.update(wanted_scopes)
    announced_scopes = list(scopes)

    # A default value, not `Annotated`: string annotations cannot see this closure.
    async def dependency(
        request: Request,
        _: None = Security(entra_scheme, scopes=announced_scopes),
    ) -> Principal:
        principal = _principal(request)
        # Any of: one granted scope or role is enough (docs/design.md, rule 22); case-sensitive.
        if principal.scopes.intersection(wanted_scopes) or principal.roles.intersection(
            wanted_roles
        ):
            return principal
        raise InsufficientScopeError(
            "The token grants none of the scopes or roles this route accepts.",
            scopes=wanted_scopes,
            roles=wanted_roles,
        )

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


async def current_principal(request: Request, security_scopes: SecurityScopes) -> Principal | None:
    """The caller's `Principal`, or `None` when anonymous.

    Used as `Security(current_principal, scopes=[...])`, it requires any one of those scopes
    (or app roles of the same names) and never returns `None`.
    """
    if not security_scopes.scopes:
        user = request.scope.get("user")
        return user if isinstance(user, Principal) else None
    wanted = tuple(short_scope(scope) for scope in security_scopes.scopes)
    principal = _principal(request)
    if principal.scopes.intersection(wanted) or principal.roles.intersection(wanted):
        return principal
    raise InsufficientScopeError(scopes=wanted)


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
