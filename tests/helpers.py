"""Small helpers the test modules share: token pieces and request headers."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


def b64(data: bytes) -> str:
    """Unpadded base64url, as JWS segments are."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segment(document: object) -> str:
    """A JSON value as a JWS segment."""
    return b64(json.dumps(document).encode())


def decoded(token: str, index: int) -> dict[str, object]:
    """Segment `index` of a compact token (0 header, 1 payload), decoded without checks."""
    value: dict[str, object] = json.loads(base64.urlsafe_b64decode(token.split(".")[index] + "=="))
    return value


def bearer(token: str) -> dict[str, str]:
    """The `Authorization` header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}


async def run_concurrently(count: int, call: Callable[[], Awaitable[T]]) -> list[T]:
    """Start `count` calls of `call` at once and return their results when all are done."""
    results: list[T] = []

    async def one() -> None:
        results.append(await call())

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one)
    return results
