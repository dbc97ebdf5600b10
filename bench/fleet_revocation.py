"""Fleet revocation: how long until all 4 uvicorn workers refuse a revoked user.

`python -m bench.fleet_revocation [ROUNDS]`. One `uvicorn --workers 4` fleet serves the
step-up example (`tests.fleet_app`, which names the answering worker) with its revocations on
a real redis-server; a `LocalIssuerServer` on loopback issues the tokens. Each round takes a
new user, has every worker verify and cache that user's token, then keeps `POLLERS` clients
sending it on new connections while the user is revoked through `RedisRevocationStore`.

Reported per round: from the moment Redis acknowledged the revocation to the answer of each
worker's first refusal (the slowest worker is "all 4 refuse"); that includes the request's own
round trip, so the time from the acknowledgement to the *start* of that request is given too.
And how many requests that started after the acknowledgement were still admitted: the
correctness figure, which must be 0. Then the cost of the per-request read, in-process (no
HTTP): a cached token's `validate()` with the Redis store, the in-process store, and none.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from redis.asyncio import Redis
from tests.redis_server import RedisServer

from aad_guard import (
    InMemoryRevocationStore,
    RedisRevocationStore,
    RevocationStore,
    TokenValidator,
)
from aad_guard.testing import LocalIssuer, LocalIssuerServer

__all__ = ["Round", "main"]

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 4
POLLERS = 8
PREFIX = "payments-api:revoked:"
_PATH = "/payments"


@dataclass(frozen=True, slots=True)
class Round:
    """One revocation: each worker's first refusal after Redis took it, in milliseconds.

    When its answer arrived, and when that request was sent.
    """

    first_refusal_ms: dict[str, float]
    first_refused_request_sent_ms: dict[str, float]
    admitted_after: int
    requests: int

    @property
    def all_workers_ms(self) -> float:
        return max(self.first_refusal_ms.values())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def fleet(issuer_url: str, client_id: str, redis_url: str | None) -> Iterator[str]:
    """`uvicorn --workers 4` serving the example; yields its URL once every worker answers."""
    port = _free_port()
    environment = {
        **os.environ,
        "AAD_GUARD_AUTHORITY": issuer_url,
        "AAD_GUARD_CLIENT_ID": client_id,
    }
    environment.pop("AAD_GUARD_REDIS_URL", None)
    if redis_url is not None:
        environment["AAD_GUARD_REDIS_URL"] = redis_url
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.fleet_app:create_app",
        "--workers", str(WORKERS), "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=environment)  # noqa: S603
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/docs", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _token(issuer: LocalIssuer) -> tuple[str, str]:
    object_id = str(uuid.uuid4())
    return issuer.token(scopes=["Payments.Read"], claims={"oid": object_id}), object_id


async def _warm(client: httpx.AsyncClient, url: str, token: str) -> None:
    """Until every worker answered the token twice: verified once, then from its cache."""
    seen: dict[str, int] = {}
    for _ in range(5000):
        answer = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != 200:
            raise RuntimeError(f"the fleet refused a valid token: {answer.text}")
        worker = answer.headers["x-worker"]
        seen[worker] = seen.get(worker, 0) + 1
        if len(seen) == WORKERS and min(seen.values()) >= 2:
            return
    raise RuntimeError(f"only workers {sorted(seen)} answered")


async def _round(issuer: LocalIssuer, url: str, store: RedisRevocationStore, tenant: str) -> Round:
    token, object_id = _token(issuer)
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        await _warm(client, url + _PATH, token)
        acknowledged: list[float] = []
        first: dict[str, float] = {}
        sent: dict[str, float] = {}
        counts = {"admitted_after": 0, "requests": 0}
        done = asyncio.Event()

        async def poll() -> None:
            while not done.is_set():
                started = time.perf_counter()
                answer = await client.get(url + _PATH, headers={"Authorization": f"Bearer {token}"})
                ended = time.perf_counter()
                if not acknowledged or started < acknowledged[0]:
                    continue
                counts["requests"] += 1
                worker = answer.headers["x-worker"]
                if answer.status_code == 200:
                    counts["admitted_after"] += 1
                elif worker not in first:
                    first[worker] = (ended - acknowledged[0]) * 1000
                    sent[worker] = (started - acknowledged[0]) * 1000
                    if len(first) == WORKERS:
                        done.set()

        pollers = [asyncio.create_task(poll()) for _ in range(POLLERS)]
        await asyncio.sleep(0.2)  # the pollers are under way
        await store.revoke_user(tenant, object_id, since=time.time())
        acknowledged.append(time.perf_counter())
        await asyncio.wait_for(done.wait(), timeout=60)
        await asyncio.gather(*pollers)
    return Round(first, sent, counts["admitted_after"], counts["requests"])


async def _validate_cost(store: RevocationStore | None, count: int = 5000) -> list[float]:
    """Microseconds per `validate()` of a cached token, in sequence, in this process."""
    issuer = LocalIssuer()
    token = issuer.token()
    async with (
        issuer.client() as http,
        TokenValidator(client_id=issuer.client_id, http_client=http, revocation_store=store) as v,
    ):
        timings = []
        for _ in range(count):
            started = time.perf_counter_ns()
            await v.validate(token)
            timings.append((time.perf_counter_ns() - started) / 1000)
    return timings[count // 10 :]  # the first tenth fetches the keys and fills the cache


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def main(argv: list[str] | None = None) -> int:
    rounds = int((argv if argv is not None else sys.argv[1:] or ["20"])[0])
    with tempfile.TemporaryDirectory() as folder, LocalIssuerServer() as server:
        redis_server = RedisServer(Path(folder))
        redis_server.start()
        try:
            issuer = server.issuer

            async def revocations(url: str) -> list[Round]:
                client = Redis.from_url(redis_server.url)
                try:
                    store = RedisRevocationStore(client, prefix=PREFIX)
                    return [
                        await _round(issuer, url, store, issuer.tenant_id) for _ in range(rounds)
                    ]
                finally:
                    await client.aclose()

            async def costs() -> dict[str, list[float]]:
                client = Redis.from_url(redis_server.url)
                try:
                    return {
                        "Redis store": await _validate_cost(RedisRevocationStore(client)),
                        "in-process store": await _validate_cost(InMemoryRevocationStore()),
                        "no store": await _validate_cost(None),
                    }
                finally:
                    await client.aclose()

            with fleet(server.url, issuer.client_id, redis_server.url) as url:
                results = asyncio.run(revocations(url))
            cost = asyncio.run(costs())
        finally:
            redis_server.stop()

    everyone = sorted(r.all_workers_ms for r in results)
    each = sorted(ms for r in results for ms in r.first_refusal_ms.values())
    sent = sorted(ms for r in results for ms in r.first_refused_request_sent_ms.values())
    print(f"fleet revocation: {WORKERS} uvicorn workers, {POLLERS} pollers, {rounds} rounds")
    print(
        f"  all {WORKERS} workers refuse after: median {statistics.median(everyone):.1f} ms, "
        f"p95 {_quantile(everyone, 0.95):.1f} ms, max {everyone[-1]:.1f} ms"
    )
    print(
        f"  one worker's first refusal after: median {statistics.median(each):.1f} ms, "
        f"max {each[-1]:.1f} ms; that request sent after: median "
        f"{statistics.median(sent):.1f} ms, max {sent[-1]:.1f} ms"
    )
    admitted = sum(r.admitted_after for r in results)
    requests = sum(r.requests for r in results)
    print(f"  requests started after the revocation: {requests}, admitted: {admitted}")
    for name, timings in cost.items():
        print(
            f"  validate() of a cached token, {name}: median {statistics.median(timings):.1f} us, "
            f"p95 {_quantile(timings, 0.95):.1f} us ({len(timings)} calls)"
        )
    return 0 if admitted == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
