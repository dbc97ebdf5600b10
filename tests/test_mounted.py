"""A requirement on a route of a mounted app is answered as on the protected app's own routes.

A mounted FastAPI or Starlette app answers its routes' errors itself, with a 500 page, and
then raises them; the middleware in front of the outer app answers the refusal instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from aad_guard import AADGuardMiddleware, Principal, require_scopes, requires
from aad_guard.testing import LocalIssuer
from tests.helpers import bearer

pytestmark = pytest.mark.anyio


def fastapi_outer(issuer: LocalIssuer) -> ASGIApp:
    inner = FastAPI()

    @inner.get("/tasks")
    async def tasks(user: Annotated[Principal, Depends(require_scopes("Tasks.Read"))]) -> str:
        return user.tenant_id or ""

    @inner.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug in the route")

    outer = FastAPI()
    outer.mount("/v1", inner)
    outer.add_middleware(
        AADGuardMiddleware, client_id=issuer.client_id, http_client=issuer.client(), required=False
    )
    return outer


def starlette_outer(issuer: LocalIssuer) -> ASGIApp:
    @requires("Tasks.Read")
    async def tasks(request: Request) -> JSONResponse:
        return JSONResponse(request.user.tenant_id)

    async def boom(request: Request) -> JSONResponse:
        raise RuntimeError("a bug in the route")

    inner = Starlette(routes=[Route("/tasks", tasks), Route("/boom", boom)])
    outer = Starlette(routes=[Mount("/v1", app=inner)])
    return AADGuardMiddleware(
        outer, client_id=issuer.client_id, http_client=issuer.client(), required=False
    )


@pytest.fixture
def issuer() -> LocalIssuer:
    """On the real clock, as the middleware's validator is."""
    return LocalIssuer()


@pytest.fixture(params=[fastapi_outer, starlette_outer], ids=["fastapi", "starlette"])
async def client(
    request: pytest.FixtureRequest, issuer: LocalIssuer
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=request.param(issuer), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


async def test_an_anonymous_caller_of_a_mounted_route_gets_the_bare_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/tasks")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "missing_token"


async def test_a_caller_without_the_scope_gets_403_insufficient_scope(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/v1/tasks", headers=bearer(issuer.token(scopes=["Other"])))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="Tasks.Read"' in response.headers["WWW-Authenticate"]
    assert response.json()["error"] == "insufficient_scope"


async def test_an_allowed_caller_reaches_the_mounted_route(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    response = await client.get("/v1/tasks", headers=bearer(issuer.token(scopes=["Tasks.Read"])))
    assert response.status_code == 200
    assert response.json() == issuer.tenant_id


async def test_a_bug_in_a_mounted_route_is_still_its_apps_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/boom")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
