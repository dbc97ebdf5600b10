"""The API every benchmark serves: one FastAPI route, bare or behind AADGuardMiddleware.

Also the ASGI plumbing to call an app in-process, and the uvicorn factories `unprotected`
and `protected` (configured from environment variables) for the real-server benchmark.
"""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message, Scope

from aad_guard import AADGuardMiddleware, SharedKeyCache, TokenValidator, require_scopes

__all__ = [
    "AUTHORITY_VARIABLE",
    "CLIENT_ID_VARIABLE",
    "PATH",
    "READY_PATH",
    "REDIS_VARIABLE",
    "REFRESH_VARIABLE",
    "SCOPE",
    "TENANT_VARIABLE",
    "call",
    "documented",
    "documented_app",
    "fleet",
    "protected",
    "protected_app",
    "route_app",
    "unprotected",
]

PATH = "/items"
# The scope the documented route requires; the local issuer's tokens carry it by default.
SCOPE = "access_as_user"
AUTHORITY_VARIABLE = "AAD_GUARD_BENCH_AUTHORITY"
CLIENT_ID_VARIABLE = "AAD_GUARD_BENCH_CLIENT_ID"
TENANT_VARIABLE = "AAD_GUARD_BENCH_TENANT_ID"
REDIS_VARIABLE = "AAD_GUARD_BENCH_REDIS_URL"
REFRESH_VARIABLE = "AAD_GUARD_BENCH_REFRESH_INTERVAL"
READY_PATH = "/ready"


def route_app() -> FastAPI:
    """The unprotected API: one JSON route, as small as a real one gets."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(PATH)
    async def items() -> dict[str, int]:
        return {"items": 3}

    return app


def protected_app(validator: TokenValidator) -> FastAPI:
    """The same API behind `AADGuardMiddleware` with `validator`."""
    app = route_app()
    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app


def documented_app(validator: TokenValidator) -> FastAPI:
    """The API as README documents it: the middleware, and `require_scopes` on the route."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(PATH, dependencies=[Depends(require_scopes(SCOPE))])
    async def items() -> dict[str, int]:
        return {"items": 3}

    app.add_middleware(AADGuardMiddleware, validator=validator)
    return app


def unprotected() -> FastAPI:
    """Uvicorn factory: the bare API."""
    return route_app()


def protected() -> FastAPI:
    """Uvicorn factory: the API protected against the local issuer the benchmark serves."""
    app = route_app()
    app.add_middleware(
        AADGuardMiddleware,
        client_id=os.environ[CLIENT_ID_VARIABLE],
        tenant="organizations",
        authority=os.environ[AUTHORITY_VARIABLE],
    )
    return app


def documented() -> FastAPI:
    """Uvicorn factory: the documented API against the local issuer the benchmark serves."""
    return documented_app(
        TokenValidator(
            client_id=os.environ[CLIENT_ID_VARIABLE],
            tenant="organizations",
            authority=os.environ[AUTHORITY_VARIABLE],
        )
    )


def fleet() -> FastAPI:
    """The uvicorn factory of the fleet benchmark: routes that name the worker process.

    `PATH` is protected, `READY_PATH` is not (it tells which workers are up without fetching
    keys). With `REDIS_VARIABLE` set, the workers share metadata and keys through Redis.
    """
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(PATH)
    @app.get(READY_PATH)
    async def worker() -> dict[str, int]:
        return {"pid": os.getpid()}

    redis_url = os.environ.get(REDIS_VARIABLE)
    shared = None
    if redis_url:
        from redis.asyncio import Redis  # noqa: PLC0415 (redis is an optional extra)

        shared = SharedKeyCache(Redis.from_url(redis_url), prefix="aad_guard_bench:")
    app.add_middleware(
        AADGuardMiddleware,
        client_id=os.environ[CLIENT_ID_VARIABLE],
        tenant="organizations",
        authority=os.environ[AUTHORITY_VARIABLE],
        refresh_interval=float(os.environ[REFRESH_VARIABLE]),
        exclude_paths=[READY_PATH],
        shared_key_cache=shared,
    )
    return app


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def call(app: ASGIApp, authorization: bytes | None) -> int:
    """One GET of `PATH` through `app` as an ASGI callable; returns the status code."""
    headers = [(b"host", b"api.test"), (b"accept", b"*/*")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, _receive, send)
    return status
