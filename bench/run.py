"""`python -m bench`: every benchmark in one run, a table, a JSON file and a PNG chart."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
from cryptography.hazmat.backends.openssl import backend as openssl_backend

from aad_guard.testing import LocalIssuer, LocalIssuerServer

from . import coldstart, fleet_cache, inprocess, memory, scale, server
from ._app import documented_app
from ._harness import CaseResult, environment, render_table, timing_table, write_json
from .chart import write_chart

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"
DEFAULT_ROUNDS, DEFAULT_OPS = 25, 300
QUICK_ROUNDS, QUICK_OPS = 3, 50
SERVER_ROUNDS, SERVER_SECONDS = 3, 3.0
COLD_START_LEVELS = (1, 10, 100, 1000)
TENANT_LEVELS, QUICK_TENANT_LEVELS = (1, 100, 10_000), (1, 100, 1000)
CACHED_LEVELS, QUICK_CACHED_LEVELS = (1000, 100_000), (1000, 10_000)
SCALE_ROUNDS, QUICK_SCALE_ROUNDS = 5, 2
QUICK_FRESH_TOKENS = 4000


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def positive_int(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
        return value

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=positive_int, help=f"in-process rounds ({DEFAULT_ROUNDS})")
    parser.add_argument("--ops", type=positive_int, help=f"operations per round ({DEFAULT_OPS})")
    parser.add_argument(
        "--server-rounds", type=positive_int, default=SERVER_ROUNDS, help="load runs per server"
    )
    parser.add_argument(
        "--server-seconds", type=float, default=SERVER_SECONDS, help="seconds per load run"
    )
    parser.add_argument("--no-server", action="store_true", help="skip the uvicorn benchmark")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: few rounds, short load runs"
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "bench.json", metavar="PATH")
    parser.add_argument("--chart", type=Path, default=RESULTS / "performance.png", metavar="PATH")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    if args.ops is None:
        args.ops = QUICK_OPS if args.quick else DEFAULT_OPS
    if args.quick:
        args.server_rounds, args.server_seconds = 1, 1.0
    args.tenant_levels = QUICK_TENANT_LEVELS if args.quick else TENANT_LEVELS
    args.cached_levels = QUICK_CACHED_LEVELS if args.quick else CACHED_LEVELS
    args.scale_rounds = QUICK_SCALE_ROUNDS if args.quick else SCALE_ROUNDS
    args.fresh_tokens = QUICK_FRESH_TOKENS if args.quick else server.FRESH_TOKENS
    return args


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ratios(results: Sequence[CaseResult], name: str) -> tuple[float, float]:
    """The median ratio and the fastest-round ratio of case `name` to its baseline."""
    result = _case(results, name)
    ratio, fastest = result.ratio(results), result.ratio(results, fastest=True)
    if ratio is None or fastest is None:
        raise ValueError(f"{name} has no baseline")
    return ratio, fastest


def _case(results: Sequence[CaseResult], name: str) -> CaseResult:
    return next(result for result in results if result.name == name)


@dataclass(frozen=True, slots=True)
class Target:
    """One target of the issue: what was measured, the goal, and whether it is met."""

    label: str
    measured: str
    fastest: str
    goal: str
    met: bool

    def as_json(self) -> dict[str, object]:
        """The target as a JSON object."""
        return {
            "target": self.label,
            "measured": self.measured,
            "fastest": self.fastest,
            "goal": self.goal,
            "met": self.met,
        }


def _at_most(label: str, value: float, fastest: float | None, goal: float, unit: str) -> Target:
    def text(number: float) -> str:
        return f"{number:.0%}" if unit == "%" else f"{number:.2f}{unit}"

    return Target(
        label,
        text(value),
        "" if fastest is None else text(fastest),
        f"<= {text(goal)}",
        value <= goal,
    )


def _at_least(label: str, value: float, fastest: float | None, goal: float, unit: str) -> Target:
    target = _at_most(label, value, fastest, goal, unit)
    return Target(label, target.measured, target.fastest, f">= {target.goal[3:]}", value >= goal)


def _server_targets(servers: Sequence[server.ServerResult]) -> list[Target]:
    by_name = {s.name: s for s in servers}

    def share(name: str, of: str) -> tuple[float, float]:
        best = max(r.rps for r in by_name[name].runs) / max(r.rps for r in by_name[of].runs)
        return by_name[name].rps / by_name[of].rps, best

    repeated, fresh = server.DOCUMENTED_REPEATED, server.DOCUMENTED_FRESH
    return [
        _at_least(
            "uvicorn: documented route / unprotected, repeated",
            *share(repeated, server.UNPROTECTED),
            0.9,
            "%",
        ),
        _at_least(
            "uvicorn: documented route / unprotected, fresh",
            *share(fresh, server.UNPROTECTED),
            0.7,
            "%",
        ),
        _at_least(
            "uvicorn: requests/s / fastapi-azure-auth's, repeated",
            *share(repeated, server.AZURE_AUTH_REPEATED),
            2.0,
            "x",
        ),
        _at_least(
            "uvicorn: requests/s / fastapi-azure-auth's, fresh",
            *share(fresh, server.AZURE_AUTH_FRESH),
            1.5,
            "x",
        ),
    ]


def _print_targets(targets: Sequence[Target]) -> None:
    print("Targets (ratios from this run; medians, then fastest rounds or runs)")
    width = max(len(t.label) for t in targets)
    for t in targets:
        verdict = "met" if t.met else "NOT met"
        print(f"  {t.label:<{width}} {t.measured:>8} {t.fastest:>8}  (target {t.goal}: {verdict})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything, print the tables, write the JSON and the chart; return the exit code."""
    args = _parse_args(argv)
    started = time.perf_counter()
    env = environment(
        [
            "aad-guard",
            "PyJWT",
            "cryptography",
            "anyio",
            "httpx",
            "starlette",
            "fastapi",
            "uvicorn",
            "fastapi-azure-auth",
        ],
        extra={
            "OpenSSL": openssl_backend.openssl_version_text().split()[1],
            "load generator": server.load_generator(),
        },
    )
    print(
        "aad_guard benchmarks" + (" (quick: few rounds, smaller scale cases)" if args.quick else "")
    )
    print(f"python    {env.python} {env.python_build}")
    print(f"platform  {env.platform}, {env.cpu_count} CPUs, {env.cpu_model}")
    print("versions  " + ", ".join(f"{name} {version}" for name, version in env.versions.items()))
    print(f"load      {' '.join(f'{n:.2f}' for n in os.getloadavg())} (1, 5, 15 min) at start")
    print()

    # First, while the process holds few objects.
    _progress("memory")
    mem = anyio.run(memory.measure, backend="asyncio")

    with LocalIssuerServer() as issuer_server:
        issuer = issuer_server.issuer
        tokens = inprocess.mint(issuer, rounds=args.rounds, ops=args.ops)
        _progress(f"in-process: {args.rounds} rounds x {args.ops} ops per case")
        cases = anyio.run(
            partial(
                inprocess.measure,
                issuer,
                tokens,
                authority=issuer_server.url,
                rounds=args.rounds,
                on_round=lambda r: _progress(f"  round {r + 1}/{args.rounds}"),
            ),
            backend="asyncio",
        )
    print(
        f"In-process ({args.rounds} rounds x {args.ops} ops per case, cases interleaved, gc off "
        f"while timing; token {len(tokens.repeated)} characters, RS256)"
    )
    print(timing_table(cases))
    print()

    servers: list[server.ServerResult] = []
    if not args.no_server:
        _progress(f"server: {args.server_rounds} rounds x {args.server_seconds:g} s per server")
        servers = server.measure(
            rounds=args.server_rounds,
            seconds=args.server_seconds,
            fresh_tokens=args.fresh_tokens,
            on_progress=_progress,
        )
        print(
            f"uvicorn on loopback, 1 worker each; {server.load_generator()}, "
            f"{server.CONNECTIONS} connections, {args.server_rounds} runs x "
            f"{args.server_seconds:g} s, alternating; fresh: {args.fresh_tokens} tokens in turn"
        )
        rows = [
            (
                s.name,
                f"{s.rps:.0f}",
                f"{s.p50_ms:.2f}",
                f"{s.p99_ms:.2f}",
                " ".join(f"{run.rps:.0f}" for run in s.runs),
                str(sum(r.errors for r in s.runs)),
            )
            for s in servers
        ]
        print(
            render_table(
                ("server", "requests/s", "p50 ms", "p99 ms", "runs (req/s)", "non-2xx"), rows
            )
        )
        print()

    _progress("scale: tenants")
    tenants = anyio.run(
        partial(
            scale.tenants,
            LocalIssuer(),
            args.tenant_levels,
            rounds=args.scale_rounds,
            app_for=documented_app,
            on_progress=_progress,
        ),
        backend="asyncio",
    )
    print(
        f"Tenants, each reusing one real-size token, the documented route in-process, default "
        f"settings ({args.scale_rounds} rounds)"
    )
    print(timing_table(tenants))
    print()
    _progress("scale: cached tokens")
    cached = anyio.run(
        partial(scale.cached, args.cached_levels, on_progress=_progress), backend="asyncio"
    )
    print("Cached tokens (real-size tokens; stalls: the longest event-loop step, processor time)")
    print(
        render_table(
            (
                "entries",
                "hit µs",
                "bytes/entry",
                "beyond token",
                "charged",
                "GC objects",
                "stall new keys ms",
                "(wall)",
                "stall same keys ms",
                "full GC ms",
            ),
            [
                (
                    str(c.entries),
                    f"{c.hit_us:.2f}",
                    f"{c.bytes_per_entry:.0f}",
                    f"{c.bytes_beyond_token:.0f}",
                    f"{c.charged_per_entry:.0f}",
                    f"{c.gc_objects_per_entry:.1f}",
                    f"{c.stall_new_keys_ms:.3f}",
                    f"{c.stall_new_keys_wall_ms:.3f}",
                    f"{c.stall_same_keys_ms:.3f}",
                    f"{c.full_gc_ms:.1f}",
                )
                for c in cached
            ],
        )
    )
    print()

    _progress("cold start")
    cold = anyio.run(coldstart.measure, COLD_START_LEVELS, backend="asyncio")
    print(
        f"Cold start: N concurrent first requests, issuer latency {coldstart.LATENCY * 1000:.0f} ms"
    )
    print(
        render_table(
            ("v1 metadata too", "N", "wall ms", "metadata GETs", "JWKS GETs", "200s"),
            [
                (
                    "yes" if c.accept_v1_tokens else "no",
                    str(c.concurrency),
                    f"{c.wall_ms:.1f}",
                    str(c.metadata_fetches),
                    str(c.jwks_fetches),
                    str(c.ok),
                )
                for c in cold
            ],
        )
    )
    print()

    fleet: list[fleet_cache.FleetRun] = []
    if not args.no_server:
        _progress(f"fleet: uvicorn --workers {fleet_cache.WORKERS}, without and with Redis")
        fleet = fleet_cache.measure()
        print(
            f"Fleet: {fleet_cache.WORKERS} uvicorn workers, refresh_interval "
            f"{fleet_cache.REFRESH_INTERVAL:g} s, {fleet_cache.INTERVALS} intervals of traffic "
            "(bench/fleet_cache.py)"
        )
        print(fleet_cache.table(fleet))
        print()

    print("Memory (tracemalloc)")
    print(
        f"  per cached tenant: {mem.per_tenant_bytes / 1024:.1f} KiB "
        f"(metadata + {mem.keys_per_tenant} RSA keys, Python objects only)"
    )
    print(
        f"  per cached token:  {mem.per_token_bytes / 1024:.2f} KiB for a "
        f"{mem.token_characters}-character token (max_token_cache_bytes charges "
        f"{mem.charged_per_token / 1024:.2f} KiB)"
    )
    print(
        f"  objects the garbage collector tracks, per cached token: {mem.gc_objects_per_token:.1f}"
    )
    print()

    bare = _case(cases, inprocess.NO_OP)
    guarded = next(result for result in cases if result.baseline == inprocess.NO_OP)
    print(
        f"The middleware's own cost with a repeated token: "
        f"{guarded.median_us - bare.median_us:.2f} µs (medians), "
        f"{guarded.min_us - bare.min_us:.2f} µs (fastest rounds) per request"
    )
    print()
    targets = _targets(cases, servers, tenants, cached, cold)
    _print_targets(targets)
    unmet = [t.label for t in targets if not t.met]
    print(
        f"{len(targets) - len(unmet)} of {len(targets)} targets met"
        + ("; not met: " + "; ".join(unmet) if unmet else "")
    )

    document: dict[str, object] = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": env.as_json(),
        "load_average_at_end": list(os.getloadavg()),
        "settings": {
            "quick": args.quick,
            "rounds": args.rounds,
            "ops_per_round": args.ops,
            "server_rounds": args.server_rounds,
            "server_seconds": args.server_seconds,
            "fresh_tokens": args.fresh_tokens,
            "timer": "time.perf_counter_ns",
            "event_loop": "asyncio via anyio.run",
        },
        "targets": [t.as_json() for t in targets],
        "in_process_us_per_op": [result.as_json(cases) for result in cases],
        "server": [s.as_json() for s in servers],
        "tenants_us_per_request": [result.as_json(tenants) for result in tenants],
        "cached_tokens": [c.as_json() for c in cached],
        "cold_start": [c.as_json() for c in cold],
        "fleet_cache": [run.as_json() for run in fleet],
        "memory": mem.as_json(),
    }
    write_json(args.json, document)
    write_chart(
        args.chart,
        cases,
        servers,
        tenants=tenants,
        cached=cached,
        title=f"aad_guard, {env.python}, {env.cpu_count} CPUs, {env.cpu_model}",
    )
    _progress(f"wrote {args.json} and {args.chart} ({time.perf_counter() - started:.0f} s in all)")
    return 0


def _targets(
    cases: Sequence[CaseResult],
    servers: Sequence[server.ServerResult],
    tenants: Sequence[CaseResult],
    cached: Sequence[scale.CachedResult],
    cold: Sequence[coldstart.ColdStart],
) -> list[Target]:
    """Every target of the issue, from this run's measurements."""
    unprotected, rsa = _case(cases, inprocess.UNPROTECTED), _case(cases, inprocess.RSA_VERIFY)
    fresh_route = _case(cases, inprocess.DOCUMENTED_FRESH)
    largest, many = tenants[-1], cached[-1]
    tenant_ratio = largest.ratio(tenants)
    tenant_fastest = largest.ratio(tenants, fastest=True)
    single = all(
        c.jwks_fetches == 1 and c.metadata_fetches == (2 if c.accept_v1_tokens else 1) for c in cold
    )
    targets = [
        _at_most(
            "documented route, repeated / unprotected",
            *_ratios(cases, inprocess.DOCUMENTED_REPEATED),
            1.15,
            "x",
        ),
        _at_most("validate() fresh / floor", *_ratios(cases, inprocess.FRESH_VALIDATE), 1.2, "x"),
        _at_most(
            "fresh token in the app (documented - unprotected) / RSA verify",
            (fresh_route.median_us - unprotected.median_us) / rsa.median_us,
            (fresh_route.min_us - unprotected.min_us) / rsa.min_us,
            2.5,
            "x",
        ),
        _at_most(
            f"{largest.name.split(',')[0]} / 1 tenant, per request",
            tenant_ratio or 0.0,
            tenant_fastest,
            3.0,
            "x",
        ),
        _at_most(
            f"bytes per cached entry beyond the token, {many.entries} entries",
            many.bytes_beyond_token / 1024,
            None,
            2.0,
            " KiB",
        ),
        _at_most(
            f"longest loop stall in a key refresh, {many.entries} entries",
            many.stall_new_keys_ms,
            None,
            1.0,
            " ms",
        ),
        _at_least(
            "in-process: documented route vs fastapi-azure-auth, repeated",
            _case(cases, inprocess.AZURE_AUTH_REPEATED).median_us
            / _case(cases, inprocess.DOCUMENTED_REPEATED).median_us,
            _case(cases, inprocess.AZURE_AUTH_REPEATED).min_us
            / _case(cases, inprocess.DOCUMENTED_REPEATED).min_us,
            2.0,
            "x",
        ),
        _at_least(
            "in-process: documented route vs fastapi-azure-auth, fresh",
            _case(cases, inprocess.AZURE_AUTH_FRESH).median_us / fresh_route.median_us,
            _case(cases, inprocess.AZURE_AUTH_FRESH).min_us / fresh_route.min_us,
            1.5,
            "x",
        ),
    ]
    if servers:
        targets += _server_targets(servers)
    targets.append(
        Target(
            "cold start: one GET per document, every N",
            "yes" if single else "no",
            "",
            "yes",
            single,
        )
    )
    return targets
