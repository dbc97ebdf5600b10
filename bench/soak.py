"""Soak: a million requests through the guarded app while keys rotate and Entra fails.

`python -m bench.soak` (or `make soak`) drives an `AADGuardMiddleware`-protected Starlette app
directly through ASGI, with a `LocalIssuer` as the identity provider and a simulated clock
that moves 0.1 s per request (a million requests span about 28 hours of simulated time):

- keys roll every `--rotate-every` requests as Entra rolls them: the next key is published
  one period before it signs, the oldest is retired, so the validator learns keys by its
  refreshes (or a refetch for an unknown key id) and must drop keys that left the JWKS;
- the identity provider fails (500, connection refused, a non-JSON body, an empty key set,
  in turn) for one window of `--fault-every` requests out of three; cached keys keep serving;
- one request in twenty is hostile (a forged signature, an expired token, an unknown key id,
  junk), so refusals and their logging are exercised too.

Memory is sampled with tracemalloc (traced Python allocations) and the resident set size
(RSS) at the start, at every tenth of the run and at the end. A bounded cache shows as flat
lines after warm-up. The table is printed and the run written to `bench/results/` as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import os
import platform
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from aad_guard import AADGuardMiddleware, TokenValidator
from aad_guard.testing import FaultKind, LocalIssuer

from ._app import PATH, call

RESULTS = Path(__file__).parent / "results"
# The faults the provider cycles through while failing, in turn (LocalIssuer.simulate).
FAULTS: tuple[FaultKind, ...] = ("status", "down", "not_json", "empty_keys")
TICK = 0.1  # simulated seconds per request


class SimulatedClock:
    """UNIX seconds that advance by `TICK` per request: hours of traffic in minutes."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True, slots=True)
class Sample:
    """Memory at one point of the run."""

    requests: int
    seconds: float
    traced_kib: float
    traced_peak_kib: float
    rss_kib: float


def rss_kib() -> float:
    """The resident set size of this process, in KiB (Linux `/proc`; else the peak)."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1])
    except OSError:
        pass
    import resource  # noqa: PLC0415 (Unix only, and needed only where /proc is not)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)


async def hello(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


class Traffic:
    """Tokens as callers would send them: a few valid ones, re-minted as keys rotate."""

    def __init__(self, issuer: LocalIssuer, clock: SimulatedClock) -> None:
        self.issuer = issuer
        self.clock = clock
        self.valid: list[bytes] = []
        self.hostile: list[bytes] = []
        self.unknown_kid: list[bytes] = []
        self.mint()

    def mint(self) -> None:
        issuer, now = self.issuer, self.clock()
        self.valid = [
            b"Bearer "
            + issuer.token(issued_at=now, lifetime=4000, claims={"oid": f"user-{i}"}).encode()
            for i in range(16)
        ]
        good = issuer.token(issued_at=now, lifetime=4000)
        header, payload, signature = good.split(".")
        forged = f"{header}.{payload}.{signature[:-4]}AAAA"
        self.unknown_kid = [
            b"Bearer " + issuer.token(issued_at=now, headers={"kid": "no-such-key"}).encode()
        ]
        self.hostile = [
            f"Bearer {forged}".encode(),
            b"Bearer " + issuer.token(issued_at=now - 7200, lifetime=600).encode(),
            *self.unknown_kid,
            b"Bearer not.a.token",
        ]


def rotate(issuer: LocalIssuer, *, keep: int = 3) -> None:
    """Roll keys as Entra does.

    Sign with the key published last time, publish the next one, and retire the oldest
    beyond `keep`.
    """
    upcoming = issuer.keys.listed[-1]
    issuer.keys.rotate()
    issuer.keys.signing = upcoming
    for key in issuer.keys.listed[:-keep]:
        issuer.keys.retire(key.kid)


class Refusals(logging.Handler):
    """Counts the reason codes of refusals and failed fetches (never their messages)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reasons: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.reasons[str(getattr(record, "aad_guard_reason", "other"))] += 1


def growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[str]:
    """The five source lines whose live allocations grew most between two snapshots."""
    stats = after.compare_to(before, "lineno")
    return [str(stat) for stat in sorted(stats, key=lambda s: -s.size_diff)[:5]]


async def soak(args: argparse.Namespace) -> dict[str, object]:
    clock = SimulatedClock()
    issuer = LocalIssuer(clock=clock)
    statuses: Counter[str] = Counter()
    fetches = 0
    refusals = Refusals()
    logging.getLogger("aad_guard").addHandler(refusals)
    middle: tracemalloc.Snapshot | None = None
    samples: list[Sample] = []
    every = max(args.requests // 10, 1)
    async with issuer.client() as client:
        validator = TokenValidator(client_id=issuer.client_id, clock=clock, http_client=client)
        app = Starlette(routes=[Route(PATH, hello)])
        app.add_middleware(AADGuardMiddleware, validator=validator)
        guarded: ASGIApp = app.build_middleware_stack()
        traffic = Traffic(issuer, clock)
        # Warm up before the first sample: imports, the first key fetch, lazily built tables.
        for token in traffic.valid:
            await call(guarded, token)
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()

        def sample(done: int) -> None:
            gc.collect()
            traced, peak = tracemalloc.get_traced_memory()
            samples.append(
                Sample(
                    requests=done,
                    seconds=round(time.perf_counter() - started, 1),
                    traced_kib=round(traced / 1024, 1),
                    traced_peak_kib=round(peak / 1024, 1),
                    rss_kib=rss_kib(),
                )
            )

        sample(0)
        for done in range(1, args.requests + 1):
            clock.now += TICK
            if done % args.rotate_every == 0:
                rotate(issuer)
            if done % 3000 == 0:
                traffic.mint()  # callers fetch fresh tokens well before the old ones expire
            window, position = divmod(done, args.fault_every)
            if position == 0:
                if window % 3 == 1:
                    issuer.simulate(FAULTS[(window // 3) % len(FAULTS)], status=500)
                else:
                    issuer.simulate(None)
            if done % 20 == 0:
                kind, token = "hostile", traffic.hostile[(done // 20) % len(traffic.hostile)]
            else:
                kind, token = "valid", traffic.valid[done % len(traffic.valid)]
            statuses[f"{kind} {await call(guarded, token)}"] += 1
            if done % every == 0:
                sample(done)
            if done == args.requests // 2:
                middle = tracemalloc.take_snapshot()
            if done % 100 == 0:
                fetches += issuer.count()
                issuer.requests.clear()  # keep the issuer's own request log out of the count
        end = tracemalloc.take_snapshot()
        tracemalloc.stop()
        await validator.aclose()
    return {
        "requests": args.requests,
        "simulated_hours": round(args.requests * TICK / 3600, 1),
        "rotate_every": args.rotate_every,
        "fault_every": args.fault_every,
        "answers": dict(sorted(statuses.items())),
        "identity_provider_requests": fetches + issuer.count(),
        "reasons": dict(refusals.reasons.most_common()),
        "growth_middle_to_end": growth(middle, end) if middle is not None else [],
        "samples": [asdict(s) for s in samples],
    }


def render(result: dict[str, object]) -> str:
    samples = result["samples"]
    if not isinstance(samples, list):
        raise TypeError(f"the result's samples are a {type(samples).__name__}, not a list")
    lines = [
        f"{'requests':>10} {'seconds':>8} {'traced KiB':>11} {'peak KiB':>9} {'RSS KiB':>9}",
    ]
    lines.extend(
        f"{s['requests']:>10} {s['seconds']:>8} {s['traced_kib']:>11} "
        f"{s['traced_peak_kib']:>9} {s['rss_kib']:>9.0f}"
        for s in samples
    )
    lines.append(f"answers: {result['answers']}")
    lines.append(f"identity-provider requests: {result['identity_provider_requests']}")
    lines.append(f"refusal and fetch-failure reasons: {result['reasons']}")
    lines.append("largest growth of traced memory, middle to end:")
    lines.extend(f"  {line}" for line in result["growth_middle_to_end"])  # type: ignore[attr-defined]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rotate-every", type=int, default=50_000)
    parser.add_argument("--fault-every", type=int, default=20_000)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args(argv)
    # Refusals log at INFO and failed fetches at WARNING: counted, kept out of the output.
    logger = logging.getLogger("aad_guard")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    result = anyio.run(soak, args, backend=args.backend)
    result["backend"] = args.backend
    result["python"] = platform.python_version()
    result["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(render(result))
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"soak-{stamp}-{os.getpid()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
