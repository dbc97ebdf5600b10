"""`python -m bench.telemetry`: what OpenTelemetry costs a request, side by side.

Three settings of the same validator, each timed on the hot paths (`validate()` with a
repeated token, the same through the middleware in front of a no-op app, and `validate()`
with a fresh token), rounds interleaved:

- `absent`: `Telemetry(enabled=False)`, the code path of an install without the `otel`
  extra (every hook returns at its first line; the process has opentelemetry-api, as
  FastAPI requires it, so "not installed" cannot be had in-process).
- `unconfigured`: `Telemetry()` on the global providers, with no SDK configured: the API's
  proxies receive every measurement and span and drop them.
- `configured`: the OpenTelemetry SDK: a `MeterProvider` with an in-memory reader (the
  aggregation cost is paid at each measurement; collecting happens once, at the end) and a
  `TracerProvider` sampling every span into a `BatchSpanProcessor` whose exporter drops them.

The absent setting is each group's baseline. Results go to `bench/results/telemetry.json`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from aad_guard import AADGuardMiddleware, Telemetry, TokenValidator
from aad_guard.testing import LocalIssuer

from . import inprocess
from ._harness import Case, CaseResult, async_timer, environment, run_rounds, timing_table
from ._harness import write_json as write_results

__all__ = ["SETTINGS", "main", "measure"]

RESULTS = Path(__file__).parent / "results" / "telemetry.json"
SETTINGS = ("absent", "unconfigured", "configured")


class _DroppingExporter(SpanExporter):
    """Accepts every batch and keeps nothing: the export's network cost is not ours."""

    def export(self, _spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _telemetry(setting: str) -> tuple[Telemetry, list[object]]:
    """The `Telemetry` of a setting, and the SDK providers to shut down afterwards."""
    if setting == "absent":
        return Telemetry(enabled=False), []
    if setting == "unconfigured":
        return Telemetry(), []
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tracers = TracerProvider()
    tracers.add_span_processor(BatchSpanProcessor(_DroppingExporter()))
    return Telemetry(meter_provider=meters, tracer_provider=tracers), [meters, tracers]


async def measure(
    issuer: LocalIssuer, tokens: inprocess.Tokens, *, rounds: int
) -> list[CaseResult]:
    """Time each hot path under each setting, rounds interleaved."""

    def fresh(r: int) -> Sequence[str]:
        return tokens.rounds[r]

    def repeated(r: int) -> Sequence[str]:
        return [tokens.repeated] * len(tokens.rounds[r])

    repeated_warmup = [tokens.repeated] * len(tokens.warmup)
    cases: list[Case] = []
    validators: list[TokenValidator] = []
    providers: list[object] = []
    async with issuer.client() as client:
        for setting in SETTINGS:
            telemetry, owned = _telemetry(setting)
            providers += owned

            def validator(telemetry: Telemetry = telemetry) -> TokenValidator:
                made = TokenValidator(
                    client_id=issuer.client_id, http_client=client, telemetry=telemetry
                )
                validators.append(made)
                return made

            guarded = AADGuardMiddleware(inprocess.no_op, validator=validator())
            cases += [
                Case(
                    f"validate() repeated, {setting}",
                    "await validate(token), one token over and over",
                    async_timer(validator().validate),
                    repeated,
                    repeated_warmup,
                    None if setting == "absent" else "validate() repeated, absent",
                ),
                Case(
                    f"no-op app, protected, {setting}",
                    "a no-op ASGI app behind AADGuardMiddleware, one token over and over",
                    async_timer(inprocess.asgi(guarded)),
                    repeated,
                    repeated_warmup,
                    None if setting == "absent" else "no-op app, protected, absent",
                ),
                Case(
                    f"validate() fresh, {setting}",
                    "await validate(token), a distinct token each call",
                    async_timer(validator().validate),
                    fresh,
                    tokens.warmup,
                    None if setting == "absent" else "validate() fresh, absent",
                ),
            ]
        for each in validators:
            await each.refresh()
        try:
            results = await run_rounds(
                cases, rounds=rounds, on_round=lambda r: _progress(f"  round {r + 1}/{rounds}")
            )
        finally:
            for each in validators:
                await each.aclose()
            for provider in providers:
                provider.shutdown()  # type: ignore[attr-defined]
    # One table per path, in the order absent, unconfigured, configured.
    return sorted(results, key=lambda result: result.name.rsplit(",", 1)[0])


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the table, write the JSON; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry", description=__doc__)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--json", type=Path, default=RESULTS, metavar="PATH")
    args = parser.parse_args(argv)
    env = environment(
        ["aad-guard", "opentelemetry-api", "opentelemetry-sdk", "PyJWT", "cryptography"],
        extra={},
    )
    issuer = LocalIssuer()
    tokens = inprocess.mint(issuer, rounds=args.rounds, ops=args.ops)
    _progress(f"telemetry overhead: {args.rounds} rounds x {args.ops} ops per case")
    results = anyio.run(partial(measure, issuer, tokens, rounds=args.rounds), backend="asyncio")
    print(
        f"OpenTelemetry overhead ({args.rounds} rounds x {args.ops} ops per case, cases "
        f"interleaved, gc off while timing; {env.python}, {env.cpu_count} CPUs)"
    )
    print(timing_table(results))
    write_results(
        args.json,
        {
            "environment": env.as_json(),
            "rounds": args.rounds,
            "ops": args.ops,
            "cases": [result.as_json(results) for result in results],
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
