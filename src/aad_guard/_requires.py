"""`requires(...)`: a Starlette endpoint's scope or role requirement, refused as RFC 6750 says."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar, cast

from starlette.requests import HTTPConnection

from ._requirement import Requirement

__all__ = ["connection_of", "requires"]

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


def connection_of(args: tuple[object, ...], kwargs: Mapping[str, object]) -> HTTPConnection:
    """The endpoint's `Request` or `WebSocket`, wherever it is among the arguments."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("aad_guard.requires decorates endpoints that take a Request or WebSocket")
