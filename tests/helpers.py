"""Small helpers the test modules share: token pieces, request headers, served processes."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import httpx

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


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def serving(
    module_and_args: list[str], *, ready: str, cwd: Path | None = None
) -> Iterator[list[str]]:
    """Run `python -m <module> <args>` until it prints a line starting with `ready`.

    Yields the lines printed so far. On leaving, Ctrl-C (SIGINT) must stop the process with
    exit code 0; whatever happens, it is killed and its pipe closed.
    """
    process = subprocess.Popen(  # noqa: S603 (the test runs its own command)
        [sys.executable, "-u", "-m", *module_and_args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell's background job starts with Ctrl-C ignored, and Python keeps it ignored.
        preexec_fn=_default_sigint,  # noqa: PLW1509 (one signal() call, safe after fork)
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith(ready):
                break
        yield lines
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def run_uvicorn(
    directory: Path, *flags: str, get: Sequence[str], headers: Mapping[str, str] | None = None
) -> tuple[int, str, list[httpx.Response]]:
    """Run `uvicorn app:app` in `directory` until it exits; GET each of `get` once it serves.

    Then Ctrl-C (SIGINT) stops it. Returns its exit code, its output and the answers it
    gave (none if it never served). A server that hangs is killed after a minute.
    """
    command = [sys.executable, "-u", "-m", "uvicorn", "app:app", "--port", "0", *flags]
    process = subprocess.Popen(  # noqa: S603 (the test runs its own command)
        command,
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,  # noqa: PLW1509 (one signal() call, safe after fork)
    )
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    answers, lines = [], []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Uvicorn running on" in line:
                url = line.split("Uvicorn running on ")[1].split()[0]
                answers += [httpx.get(url + path, headers=headers, timeout=10) for path in get]
                process.send_signal(signal.SIGINT)
        return process.wait(), "".join(lines), answers
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` as a user's script would run, warnings as errors, and wait for it.

    Without REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE: requests lets them override MSAL's
    `verify=` (docs/testing.md, "With MSAL").
    """
    environ = {k: v for k, v in os.environ.items()
               if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}  # fmt: skip
    return subprocess.run(  # noqa: S603 (the tests' own snippets)
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environ,
    )
