"""`python -m bench.timeline`: what a key rotation and an outage look like in the metrics.

A short soak (bench/soak.py's traffic: a simulated clock at 0.1 s per request, one request
in twenty hostile) through the guarded app with the OpenTelemetry SDK configured, read every
30 simulated seconds from an in-memory metric reader. The script:

- sends the soak's forged, expired and junk tokens, not its unknown key id (its refetches,
  one per 30 s cooldown, would hide the scheduled refreshes);
- refreshes keys every 30 minutes (`refresh_interval=1800`, so a run of 2.5 hours has a few);
- at minute 50 publishes a new key and signs with it at once (an emergency rollover, not
  announced in advance): the validator learns it by an `unknown_kid` refetch;
- from minute 67 to minute 108 the identity provider is down (connection refused): the
  refresh fails, retries back off, the kept keys serve (`stale_validations`), and at
  minute 92 a second unannounced key makes tokens signed with it fail as `unknown_kid`
  until the provider is back.

It draws `docs/operations.png` (refusals by reason, fetches by reason and result, key age
and stale validations) and writes the series to `bench/results/timeline.json`.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from aad_guard import AADGuardMiddleware, Telemetry, TokenValidator
from aad_guard.testing import LocalIssuer

from ._app import PATH, call
from .soak import TICK, SimulatedClock, Traffic, hello

__all__ = ["Timeline", "main", "run"]

RESULTS = Path(__file__).parent / "results" / "timeline.json"
CHART = Path(__file__).parent.parent / "docs" / "operations.png"
REQUESTS = 90_000
SAMPLE_EVERY = 300  # requests: 30 simulated seconds
FIRST_ROLLOVER, SECOND_ROLLOVER = 30_000, 55_000
OUTAGE = (40_000, 65_000)


@dataclass
class Timeline:
    """The series the chart draws, one value per sample (minutes since the start)."""

    minutes: list[float] = field(default_factory=list)
    refusals: dict[str, list[float]] = field(default_factory=dict)
    stale: list[float] = field(default_factory=list)
    key_age_minutes: list[float] = field(default_factory=list)
    fetches: list[tuple[float, str, str]] = field(default_factory=list)
    rollovers: list[float] = field(default_factory=list)
    outage: tuple[float, float] = (0.0, 0.0)


def _points(reader: InMemoryMetricReader, name: str) -> Iterable[tuple[dict[str, object], float]]:
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        # A histogram's point has a count, a sum's or a gauge's a value.
                        value: float = getattr(point, "count", getattr(point, "value", 0))
                        yield dict(point.attributes or {}), float(value)


class Sampler:
    """Turns the reader's cumulative totals into what happened since the last sample."""

    def __init__(self, reader: InMemoryMetricReader, timeline: Timeline) -> None:
        self.reader = reader
        self.timeline = timeline
        self.refusals: Counter[str] = Counter()
        self.fetches: Counter[tuple[str, str]] = Counter()
        self.stale = 0.0

    def sample(self, minute: float) -> None:
        timeline = self.timeline
        timeline.minutes.append(minute)
        refusals: Counter[str] = Counter()
        for attributes, count in _points(self.reader, "aad_guard.authentication.duration"):
            if attributes["aad_guard.authentication.result"] == "failure":
                refusals[str(attributes["error.type"])] += int(count)
        for reason in refusals | self.refusals:
            series = timeline.refusals.setdefault(reason, [0.0] * (len(timeline.minutes) - 1))
            series.append(refusals[reason] - self.refusals[reason])
        for series in timeline.refusals.values():
            series.extend([0.0] * (len(timeline.minutes) - len(series)))
        self.refusals = refusals
        fetches: Counter[tuple[str, str]] = Counter()
        for attributes, count in _points(self.reader, "aad_guard.keys.fetch.duration"):
            key = (
                str(attributes["aad_guard.fetch.reason"]),
                str(attributes["aad_guard.fetch.result"]),
            )
            fetches[key] += int(count)
        for key in fetches:
            timeline.fetches += [(minute, *key)] * (fetches[key] - self.fetches[key])
        self.fetches = fetches
        stale = sum(count for _, count in _points(self.reader, "aad_guard.keys.stale_validations"))
        timeline.stale.append(stale - self.stale)
        self.stale = stale
        ages = [value for _, value in _points(self.reader, "aad_guard.keys.age")]
        timeline.key_age_minutes.append(ages[0] / 60 if ages else 0.0)


async def run(requests: int = REQUESTS) -> Timeline:
    """Drive the traffic and sample the metrics; the series of the chart."""
    clock = SimulatedClock()
    start = clock.now
    issuer = LocalIssuer(clock=clock)
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    timeline = Timeline(outage=(OUTAGE[0] * TICK / 60, OUTAGE[1] * TICK / 60))
    sampler = Sampler(reader, timeline)
    logging.getLogger("aad_guard").disabled = True  # refusals are counted, not printed
    async with issuer.client() as client:
        validator = TokenValidator(
            client_id=issuer.client_id,
            clock=clock,
            http_client=client,
            refresh_interval=1800,
            telemetry=Telemetry(meter_provider=meters, enabled=True),
        )
        app = Starlette(routes=[Route(PATH, hello)])
        app.add_middleware(AADGuardMiddleware, validator=validator)
        guarded: ASGIApp = app.build_middleware_stack()
        traffic = Traffic(issuer, clock)
        for done in range(1, requests + 1):
            clock.now += TICK
            if done in (FIRST_ROLLOVER, SECOND_ROLLOVER):
                issuer.keys.rotate()  # published and signing at once
                traffic.mint()
                timeline.rollovers.append((clock.now - start) / 60)
            if done == OUTAGE[0]:
                issuer.simulate("down")
            if done == OUTAGE[1]:
                issuer.simulate(None)
            if done % 3000 == 0:
                traffic.mint()
            if done % 20 == 0:
                # The forged, expired and junk tokens of the soak; not its unknown key id,
                # whose refetches (one per 30 s cooldown) would hide the scheduled refreshes.
                hostile = [t for t in traffic.hostile if t not in traffic.unknown_kid]
                token = hostile[(done // 20) % len(hostile)]
            else:
                token = traffic.valid[done % len(traffic.valid)]
            await call(guarded, token)
            if done % 100 == 0:
                await anyio.wait_all_tasks_blocked()  # let a background fetch finish
                issuer.requests.clear()
            if done % SAMPLE_EVERY == 0:
                sampler.sample((clock.now - start) / 60)
        await validator.aclose()
    meters.shutdown()
    return timeline


def draw(timeline: Timeline, path: Path) -> None:
    """Three panels over simulated minutes: refusals, fetches, key age and stale serving."""
    import matplotlib.pyplot as plt  # noqa: PLC0415 (the bench group only)

    plt.switch_backend("agg")
    figure, (refusals, fetches, keys) = plt.subplots(
        3, 1, figsize=(11, 8.5), sharex=True, height_ratios=[3, 2, 2.4]
    )
    minutes = timeline.minutes
    width = minutes[1] - minutes[0] if len(minutes) > 1 else 0.5
    bottom = [0.0] * len(minutes)
    for reason, series in sorted(timeline.refusals.items(), key=lambda item: -sum(item[1])):
        refusals.bar(minutes, series, width=width, bottom=bottom, label=reason, align="edge")
        bottom = [b + s for b, s in zip(bottom, series, strict=True)]
    refusals.set_ylabel("refusals per 30 s")
    refusals.set_title("aad_guard.authentication.duration (count), failures by error.type")
    refusals.legend(loc="upper right", fontsize=8)

    reasons = ["cold", "refresh", "unknown_kid", "retry"]
    for result, marker, color in (("success", "o", "#2a9d3f"), ("failure", "x", "#d62728")):
        points = [(m, reasons.index(r)) for m, r, res in timeline.fetches if res == result]
        if points:
            xs, ys = zip(*points, strict=True)
            fetches.scatter(xs, ys, marker=marker, color=color, label=result, zorder=3)
    fetches.set_yticks(range(len(reasons)), reasons)
    fetches.set_ylim(-0.6, len(reasons) - 0.4)
    fetches.set_title("aad_guard.keys.fetch.duration (count), by aad_guard.fetch.reason and result")
    fetches.legend(loc="upper left", fontsize=8)

    keys.plot(minutes, timeline.key_age_minutes, color="#1f3b73", linewidth=2)
    keys.set_ylabel("aad_guard.keys.age (min)", color="#1f3b73")
    stale = keys.twinx()
    stale.bar(minutes, timeline.stale, width=width, color="#e8a33d", alpha=0.5, align="edge")
    stale.set_ylabel("stale validations per 30 s", color="#b57714")
    keys.set_zorder(stale.get_zorder() + 1)  # the age line over the bars
    keys.patch.set_visible(False)
    keys.set_title("aad_guard.keys.age and aad_guard.keys.stale_validations")
    keys.set_xlabel("simulated minutes")

    for axis in (refusals, fetches, keys):
        axis.axvspan(*timeline.outage, color="#d62728", alpha=0.08, zorder=0)
        for minute in timeline.rollovers:
            axis.axvline(minute, color="#555555", linestyle="--", linewidth=1)
    top = refusals.get_ylim()[1]
    refusals.text(timeline.outage[0] + 1, top * 0.92, "identity provider down", fontsize=8)
    for minute in timeline.rollovers:
        refusals.text(minute + 0.5, top * 0.8, "new key", fontsize=8, rotation=90)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.timeline", description=__doc__)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--chart", type=Path, default=CHART)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    timeline = anyio.run(run, args.requests, backend="asyncio")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(timeline.__dict__, indent=1) + "\n", encoding="utf-8")
    draw(timeline, args.chart)
    totals = {reason: int(sum(series)) for reason, series in timeline.refusals.items()}
    print(f"refusals: {totals}")
    print(f"fetches: {Counter((r, res) for _, r, res in timeline.fetches)}")
    print(f"stale validations: {int(sum(timeline.stale))}")
    print(f"written {args.chart} and {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
