"""AADGuardMiddleware: pure ASGI; validates the bearer token and answers as RFC 6750 says."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Unpack, overload

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._announce import EntraApp, announce
from ._authorization import authorization_header, bearer_token
from ._callables import check_signature
from ._challenge import check_realm, error_body, error_headers, refuse_websocket
from ._exclusions import Exclusions
from ._principal import Principal
from ._resource import ProtectedResource, serve_document
from ._routing import ValidatorRouter
from ._telemetry import SCOPE_KEY
from ._validator import TokenValidator, ValidatorOptions
from ._warm_up import check_warm_up, warming
from .errors import (
    AADGuardError,
    MalformedAuthorizationError,
    TokenError,
)

__all__ = ["AADGuardMiddleware"]

logger = logging.getLogger("aad_guard")

_MISCONFIGURED_BODY = (
    b'{"error":"misconfigured","error_description":'
    b'"The API\'s authentication is not configured correctly; its log says why."}'
)

ErrorHandler = Callable[[HTTPConnection, AADGuardError], Response | Awaitable[Response]]
"""`on_error(connection, error) -> Response`, sync or async: your own answer to a refusal."""


class AADGuardMiddleware:
    """Protect every route of an ASGI app with Entra ID bearer tokens.

    For HTTP and WebSocket connections it reads `Authorization: Bearer <token>`, validates it,
    and sets `scope["user"]` (the `Principal`, or an unauthenticated user) and
    `scope["auth"]` (Starlette `AuthCredentials` holding the token's scopes and roles), so
    `request.user` and Starlette's `@requires(...)` work. Refusals are answered here, in one
    place: 400, 401 with a `WWW-Authenticate` challenge, or 503 with `Retry-After`.

    Args:
        app: The ASGI app to protect.
        validator: The `TokenValidator` to use. Or pass its keyword arguments instead, and
            the middleware builds one and closes it at lifespan shutdown.
        validators: Several `TokenValidator`s, for several authorities or app registrations
            in one app (a workforce tenant and an External ID tenant, say). Each token goes
            to the one whose metadata names its unverified `iss`; a token naming none is
            refused (`invalid_issuer`) without any key lookup. `Principal.accepted_by` says
            which accepted it. The caller closes them.
        exclude_paths: Paths served without any check, with everything below them, by
            whole segments: `"/health"` covers `/health` and `/health/live`, not `/healthz`.
            Paths are those the routes beside the middleware see (without a `Mount` prefix
            or the server's `root_path`). `"/"` (or `""`, `"//"`) is refused: it would
            unprotect the whole app.
        required: `False` lets requests without a token through as anonymous; a token that
            is present but invalid is still refused. Routes then decide. Default `True`.
        realm: The `realm` of the challenges, if any.
        on_error: `(connection, error) -> Response`, sync or async, to answer refusals
            yourself (HTTP only).
        warm_up: Seconds to spend fetching metadata and keys at lifespan startup, after
            the app's own startup, so that the first request finds them. Default `None`:
            no warm-up, the first request fetches.
        require_keys_at_startup: With `warm_up`, fail the server's startup when no keys
            could be had in that time. Default `False`: start anyway, log a warning, and
            let requests fetch (a readiness probe on `validator.status()` tells).
        resource: The API's RFC 9728 resource identifier (`https://host/mcp`) or a
            `ProtectedResource`: its metadata is served without a token, and challenges under
            it carry `resource_metadata=` and full-form scopes (docs/mcp.md).

    A bad setting (its own or the validator's) does not raise here, because Starlette and
    FastAPI build middleware only at the app's first ASGI call, where servers swallow errors.
    Instead the guard serves nothing: it fails the server's lifespan startup with the
    setting's message (so `uvicorn` exits), and where no lifespan runs it answers every
    request with 503 and logs the message as an error. To have the validator's settings raise
    at import time, build the `TokenValidator` yourself and pass it as `validator=`; the
    middleware's own (`exclude_paths`, `realm`, `on_error`) are still checked here.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        validator: TokenValidator | None = None,
        validators: Sequence[TokenValidator] | None = None,
        exclude_paths: Iterable[str] = (),
        required: bool = True,
        realm: str | None = None,
        on_error: ErrorHandler | None = None,
        warm_up: float | None = None,
        require_keys_at_startup: bool = False,
        resource: str | ProtectedResource | None = None,
        **validator_options: Unpack[ValidatorOptions],
    ) -> None:
        self.app = app
        self._owns_validator = validator is None and validators is None
        self._required = required
        self._realm = realm
        self._on_error = on_error
        self._warm_up = warm_up
        self._require_keys = bool(require_keys_at_startup)
        # Starlette builds its middleware at the first ASGI call, where uvicorn's default
        # `--lifespan auto` swallows an exception and then answers 500 to every request; so
        # a bad setting is kept and answered at startup instead (see _refuse_to_start).
        self._configuration_error: TypeError | ValueError | None = None
        try:
            if (validator is not None) + (validators is not None) + bool(validator_options) > 1:
                raise TypeError(
                    "pass either validator= or the validator's keyword arguments, or validators="
                    " alone"
                )
            if validator is not None and not isinstance(validator, TokenValidator):
                raise TypeError(f"validator must be a TokenValidator, not {validator!r}")
            check_realm(realm)
            check_warm_up(warm_up, require_keys_at_startup)
            self._excluded = Exclusions(exclude_paths)
            if on_error is not None:
                check_signature(
                    "on_error",
                    on_error,
                    parameters=("connection", "error"),
                    returns="Response, sync or async",
                )
            self._resource = ProtectedResource.of(resource)
            if self._resource is not None and validator is None and validators is None:
                self._resource.admit_as_audience(validator_options)
            self._router = ValidatorRouter(
                [validator or TokenValidator(**validator_options)]
                if validators is None
                else validators
            )
            self.validator = self._router.validators[0]
        except (TypeError, ValueError) as error:
            self._configuration_error = error
            return
        self._documents = (
            None
            if self._resource is None
            else self._resource.documents(self.validator.authority, str(self.validator.tenant))
        )
        # The OpenAPI document of the app this protects describes these settings.
        # The resource's App ID URI is the first validator's, whose tenant its documents name.
        self._entra_apps = tuple(
            EntraApp(
                v.authority,
                str(v.tenant),
                v.client_id,
                metadata_url=v.metadata_url if v.settings.metadata_url is not None else None,
                name=v.settings.flavour.value,
                scope_prefix=None
                if self._resource is None or v is not self.validator
                else self._resource.scope_forms,
            )
            for v in self._router.validators
        )
        announce(app, *self._entra_apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._configuration_error is not None:
            await self._refuse_to_start(scope, receive, send, self._configuration_error)
            return
        if scope["type"] == "lifespan":
            startup = warming(
                send, self._router.validators, self._warm_up, require_keys=self._require_keys
            )
            await self.app(scope, self._closing_at_shutdown(receive), startup)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        announce(scope.get("app"), *self._entra_apps)  # the app that added this middleware
        if self._documents is not None and await serve_document(
            self._documents, scope, receive, send
        ):
            return
        scope[SCOPE_KEY] = self.validator.telemetry  # route requirements count with it
        if self._excluded and self._excluded.cover(scope):
            _set_anonymous(scope)
            await self._call_app(scope, receive, send)
            return
        try:
            header = self._recorded_bearer_header(scope)
            principal: Principal | None = None
            if header is not None:
                try:
                    principal = await self._router.validate(
                        header[7:].strip(b" ").decode("latin-1")
                    )
                except TokenError:
                    # Every token the validator accepts is a b64token, so the syntax check
                    # of RFC 6750 §2.1 runs only to tell a malformed header from a bad token.
                    if bearer_token(header) is None:
                        raise MalformedAuthorizationError from None
                    raise
        except AADGuardError as error:
            self._log(scope, error)
            await self._refuse(scope, receive, send, error)
            return
        if principal is None:
            _set_anonymous(scope)
        else:
            scope["user"] = principal
            scope["auth"] = AuthCredentials(sorted(principal.scopes | principal.roles))
        await self._call_app(scope, receive, send)

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer an AADGuardError it raises (a route's requirement) here too.

        An app mounted inside the protected one answers an error of its routes itself, with
        a 500 page, and then raises it. So a 500 is held until the app returns: if it raised
        a refusal, the refusal is answered instead; otherwise the 500 passes on unchanged.
        """
        started = False
        held: list[Message] = []

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if held or (message["type"] == "http.response.start" and message["status"] == 500):
                held.append(message)
                return
            if message["type"] in ("http.response.start", "websocket.accept"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except AADGuardError as error:
            if started:
                raise
            self._log(scope, error)
            await self._refuse(scope, receive, send, error)
            return
        except Exception:
            for message in held:  # the app's own error page, then its error
                await send(message)
            raise
        for message in held:
            await send(message)

    def _recorded_bearer_header(self, scope: Scope) -> bytes | None:
        """`authorization_header`, counting the authentications it ends (the validator the rest)."""
        started = time.time_ns()
        try:
            header = authorization_header(scope, required=self._required)
        except AADGuardError as error:
            self.validator.telemetry.authenticated(started, error=error)
            raise
        if header is None:
            self.validator.telemetry.authenticated(started)
        return header

    def _log(self, scope: Scope, error: AADGuardError) -> None:
        # The reason code, tenant id and key id: never the token or other claim values. What
        # a client sent is escaped in the message and in the fields alike (CWE-117).
        method = _printable(scope.get("method", "WEBSOCKET"))
        path = _printable(scope["path"])
        tenant_id, kid = _printable(error.tenant_id), _printable(error.kid)
        logger.info(
            "aad_guard refused %s %s: %s (tenant=%s, kid=%s)",
            method,
            path,
            error.reason,
            tenant_id,
            kid,
            extra={
                "aad_guard_reason": error.reason,
                "aad_guard_tenant_id": tenant_id,
                "aad_guard_kid": kid,
                "aad_guard_status": error.status_code,
            },
        )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, error: AADGuardError
    ) -> None:
        validator, resource = self.validator, self._resource
        tenant = "common" if validator.tenant.is_keyword else str(validator.tenant)
        headers = error_headers(
            error,
            realm=self._realm,
            authorization_uri=f"{validator.authority}/{tenant}/oauth2/authorize",
            client_id=validator.client_id,
            resource_metadata=None if resource is None else resource.metadata_for(scope["path"]),
            scope_forms=None if resource is None else resource.scope_forms,
        )
        body = error_body(error)
        if scope["type"] == "websocket":
            await refuse_websocket(scope, send, error.status_code, headers, body)
            return
        if self._on_error is not None:
            answer = self._on_error(HTTPConnection(scope, receive), error)
            response = await answer if inspect.isawaitable(answer) else answer
        else:
            response = Response(body, error.status_code, headers, "application/json")
        await response(scope, receive, send)

    async def _refuse_to_start(
        self, scope: Scope, receive: Receive, send: Send, error: TypeError | ValueError
    ) -> None:
        """Serve nothing: fail the server's startup, or answer 503 where it sent no lifespan."""
        message = f"aad_guard is misconfigured: {error}"
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup, always the first message (ASGI lifespan spec)
            await send({"type": "lifespan.startup.failed", "message": message})
            # As Starlette's router does; a server then exits (uvicorn with code 3).
            raise error
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # 503, not 500: the code did not fail, this deployment is not ready. Health checks
        # see it too (excluded paths are not served), and no client is told its token is bad.
        logger.error(
            "%s; answered %s %s with 503",
            message,
            _printable(scope.get("method", "WEBSOCKET")),
            _printable(scope["path"]),
            extra={"aad_guard_reason": "misconfigured", "aad_guard_status": 503},
        )
        if scope["type"] == "websocket":
            # RFC 6455 §7.4.1: 1011, the server met a condition that kept it from serving.
            await refuse_websocket(
                scope,
                send,
                503,
                {},
                _MISCONFIGURED_BODY,
                close_code=1011,
                close_reason="unavailable",
            )
            return
        response = Response(_MISCONFIGURED_BODY, 503, media_type="application/json")
        await response(scope, receive, send)

    def _closing_at_shutdown(self, receive: Receive) -> Receive:
        async def receive_and_close() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self._owns_validator:
                await self.validator.aclose()
            return message

        return receive_and_close


@overload
def _printable(value: str) -> str: ...
@overload
def _printable(value: str | None) -> str | None: ...
def _printable(value: str | None) -> str | None:
    """`value` as printable ASCII, so that no client can forge log lines (CWE-117).

    Control characters and terminal escapes cannot start a line or repaint a terminal, and a
    lone surrogate or other non-ASCII text cannot make a handler's encoding fail.
    """
    if value is None or (value.isascii() and value.isprintable()):
        return value
    return value.encode("unicode_escape").decode("ascii")


def _set_anonymous(scope: Scope) -> None:
    scope.setdefault("user", UnauthenticatedUser())
    scope.setdefault("auth", AuthCredentials())
