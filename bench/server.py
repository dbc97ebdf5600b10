"""Over a real server: uvicorn on loopback in a subprocess, driven by a load generator.

The API of `bench._app` and the incumbents' (`bench.incumbents`) run in uvicorn processes
(one worker each): bare, bare again (the control, showing how far two identical servers
differ on this machine), behind the middleware alone, as README documents it (the
middleware and `require_scopes`), with fastapi-azure-auth, and with `PyJWKClient` +
`jwt.decode`, all against one `LocalIssuerServer` on loopback. Each round runs every server
in turn, in a rotating order, so that a slow patch of the machine lands on all of them. The
load generator is wrk when `/usr/bin/wrk` exists (Debian package `wrk`), else a small
asyncio client in this process.

Repeated: every request, to any server, carries the same token, as a client reusing its
access token does. Fresh: the requests take their tokens in turn from `FRESH_TOKENS`
distinct ones, more than the default cache holds, so that with least-recently-used eviction
no request finds its token cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from aad_guard.testing import LocalIssuerServer

from ._app import AUTHORITY_VARIABLE, CLIENT_ID_VARIABLE, PATH, TENANT_VARIABLE

__all__ = [
    "AZURE_AUTH_FRESH",
    "AZURE_AUTH_REPEATED",
    "CONTROL",
    "DOCUMENTED_FRESH",
    "DOCUMENTED_REPEATED",
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
DOCUMENTED_REPEATED = "documented, repeated token"
DOCUMENTED_FRESH = "documented, fresh tokens"
AZURE_AUTH_REPEATED = "fastapi-azure-auth, repeated token"
AZURE_AUTH_FRESH = "fastapi-azure-auth, fresh tokens"
DIY_REPEATED = "PyJWKClient, repeated token"
DIY_FRESH = "PyJWKClient, fresh tokens"
# (name, uvicorn factory, fresh tokens)
SERVERS = (
    (UNPROTECTED, "bench._app:unprotected", False),
    (CONTROL, "bench._app:unprotected", False),
    (PROTECTED, "bench._app:protected", False),
    (DOCUMENTED_REPEATED, "bench._app:documented", False),
    (DOCUMENTED_FRESH, "bench._app:documented", True),
    (AZURE_AUTH_REPEATED, "bench.incumbents:azure_auth", False),
    (AZURE_AUTH_FRESH, "bench.incumbents:azure_auth", True),
    (DIY_REPEATED, "bench.incumbents:diy", False),
    (DIY_FRESH, "bench.incumbents:diy", True),
)
FRESH_TOKENS = 17_000
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


@contextlib.contextmanager
def uvicorn(factory: str, environment: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """Run `<module>:<factory>` under uvicorn on loopback; yield its URL once it answers."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
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


_WRK_SCRIPT = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
local turn = 0
request = function()
  turn = turn %% #tokens + 1
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. tokens[turn]})
end
"""


def _wrk(url: str, tokens: Sequence[str], seconds: float) -> LoadResult:
    command = [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency"]
    with tempfile.TemporaryDirectory() as folder:
        listing, script = Path(folder, "tokens.txt"), Path(folder, "tokens.lua")
        listing.write_text("\n".join(tokens) + "\n", encoding="ascii")
        script.write_text(_WRK_SCRIPT % listing, encoding="utf-8")
        output = subprocess.run(  # noqa: S603
            [*command, "-s", str(script), url + PATH], capture_output=True, text=True, check=True
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


async def _python_load(url: str, tokens: Sequence[str], seconds: float) -> LoadResult:
    """A keep-alive HTTP/1.1 client on `CONNECTIONS` connections; wrk's stand-in."""
    host, port = url.removeprefix("http://").split(":")
    requests = itertools.cycle(
        [
            f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode(
                "latin-1"
            )
            for token in tokens
        ]
    )
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(next(requests))
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


def _load(url: str, tokens: Sequence[str], seconds: float) -> LoadResult:
    if load_generator() == "wrk":
        return _wrk(url, tokens, seconds)
    return asyncio.run(_python_load(url, tokens, seconds))


def measure(
    *,
    rounds: int,
    seconds: float,
    fresh_tokens: int = FRESH_TOKENS,
    on_progress: Callable[[str], None] = lambda _: None,
) -> list[ServerResult]:
    """Requests/s and latency of every server of `SERVERS`, `rounds` alternating runs."""
    with LocalIssuerServer() as issuer_server:
        issuer = issuer_server.issuer
        token = issuer.token()
        on_progress(f"  minting {fresh_tokens} fresh tokens")
        fresh = [issuer.token(claims={"uti": f"load{n:018d}"}) for n in range(fresh_tokens)]
        environment = {
            AUTHORITY_VARIABLE: issuer_server.url,
            CLIENT_ID_VARIABLE: issuer.client_id,
            TENANT_VARIABLE: issuer.tenant_id,
        }
        with contextlib.ExitStack() as stack:
            servers = [
                (name, stack.enter_context(uvicorn(factory, environment)), is_fresh)
                for name, factory, is_fresh in SERVERS
            ]
            for name, url, _ in servers:
                # The first request fetches the keys; it must answer 200 with the token.
                answer = httpx.get(url + PATH, headers={"Authorization": f"Bearer {token}"})
                if answer.status_code != 200 and not name.startswith(UNPROTECTED):
                    raise RuntimeError(f"the server {name!r} answered {answer.status_code}")
            # All get the same requests, tokens included: the difference is the validation,
            # not the server parsing a kilobyte more of headers. The second bare process is
            # the control: how far two identical servers differ on this machine.
            for _, url, _ in servers:
                _load(url, [token], min(seconds, 1.0))  # warm-up
            runs: dict[str, list[LoadResult]] = {name: [] for name, _, _ in servers}
            # Each server's fresh run starts where its last ended: a token comes back to a
            # server only after all the others, when its cache has let it go.
            offsets = dict.fromkeys(runs, 0)
            for index in range(rounds):
                on_progress(f"  round {index + 1}/{rounds}")
                shift = index % len(servers)
                for name, url, is_fresh in servers[shift:] + servers[:shift]:
                    offset = offsets[name]
                    tokens = fresh[offset:] + fresh[:offset] if is_fresh else [token]
                    result = _load(url, tokens, seconds)
                    offsets[name] = (offset + round(result.rps * seconds)) % len(fresh)
                    runs[name].append(result)
    return [ServerResult(name, tuple(results)) for name, results in runs.items()]
