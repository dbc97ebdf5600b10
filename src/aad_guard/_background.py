"""Start a task that outlives the request that needed it, on asyncio or trio.

A key fetch must not belong to the request that started it: other requests wait for the same
fetch, a background refresh must not delay anyone, and a client that disconnects must not
cancel what everyone else is waiting for. anyio has no task group that lives as long as the
event loop, so this uses each backend's own: asyncio's `create_task` and trio's system nursery.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable

__all__ = ["spawn"]

# asyncio keeps only weak references to tasks; hold them until they finish.
_running: set[asyncio.Task[None]] = set()


def spawn(function: Callable[[], Awaitable[None]]) -> None:
    """Run `function()` concurrently; it must handle its own exceptions."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # No asyncio loop: anyio's other backend, trio, is running.
        import trio

        # The caller's context, as asyncio's tasks get: a fetch's span nests under the
        # request's span that started it.
        trio.lowlevel.spawn_system_task(function, context=contextvars.copy_context())
        return

    async def run() -> None:
        await function()

    task = loop.create_task(run())
    _running.add(task)
    task.add_done_callback(_running.discard)
