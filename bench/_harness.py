"""Timing rounds, their statistics, the machine they ran on, and the table and JSON reports."""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = [
    "Case",
    "CaseResult",
    "Environment",
    "Timer",
    "async_timer",
    "environment",
    "render_table",
    "run_rounds",
    "sync_timer",
    "timing_table",
    "write_json",
]

Timer = Callable[[Sequence[str]], Awaitable[int]]
"""Runs one operation per token and returns the nanoseconds the whole batch took."""


@contextmanager
def _gc_paused() -> Iterator[None]:
    # A collection landing in one round and not the next is noise, not the code under test:
    # collect before the round, then keep the collector off while the clock runs.
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def sync_timer(operation: Callable[[str], object]) -> Timer:
    """A timer that calls `operation(token)` for each token in a plain loop."""

    async def timer(tokens: Sequence[str]) -> int:
        with _gc_paused():
            start = time.perf_counter_ns()
            for token in tokens:
                operation(token)
            return time.perf_counter_ns() - start

    return timer


def async_timer(operation: Callable[[str], Awaitable[object]]) -> Timer:
    """A timer that awaits `operation(token)` for each token, one after another, in this loop."""

    async def timer(tokens: Sequence[str]) -> int:
        with _gc_paused():
            start = time.perf_counter_ns()
            for token in tokens:
                await operation(token)
            return time.perf_counter_ns() - start

    return timer


@dataclass(frozen=True, slots=True)
class Case:
    """One thing to time.

    Attributes:
        name: The row label.
        description: What one operation is, for the legend.
        timer: Runs the operation over a batch of tokens.
        tokens: The batch of round `r` (distinct tokens when the case is about fresh ones).
        warmup: A batch run once, untimed, before the first round.
        baseline: The case this one is compared with (`None`: it is a baseline itself).
    """

    name: str
    description: str
    timer: Timer
    tokens: Callable[[int], Sequence[str]]
    warmup: Sequence[str]
    baseline: str | None = None


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The time per operation of one case in each round, in nanoseconds."""

    name: str
    description: str
    ops: int
    per_op_ns: tuple[float, ...]
    baseline: str | None

    @property
    def median_us(self) -> float:
        """Median across rounds of the time per operation, in microseconds."""
        return statistics.median(self.per_op_ns) / 1000

    @property
    def min_us(self) -> float:
        """Fastest round's time per operation, in microseconds."""
        return min(self.per_op_ns) / 1000

    @property
    def max_us(self) -> float:
        """Slowest round's time per operation, in microseconds."""
        return max(self.per_op_ns) / 1000

    @property
    def quartiles_us(self) -> tuple[float, float]:
        """The first and third quartiles across rounds, in microseconds."""
        if len(self.per_op_ns) < 2:
            return self.min_us, self.max_us
        first, _, third = statistics.quantiles(self.per_op_ns, n=4)
        return first / 1000, third / 1000

    @property
    def spread(self) -> float:
        """(max - min) / median across rounds: how noisy the case was."""
        return (self.max_us - self.min_us) / self.median_us

    def ratio(self, results: Sequence[CaseResult], *, fastest: bool = False) -> float | None:
        """Median over the median of this case's baseline among `results`.

        With `fastest`, the fastest round over the baseline's fastest round: on a busy
        machine other processes only ever add time, so the fastest rounds are the ones
        least disturbed.
        """
        if self.baseline is None:
            return None
        baseline = next(result for result in results if result.name == self.baseline)
        if fastest:
            return self.min_us / baseline.min_us
        return self.median_us / baseline.median_us

    def as_json(self, results: Sequence[CaseResult]) -> dict[str, object]:
        """The result as a JSON object, with its ratio to its baseline among `results`."""
        ratio = self.ratio(results)
        fastest = self.ratio(results, fastest=True)
        return {
            "name": self.name,
            "description": self.description,
            "ops_per_round": self.ops,
            "median_us": round(self.median_us, 3),
            "min_us": round(self.min_us, 3),
            "max_us": round(self.max_us, 3),
            "baseline": self.baseline,
            "ratio": None if ratio is None else round(ratio, 3),
            "ratio_of_fastest_rounds": None if fastest is None else round(fastest, 3),
            "rounds_us": [round(ns / 1000, 3) for ns in self.per_op_ns],
        }


async def run_rounds(
    cases: Sequence[Case],
    *,
    rounds: int,
    on_round: Callable[[int], None] | None = None,
) -> list[CaseResult]:
    """Warm every case once, then time every case in each of `rounds` rounds.

    The cases take turns within a round, so a slow patch of the machine (another process, a
    frequency change) lands on all of them rather than on one.
    """
    for case in cases:
        await case.timer(case.warmup)
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    sizes: dict[str, int] = {}
    for index in range(rounds):
        if on_round is not None:
            on_round(index)
        # Rotate the order each round so no case always runs first or last.
        shift = index % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            tokens = case.tokens(index)
            elapsed = await case.timer(tokens)
            samples[case.name].append(elapsed / len(tokens))
            sizes[case.name] = len(tokens)
    return [
        CaseResult(
            case.name,
            case.description,
            sizes[case.name],
            tuple(samples[case.name]),
            case.baseline,
        )
        for case in cases
    ]


def _cpu_model() -> str | None:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or None


@dataclass(frozen=True, slots=True)
class Environment:
    """The interpreter, machine and library versions a result depends on."""

    python: str
    python_build: str
    platform: str
    cpu_count: int | None
    cpu_model: str | None
    versions: Mapping[str, str]

    def as_json(self) -> dict[str, object]:
        """The environment as a JSON object."""
        return {
            "python": self.python,
            "python_build": self.python_build,
            "platform": self.platform,
            "cpu_count": self.cpu_count,
            "cpu_model": self.cpu_model,
            "versions": dict(self.versions),
        }


def environment(distributions: Sequence[str], *, extra: Mapping[str, str]) -> Environment:
    """Describe this process's environment: the versions of `distributions`, and `extra`."""
    return Environment(
        python=f"{platform.python_implementation()} {sys.version.split()[0]}",
        python_build=" ".join(sys.version.split()[1:]),
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        cpu_model=_cpu_model(),
        versions={**{name: metadata.version(name) for name in distributions}, **extra},
    )


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def timing_table(results: Sequence[CaseResult]) -> str:
    """Median, min, max µs per op, spread across rounds, and the ratios to each baseline."""
    header = ("case", "median µs/op", "min", "max", "spread", "ratio", "min ratio", "vs")
    rows = []
    for result in results:
        ratio = result.ratio(results)
        fastest = result.ratio(results, fastest=True)
        rows.append(
            (
                result.name,
                f"{result.median_us:.2f}",
                f"{result.min_us:.2f}",
                f"{result.max_us:.2f}",
                f"{result.spread:.0%}",
                "" if ratio is None else f"{ratio:.2f}x",
                "" if fastest is None else f"{fastest:.2f}x",
                result.baseline or "(baseline)",
            )
        )
    return render_table(header, rows)


def write_json(path: Path, document: Mapping[str, object]) -> None:
    """Write `document` to `path` as indented JSON, creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
