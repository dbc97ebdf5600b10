"""`python -m bench`: every benchmark in one run, a table, a JSON file and a PNG chart."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import anyio
from cryptography.hazmat.backends.openssl import backend as openssl_backend

from aad_guard.testing import LocalIssuer

from . import coldstart, inprocess, memory, server
from ._harness import CaseResult, environment, render_table, timing_table, write_json
from .chart import write_chart

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"
DEFAULT_ROUNDS, DEFAULT_OPS = 25, 300
QUICK_ROUNDS, QUICK_OPS = 3, 50
SERVER_ROUNDS, SERVER_SECONDS = 5, 4.0
COLD_START_LEVELS = (1, 10, 100, 1000)

REPEATED = "ASGI protected, repeated token"
FRESH_VALIDATE = "validate() fresh"


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
    return args


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ratios(results: Sequence[CaseResult], name: str) -> tuple[float, float]:
    """The median ratio and the fastest-round ratio of case `name` to its baseline."""
    result = next(result for result in results if result.name == name)
    ratio, fastest = result.ratio(results), result.ratio(results, fastest=True)
    if ratio is None or fastest is None:
        raise ValueError(f"{name} has no baseline")
    return ratio, fastest


def _target(label: str, measured: str, fastest: str, goal: str, *, met: bool) -> None:
    verdict = "met" if met else "NOT met"
    print(f"  {label:<46} {measured:>6} {fastest:>6}  (target {goal}: {verdict})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything, print the tables, write the JSON and the chart; return the exit code."""
    args = _parse_args(argv)
    started = time.perf_counter()
    env = environment(
        ["aad-guard", "PyJWT", "cryptography", "anyio", "httpx", "starlette", "fastapi", "uvicorn"],
        extra={
            "OpenSSL": openssl_backend.openssl_version_text().split()[1],
            "load generator": server.load_generator(),
        },
    )
    print("aad_guard benchmarks")
    print(f"python    {env.python} {env.python_build}")
    print(f"platform  {env.platform}, {env.cpu_count} CPUs, {env.cpu_model}")
    print("versions  " + ", ".join(f"{name} {version}" for name, version in env.versions.items()))
    print()

    # First, while the process holds few objects.
    _progress("memory")
    mem = anyio.run(memory.measure, backend="asyncio")

    issuer = LocalIssuer()
    tokens = inprocess.mint(issuer, rounds=args.rounds, ops=args.ops)
    _progress(f"in-process: {args.rounds} rounds x {args.ops} ops per case")
    cases = anyio.run(
        partial(
            inprocess.measure,
            issuer,
            tokens,
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
        servers = server.measure(rounds=args.server_rounds, seconds=args.server_seconds)
        print(
            f"uvicorn on loopback, 1 worker each; {server.load_generator()}, "
            f"{server.CONNECTIONS} connections, {args.server_rounds} runs x "
            f"{args.server_seconds:g} s, alternating"
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

    repeated, repeated_fastest = _ratios(cases, REPEATED)
    fresh, fresh_fastest = _ratios(cases, FRESH_VALIDATE)
    bare = next(result for result in cases if result.name == inprocess.NO_OP)
    guarded = next(result for result in cases if result.baseline == inprocess.NO_OP)
    print(
        f"The middleware's own cost with a repeated token: "
        f"{guarded.median_us - bare.median_us:.2f} µs (medians), "
        f"{guarded.min_us - bare.min_us:.2f} µs (fastest rounds) per request"
    )
    print()
    print("Targets (ratios from this run; medians, then fastest rounds)")
    _target(
        "repeated token, protected / unprotected route",
        f"{repeated:.2f}x",
        f"{repeated_fastest:.2f}x",
        "<= 1.10x",
        met=repeated <= 1.10,
    )
    _target(
        "validate() fresh / floor",
        f"{fresh:.2f}x",
        f"{fresh_fastest:.2f}x",
        "<= 1.50x",
        met=fresh <= 1.5,
    )
    if servers:
        by_name = {s.name: s for s in servers}
        plain, control = by_name[server.UNPROTECTED], by_name[server.CONTROL]
        share = by_name[server.PROTECTED].rps / plain.rps
        best = max(r.rps for r in by_name[server.PROTECTED].runs) / max(r.rps for r in plain.runs)
        _target(
            "server protected / unprotected requests/s",
            f"{share:.0%}",
            f"{best:.0%}",
            ">= 90%",
            met=share >= 0.9,
        )
        print(
            f"  {'  control: 2nd unprotected / unprotected':<46} {control.rps / plain.rps:>6.0%} "
            f"{max(r.rps for r in control.runs) / max(r.rps for r in plain.runs):>6.0%}"
            "  (the noise between identical servers)"
        )
    single = all(
        c.jwks_fetches == 1 and c.metadata_fetches == (2 if c.accept_v1_tokens else 1) for c in cold
    )
    _target(
        "cold start: one GET per document, every N",
        "yes" if single else "no",
        "",
        "yes",
        met=single,
    )

    document: dict[str, object] = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": env.as_json(),
        "settings": {
            "rounds": args.rounds,
            "ops_per_round": args.ops,
            "server_rounds": args.server_rounds,
            "server_seconds": args.server_seconds,
            "timer": "time.perf_counter_ns",
            "event_loop": "asyncio via anyio.run",
        },
        "in_process_us_per_op": [result.as_json(cases) for result in cases],
        "server": [s.as_json() for s in servers],
        "cold_start": [c.as_json() for c in cold],
        "memory": mem.as_json(),
    }
    write_json(args.json, document)
    write_chart(
        args.chart,
        cases,
        servers,
        title=f"aad_guard, {env.python}, {env.cpu_count} CPUs, {env.cpu_model}",
    )
    _progress(f"wrote {args.json} and {args.chart} ({time.perf_counter() - started:.0f} s in all)")
    return 0
