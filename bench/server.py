"""Over a real server: uvicorn on loopback in a subprocess, driven by a load generator.

The API of `bench._app` runs in three uvicorn processes (one worker each): bare, bare again
(the control, showing how far two identical servers differ on this machine), and protected
against a `LocalIssuerServer` on loopback. Each round runs the three in turn, in a rotating
order, so that a slow patch of the machine lands on all of them. The load generator is wrk when
`/usr/bin/wrk` exists (Debian package `wrk`), else a small asyncio client in this process.
Every request, to either server, carries the same token, as a client reusing its access
token does: the difference between the two is aad_guard's work alone.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from aad_guard.testing import LocalIssuerServer

from ._app import AUTHORITY_VARIABLE, CLIENT_ID_VARIABLE, PATH

__all__ = [
    "CONTROL",
    "PROTECTED",
    "UNPROTECTED",
    "LoadResult",
    "ServerResult",
    "load_generator",
    "measure",
    "uvicorn",
]

WRK = "/usr/bin/wrk"
UNPROTECTED = "unprotected"
CONTROL = "unprotected, 2nd process"
PROTECTED = "protected, repeated token"
CONNECTIONS = 32
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One load run: requests per second and latency percentiles in milliseconds."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True, slots=True)
class ServerResult:
    """The load runs of one server, one per round."""

    name: str
    runs: tuple[LoadResult, ...]

    @property
    def rps(self) -> float:
        """Median requests per second across rounds."""
        return statistics.median(run.rps for run in self.runs)

    @property
    def p50_ms(self) -> float:
        """Median across rounds of the median latency."""
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        """Median across rounds of the 99th percentile latency."""
        return statistics.median(run.p99_ms for run in self.runs)

    def as_json(self) -> dict[str, object]:
        """The result as a JSON object."""
        return {
            "name": self.name,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "rounds": [
                {"rps": round(r.rps, 1), "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "errors": r.errors}
                for r in self.runs
            ],
        }


def load_generator() -> str:
    """`wrk` when installed, else `python`."""
    return "wrk" if os.access(WRK, os.X_OK) else "python"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def uvicorn(factory: str, environment: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """Run `bench._app:<factory>` under uvicorn on loopback; yield its URL once it answers."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"bench._app:{factory}",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env={**os.environ, **environment})  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn {factory} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _wrk(url: str, headers: Sequence[str], seconds: float) -> LoadResult:
    command = [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run(  # noqa: S603
        [*command, url + PATH], capture_output=True, text=True, check=True
    ).stdout
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", output))
    p50 = _milliseconds(_find(r"^\s+50%\s+(\S+)", output))
    p99 = _milliseconds(_find(r"^\s+99%\s+(\S+)", output))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return LoadResult(rps, p50, p99, int(errors.group(1)) if errors else 0)


def _find(pattern: str, output: str) -> str:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{output}")
    return match.group(1)


async def _python_load(url: str, headers: Sequence[str], seconds: float) -> LoadResult:
    """A keep-alive HTTP/1.1 client on `CONNECTIONS` connections; wrk's stand-in."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
    ).encode("latin-1")
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if b" 200 " not in status_line:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        len(latencies) / elapsed,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
        errors,
    )


def _load(url: str, headers: Sequence[str], seconds: float) -> LoadResult:
    if load_generator() == "wrk":
        return _wrk(url, headers, seconds)
    return asyncio.run(_python_load(url, headers, seconds))


def measure(*, rounds: int, seconds: float) -> list[ServerResult]:
    """Requests/s and latency of the bare and the protected API, `rounds` alternating runs."""
    with LocalIssuerServer() as issuer_server:
        issuer = issuer_server.issuer
        token = issuer.token()
        environment = {AUTHORITY_VARIABLE: issuer_server.url, CLIENT_ID_VARIABLE: issuer.client_id}
        authorization = [f"Authorization: Bearer {token}"]
        with (
            uvicorn("unprotected", environment) as bare,
            uvicorn("unprotected", environment) as control,
            uvicorn("protected", environment) as guarded,
        ):
            # The first protected request fetches the keys; it must answer 200 with the token.
            answer = httpx.get(guarded + PATH, headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 200:
                raise RuntimeError(f"the protected server answered {answer.status_code}")
            # All get the same request, token included: the difference is aad_guard's work,
            # not the server parsing a kilobyte more of headers. The second bare process is
            # the control: how far two identical servers differ on this machine.
            servers = [
                (UNPROTECTED, bare),
                (CONTROL, control),
                (PROTECTED, guarded),
            ]
            for _, url in servers:
                _load(url, authorization, min(seconds, 1.0))  # warm-up
            runs: dict[str, list[LoadResult]] = {name: [] for name, _ in servers}
            for index in range(rounds):
                shift = index % len(servers)
                for name, url in servers[shift:] + servers[:shift]:
                    runs[name].append(_load(url, authorization, seconds))
    return [ServerResult(name, tuple(results)) for name, results in runs.items()]
