"""The MCP Python SDK's side: its `TokenVerifier`, and its server behind aad_guard.

Imported only through `aad_guard.mcp`'s lazy names, so that nothing else imports `mcp`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context, MCPServer
from starlette.authentication import AuthCredentials
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from .._middleware import AADGuardMiddleware, ErrorHandler
from .._principal import Principal
from .._requirement import caller
from .._resource import ProtectedResource
from .._validator import TokenValidator, ValidatorOptions
from ..errors import AADGuardError
from ._gate import MCPRequirements

__all__ = ["EntraTokenVerifier", "EntraUser", "access_token", "principal", "protect"]


def access_token(principal: Principal, token: str, *, resource: str | None) -> AccessToken:
    """The SDK's `AccessToken` for a validated token: client, scopes and roles, expiry, claims."""
    return AccessToken(
        token=token,
        client_id=principal.client_id or "",
        scopes=sorted(principal.scopes | principal.roles),
        expires_at=int(principal.expires_at),
        resource=resource,
        subject=principal.subject,
        claims=dict(principal.claims),
    )


class EntraTokenVerifier:
    """The MCP SDK's `TokenVerifier`, validating Entra ID tokens with a `TokenValidator`.

    The SDK's protocol can only say "valid" or `None`: every refusal becomes its 401
    `invalid_token`, even a 503-worthy outage of Entra. `protect()` answers as aad_guard does.

    Args:
        validator: The validator; the caller closes it.
        resource: The server's resource URL, reported as each token's `resource` (the token's
            audience is this API: the validator checked it), for `validate_token_resource`.
    """

    def __init__(self, validator: TokenValidator, *, resource: str | None = None) -> None:
        self.validator = validator
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's `AccessToken`, or `None` when aad_guard refuses it for any reason."""
        try:
            validated = await self.validator.validate(token)
        except AADGuardError:  # a bad token, or KeysUnavailableError: the SDK cannot say 503
            return None
        return access_token(validated, token, resource=self.resource)


class EntraUser(AuthenticatedUser):
    """The SDK's authenticated user, carrying aad_guard's `Principal` too."""

    def __init__(self, auth_info: AccessToken, principal: Principal) -> None:
        super().__init__(auth_info)
        self.principal = principal


def principal(context: Context[Any] | HTTPConnection) -> Principal:
    """The caller of the running tool (its `Context`) or of a request.

    Raises:
        LookupError: the server is not behind `protect()` or the request is anonymous.
    """
    connection = context if isinstance(context, HTTPConnection) else context.request_context.request
    user = connection.scope.get("user") if isinstance(connection, HTTPConnection) else None
    if isinstance(user, EntraUser):
        return user.principal
    if isinstance(user, Principal):
        return user
    raise LookupError("no aad_guard Principal: serve the MCP server with aad_guard.mcp.protect()")


class _SDKIdentity:
    """Show the SDK its own authenticated user, with aad_guard's `Principal` inside.

    The SDK's session binding and `get_access_token()` then work, and `principal()` too.
    """

    def __init__(self, app: ASGIApp, resource: str) -> None:
        self.app = app
        self.resource = resource

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        who = caller(scope) if scope["type"] in ("http", "websocket") else None
        if who is None:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        token = header[7:].strip(b" ").decode("latin-1")
        user = EntraUser(access_token(who, token, resource=self.resource), who)
        scope = {**scope, "user": user, "auth": AuthCredentials(user.scopes)}
        context = auth_context_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(context)


def protect(
    server: MCPServer,
    *,
    resource: str | ProtectedResource,
    requirements: MCPRequirements | None = None,
    streamable_http_path: str = "/mcp",
    exclude_paths: Iterable[str] = (),
    realm: str | None = None,
    on_error: ErrorHandler | None = None,
    validator: TokenValidator | None = None,
    **validator_options: Unpack[ValidatorOptions],
) -> ASGIApp:
    """The SDK server's streamable HTTP app, behind aad_guard instead of the SDK's own auth.

    It answers 400, 401, 403 and 503 as `AADGuardMiddleware` does, with `resource_metadata=`
    in every challenge, serves the protected-resource metadata, checks `requirements` before
    a tool runs, and lets tools read the caller with `principal(ctx)`. Build the server
    without `auth=` or `token_verifier=`.

    Args:
        server: The `MCPServer`.
        resource: Its resource URL (`https://host/mcp`) or a `ProtectedResource`. Its
            `scopes_supported` are the resource's `scopes` when it names some (what a client
            asks for first; the others come by step-up on a 403), else every scope of
            `requirements`.
        requirements: What each tool, prompt and resource needs.
        streamable_http_path: Where the SDK serves MCP. Default `/mcp`.
        exclude_paths: As for `AADGuardMiddleware`.
        realm: As for `AADGuardMiddleware`.
        on_error: As for `AADGuardMiddleware`.
        validator: As for `AADGuardMiddleware`; or pass its keyword arguments.
        **validator_options: The `TokenValidator`'s keyword arguments.
    """
    described = resource if isinstance(resource, ProtectedResource) else ProtectedResource(resource)
    requirements = requirements or MCPRequirements()
    described = ProtectedResource(
        described.resource,
        described.scopes or requirements.scopes,
        described.app_id_uri,
        described.name,
        described.documentation,
        described.authorization_servers,
        described.mirror_authorization_server,
    )
    app = server.streamable_http_app(streamable_http_path=streamable_http_path)
    inner = requirements.guard(_SDKIdentity(app, described.resource))
    options: dict[str, Any] = dict(validator_options)
    if validator is not None:
        options["validator"] = validator
    return AADGuardMiddleware(
        inner,
        resource=described,
        exclude_paths=exclude_paths,
        realm=realm,
        on_error=on_error,
        **options,
    )
