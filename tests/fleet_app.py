"""The step-up example as a fleet test serves it: each answer names the worker that gave it.

`uvicorn --factory tests.fleet_app:create_app --workers 4`; the `X-Worker` header (the
process id) shows which worker answered, refusals included.
"""

from __future__ import annotations

import os

from examples.stepup_api.app import create_app as create_example
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["create_app"]


class NamesTheWorker:
    """Adds `X-Worker: <pid>` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.worker = str(os.getpid()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-worker", self.worker)]
            await send(message)

        await self.app(scope, receive, send_named if scope["type"] == "http" else send)


def create_app() -> ASGIApp:
    return NamesTheWorker(create_example())
