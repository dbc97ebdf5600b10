"""WebSocket (and HTTP) routes behind each aad_guard requirement, in FastAPI and in Starlette.

The tests use these in-process, and uvicorn serves them in a subprocess:
`uvicorn --factory tests.socket_apps:from_environment`.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security, WebSocket
from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket

import aad_guard
from aad_guard import (
    AADGuardMiddleware,
    Principal,
    current_principal,
    require_roles,
    require_scope_or_role,
    require_scopes,
)
from aad_guard.testing import LocalIssuer

SCOPES = require_scopes("Tasks.Read")
ROLES = require_roles("Tasks.All")
EITHER = require_scope_or_role(scopes=["Tasks.Read"], roles=["Tasks.All"])


async def greet(websocket: WebSocket | StarletteWebSocket, user: Principal | None) -> None:
    """Accept and say who the caller is (`null` when anonymous)."""
    await websocket.accept()
    await websocket.send_json({"tenant": None if user is None else user.tenant_id})


async def greet_until_closed(
    websocket: WebSocket | StarletteWebSocket, user: Principal | None
) -> None:
    """`greet`, then let the client close (websockets 14's client was seen to drop a message
    that the server's close followed at once).
    """
    await greet(websocket, user)
    await websocket.receive()


def fastapi_sockets() -> FastAPI:
    """A FastAPI app with one WebSocket route per dependency (and one HTTP route)."""
    app = FastAPI()

    @app.websocket("/ws/scopes")
    async def scopes(websocket: WebSocket, user: Annotated[Principal, Depends(SCOPES)]) -> None:
        await greet_until_closed(websocket, user)

    @app.websocket("/ws/roles")
    async def roles(websocket: WebSocket, user: Annotated[Principal, Depends(ROLES)]) -> None:
        await greet_until_closed(websocket, user)

    @app.websocket("/ws/either")
    async def either(websocket: WebSocket, user: Annotated[Principal, Depends(EITHER)]) -> None:
        await greet_until_closed(websocket, user)

    @app.websocket("/ws/me")
    async def me(
        websocket: WebSocket, user: Annotated[Principal | None, Depends(current_principal)]
    ) -> None:
        await greet_until_closed(websocket, user)

    @app.websocket("/ws/secure")
    async def secure(
        websocket: WebSocket,
        user: Annotated[Principal | None, Security(current_principal, scopes=["Tasks.Read"])],
    ) -> None:
        await greet_until_closed(websocket, user)

    @app.get("/tasks")
    async def tasks(user: Annotated[Principal, Depends(SCOPES)]) -> dict[str, str]:
        return {"tenant": user.tenant_id}

    return app


@aad_guard.requires("Tasks.Read")
async def socket(websocket: StarletteWebSocket) -> None:
    await greet_until_closed(websocket, websocket.user)


class Socket(WebSocketEndpoint):
    encoding = "json"

    @aad_guard.requires("Tasks.Read")
    async def on_connect(self, websocket: StarletteWebSocket) -> None:
        await greet(websocket, websocket.user)


@aad_guard.requires("Tasks.Read")
async def tasks(request: Request) -> JSONResponse:
    return JSONResponse({"tenant": request.user.tenant_id})


@aad_guard.requires("Tasks.Read", roles=["Tasks.All"])
def tasks_sync(request: Request) -> JSONResponse:
    return JSONResponse({"tenant": request.user.tenant_id})


class Tasks(HTTPEndpoint):
    @aad_guard.requires("Tasks.Read")
    async def get(self, request: Request) -> JSONResponse:
        return JSONResponse({"tenant": request.user.tenant_id})


def starlette_routes() -> list[BaseRoute]:
    """Starlette routes (no FastAPI) that need `Tasks.Read` through `requires`."""
    return [
        WebSocketRoute("/ws", socket),
        WebSocketRoute("/ws/endpoint", Socket),
        Route("/tasks", tasks),
        Route("/tasks/sync", tasks_sync),
        Route("/tasks/endpoint", Tasks),
    ]


def protected(**middleware_options: Any) -> FastAPI:
    """The FastAPI app with the Starlette routes under `/starlette`, behind one middleware
    that lets anonymous callers through to the routes' requirements.
    """
    app = fastapi_sockets()
    app.router.routes.append(Mount("/starlette", routes=starlette_routes()))
    app.add_middleware(AADGuardMiddleware, required=False, **middleware_options)
    return app


def from_environment() -> FastAPI:
    """`protected()` trusting the local issuer named by `AAD_GUARD_TEST_AUTHORITY` and
    `AAD_GUARD_TEST_CLIENT_ID`.
    """
    return protected(
        authority=os.environ["AAD_GUARD_TEST_AUTHORITY"],
        client_id=os.environ["AAD_GUARD_TEST_CLIENT_ID"],
    )


# What each caller gets at each FastAPI WebSocket route: 200 is accepted (the route then
# says the caller's tenant, or null when anonymous), 401 and 403 are refused before accept;
# a 403's challenge names these scopes and roles.
CALLERS = ["reader", "other", "app", "anonymous"]
FASTAPI_ANSWERS: dict[str, tuple[dict[str, int], str]] = {
    "/ws/scopes": ({"reader": 200, "other": 403, "app": 403, "anonymous": 401}, "Tasks.Read"),
    "/ws/roles": ({"reader": 403, "other": 403, "app": 200, "anonymous": 401}, "Tasks.All"),
    "/ws/either": (
        {"reader": 200, "other": 403, "app": 200, "anonymous": 401},
        "Tasks.Read Tasks.All",
    ),
    "/ws/me": ({"reader": 200, "other": 200, "app": 200, "anonymous": 200}, ""),
    "/ws/secure": ({"reader": 200, "other": 403, "app": 403, "anonymous": 401}, "Tasks.Read"),
}
SOCKET_CASES = [
    (path, who, answers[who], named)
    for path, (answers, named) in FASTAPI_ANSWERS.items()
    for who in CALLERS
]


def headers_of(issuer: LocalIssuer, who: str) -> dict[str, str]:
    """The `Authorization` header of one of `CALLERS` (none for the anonymous one)."""
    tokens = {
        "reader": lambda: issuer.token(scopes=["Tasks.Read"]),
        "other": lambda: issuer.token(scopes=["Other"]),
        "app": lambda: issuer.token(app_only=True, roles=["Tasks.All"]),
    }
    return {"Authorization": f"Bearer {tokens[who]()}"} if who in tokens else {}
