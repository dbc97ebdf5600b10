"""Starlette endpoint decorators: `requires(...)` (scopes, roles) and `requires_auth_context`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar, cast

from starlette.requests import HTTPConnection
from starlette.types import Scope

from ._auth_context import AuthContext, AuthContextResolver
from ._principal import Principal
from ._requirement import Requirement

__all__ = [
    "AsyncRequirement",
    "admitting_async",
    "connection_of",
    "requires",
    "requires_auth_context",
]

Endpoint = TypeVar("Endpoint", bound=Callable[..., object])


def requires(*scopes: str, roles: Iterable[str] = ()) -> Callable[[Endpoint], Endpoint]:
    """Admit only callers with any one of `scopes` (delegated, `scp`) or `roles` (app roles).

    Decorates a Starlette endpoint taking the `Request` or `WebSocket`: a function, sync or
    async, or a method of an `HTTPEndpoint` or `WebSocketEndpoint` (`on_connect`). An
    anonymous caller gets 401 with a `Bearer` challenge, one lacking the scopes or roles 403
    `insufficient_scope` naming them, as from the FastAPI dependencies; a WebSocket is refused
    before `accept`. `AADGuardMiddleware` answers these refusals, so it must be in front.
    Full scope URIs (`api://<app>/Tasks.Read`) match by their last segment; any-of,
    case-sensitive.

    Raises:
        ValueError: no scope or role is named.
    """
    requirement = Requirement.of(scopes, roles)

    def decorate(endpoint: Endpoint) -> Endpoint:
        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def admit_then_await(*args: object, **kwargs: object) -> object:
                requirement.admit(connection_of(args, kwargs).scope)
                return await endpoint(*args, **kwargs)

            return cast("Endpoint", admit_then_await)

        @functools.wraps(endpoint)
        def admit_then_call(*args: object, **kwargs: object) -> object:
            requirement.admit(connection_of(args, kwargs).scope)
            return endpoint(*args, **kwargs)

        return cast("Endpoint", admit_then_call)

    return decorate


def requires_auth_context(
    context: str | AuthContextResolver, *, operation: str | None = None
) -> Callable[[Endpoint], Endpoint]:
    """Admit only callers whose token satisfies an authentication context (`acrs`).

    `context` is an id (`"c1"`) or a resolver `(tenant_id, operation) -> id | None`, sync or
    async. Decorates async Starlette endpoints taking the `Request` or `WebSocket` (the check
    may await the resolver). A caller without the context gets 401 `insufficient_claims` with a
    claims challenge when its app declared `cp1`, else 403 saying what is required; the
    middleware answers, so it must be in front.

    Raises:
        ValueError: the id is not `c1` to `c99`, or a resolver comes without `operation`.
        TypeError: the endpoint is not a coroutine function.
    """
    return admitting_async(AuthContext(context, operation), "requires_auth_context")


class AsyncRequirement(Protocol):
    """A requirement whose check may await (a resolver): `AuthContext`, `GroupRequirement`."""

    async def admit(self, scope: Scope) -> Principal:
        """The caller's `Principal` if the requirement admits it; raises otherwise."""
        ...


def admitting_async(requirement: AsyncRequirement, name: str) -> Callable[[Endpoint], Endpoint]:
    """A decorator `name` of async endpoints that awaits `requirement` before each call.

    Raises:
        TypeError: (from the decorator) the endpoint is not a coroutine function.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{name} decorates async endpoints")

        @functools.wraps(endpoint)
        async def admit_then_await(*args: object, **kwargs: object) -> object:
            await requirement.admit(connection_of(args, kwargs).scope)
            return await endpoint(*args, **kwargs)

        return cast("Endpoint", admit_then_await)

    return decorate


def connection_of(args: tuple[object, ...], kwargs: Mapping[str, object]) -> HTTPConnection:
    """The endpoint's `Request` or `WebSocket`, wherever it is among the arguments."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("aad_guard.requires decorates endpoints that take a Request or WebSocket")
