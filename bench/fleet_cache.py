"""A fleet's fetches: `uvicorn --workers 4`, with and without the shared key cache.

Each run starts a `LocalIssuerServer` (answering after `LATENCY`, as a provider across a
network does), a redis-server on loopback for the shared run, and the `bench._app:fleet` API
under uvicorn with `WORKERS` workers and a short `refresh_interval`. Every request goes on a
new connection, so the kernel spreads them over the workers. Counted at the issuer:

- cold start: the metadata and JWKS requests until every worker has answered a protected
  request (all workers are up, and none has fetched, before the first one is sent);
- steady state: the requests during `INTERVALS` refresh intervals of continuous traffic,
  per interval.

`python -m bench.fleet_cache` runs this alone; `make bench` runs it after the other benchmarks.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import httpx

from aad_guard.testing import LocalIssuer, LocalIssuerServer

from ._app import (
    AUTHORITY_VARIABLE,
    CLIENT_ID_VARIABLE,
    PATH,
    READY_PATH,
    REDIS_VARIABLE,
    REFRESH_VARIABLE,
)
from ._harness import render_table
from .server import uvicorn

__all__ = ["INTERVALS", "LATENCY", "REFRESH_INTERVAL", "WORKERS", "FleetRun", "main", "measure"]

WORKERS = 4
REFRESH_INTERVAL = 5.0
INTERVALS = 4
LATENCY = 0.05
BURST = 16
_PATIENCE = 60.0


@dataclass(frozen=True, slots=True)
class FleetRun:
    """The fetches of one fleet, counted at the issuer."""

    shared: bool
    workers: int
    cold_metadata: int
    cold_jwks: int
    cold_seconds: float
    steady_metadata: int
    steady_jwks: int
    steady_seconds: float
    requests: int
    non_200: int

    @property
    def intervals(self) -> float:
        return self.steady_seconds / REFRESH_INTERVAL

    def as_json(self) -> dict[str, object]:
        """The run as a JSON object."""
        return {
            "shared_key_cache": self.shared,
            "workers": self.workers,
            "refresh_interval_s": REFRESH_INTERVAL,
            "cold_start": {
                "metadata": self.cold_metadata,
                "jwks": self.cold_jwks,
                "seconds": round(self.cold_seconds, 2),
            },
            "steady": {
                "seconds": round(self.steady_seconds, 2),
                "metadata": self.steady_metadata,
                "jwks": self.steady_jwks,
                "metadata_per_interval": round(self.steady_metadata / self.intervals, 2),
                "jwks_per_interval": round(self.steady_jwks / self.intervals, 2),
            },
            "requests": self.requests,
            "non_200": self.non_200,
        }


@contextmanager
def _redis_server() -> Iterator[str]:
    """A throw-away redis-server on loopback (Debian's package), as the tests use."""
    from tests.redis_server import RedisServer  # noqa: PLC0415 (the tests' launcher, on use)

    folder = Path(tempfile.mkdtemp(prefix="aad-guard-bench-redis-"))
    server = RedisServer(folder)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


class _Traffic:
    """Requests on new connections; the worker pids that answered, and the statuses."""

    def __init__(self, url: str, token: str) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self.pids: set[int] = set()
        self.requests = 0
        self.non_200 = 0

    async def burst(self, path: str, count: int) -> set[int]:
        seen: set[int] = set()
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=self._url, limits=limits, timeout=30) as client:

            async def one() -> None:
                answer = await client.get(path, headers=self._headers)
                self.requests += 1
                if answer.status_code == 200:
                    seen.add(int(answer.json()["pid"]))
                else:
                    self.non_200 += 1

            async with anyio.create_task_group() as group:
                for _ in range(count):
                    group.start_soon(one)
        return seen

    async def until_every_worker(self, path: str) -> None:
        deadline = time.monotonic() + _PATIENCE
        seen: set[int] = set()
        while len(seen) < WORKERS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(seen)} of {WORKERS} workers answered {path}")
            seen |= await self.burst(path, BURST)


async def _drive(url: str, token: str, issuer: LocalIssuer, *, shared: bool) -> FleetRun:
    traffic = _Traffic(url, token)
    await traffic.until_every_worker(READY_PATH)  # up, and nothing fetched yet
    if issuer.count() != 0:
        raise RuntimeError("a worker fetched before the first protected request")
    traffic.requests = traffic.non_200 = 0
    cold_started = time.monotonic()
    await traffic.until_every_worker(PATH)
    cold_metadata, cold_jwks = issuer.count("metadata"), issuer.count("jwks")
    started = time.monotonic()
    if started - cold_started > REFRESH_INTERVAL * 0.9:
        raise RuntimeError("the cold start took longer than a refresh interval: counts mixed")
    while time.monotonic() - started < INTERVALS * REFRESH_INTERVAL:
        await traffic.burst(PATH, 4)
        await anyio.sleep(0.02)
    seconds = time.monotonic() - started
    return FleetRun(
        shared,
        WORKERS,
        cold_metadata,
        cold_jwks,
        started - cold_started,
        issuer.count("metadata") - cold_metadata,
        issuer.count("jwks") - cold_jwks,
        seconds,
        traffic.requests,
        traffic.non_200,
    )


def _run(redis_url: str | None) -> FleetRun:
    with LocalIssuerServer() as issuer_server:
        issuer = issuer_server.issuer
        token = issuer.token(lifetime=3600)
        issuer.simulate("slow", delay=LATENCY)
        environment = {
            AUTHORITY_VARIABLE: issuer_server.url,
            CLIENT_ID_VARIABLE: issuer.client_id,
            REFRESH_VARIABLE: str(REFRESH_INTERVAL),
        }
        if redis_url is not None:
            environment[REDIS_VARIABLE] = redis_url
        # The readiness probe of `uvicorn` asks for "/": refused without a fetch.
        with uvicorn("bench._app:fleet", environment, workers=WORKERS) as url:
            return anyio.run(partial(_drive, url, token, issuer, shared=redis_url is not None))


def measure() -> list[FleetRun]:
    """The fleet without, then with, the shared key cache."""
    without = _run(None)
    with _redis_server() as redis_url:
        shared = _run(redis_url)
    return [without, shared]


def table(runs: list[FleetRun]) -> str:
    """The runs as a text table."""
    return render_table(
        (
            "shared key cache",
            "workers",
            "cold: metadata GETs",
            "cold: JWKS GETs",
            "cold: seconds",
            "metadata GETs / interval",
            "JWKS GETs / interval",
            "non-200",
        ),
        [
            (
                "yes" if run.shared else "no",
                str(run.workers),
                str(run.cold_metadata),
                str(run.cold_jwks),
                f"{run.cold_seconds:.2f}",
                f"{run.steady_metadata / run.intervals:.2f}",
                f"{run.steady_jwks / run.intervals:.2f}",
                f"{run.non_200} of {run.requests}",
            )
            for run in runs
        ],
    )


def main() -> int:
    """Run both fleets and print the table."""
    print(
        f"fleet: uvicorn --workers {WORKERS}, without and with the shared key cache",
        file=sys.stderr,
    )
    runs = measure()
    print(
        f"Fleet of {WORKERS} uvicorn workers, refresh_interval {REFRESH_INTERVAL:g} s, issuer "
        f"latency {LATENCY * 1000:.0f} ms, {INTERVALS} intervals of traffic; v1 and v2 metadata"
    )
    print(table(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
