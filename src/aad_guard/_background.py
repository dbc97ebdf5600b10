"""Start a task that outlives the request that needed it, on asyncio or trio.

A key fetch must not belong to the request that started it: other requests wait for the same
fetch, a background refresh must not delay anyone, and a client that disconnects must not
cancel what everyone else is waiting for. anyio has no task group that lives as long as the
event loop, so this uses each backend's own: asyncio's `create_task` and trio's system nursery.
asyncio keeps only weak references to tasks, so the caller holds the task `spawn` returns
until it is done (the key store keeps it with its fetch under way).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable

__all__ = ["spawn"]


def spawn(function: Callable[[], Awaitable[None]]) -> asyncio.Task[None] | None:
    """Run `function()` concurrently; it must handle its own exceptions.

    Returns the asyncio task, which the caller must reference until it is done; under trio,
    whose system nursery holds its tasks, `None`.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # No asyncio loop: anyio's other backend, trio, is running.
        import trio  # noqa: PLC0415 (trio is optional: only a trio app has it)

        # The caller's context, as asyncio's tasks get: a fetch's span nests under the
        # request's span that started it.
        trio.lowlevel.spawn_system_task(function, context=contextvars.copy_context())
        return None

    async def run() -> None:
        await function()

    return loop.create_task(run())
