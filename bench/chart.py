"""The PNG chart of a run, for docs/performance.md (matplotlib, from the `bench` group)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from ._harness import CaseResult
from .server import ServerResult

__all__ = ["write_chart"]


def write_chart(
    path: Path, cases: Sequence[CaseResult], servers: Sequence[ServerResult], *, title: str
) -> None:
    """In-process µs per operation (median, quartile whiskers) and server requests/s."""
    plt.switch_backend("agg")  # no display: write the file only
    panels = 2 if servers else 1
    figure, axes = plt.subplots(
        1, panels, figsize=(12 if servers else 8, 4.8), width_ratios=[3, 1][:panels]
    )
    left = axes[0] if servers else axes
    names = [case.name for case in cases][::-1]
    medians = [case.median_us for case in cases][::-1]
    low = [case.median_us - case.quartiles_us[0] for case in cases][::-1]
    high = [case.quartiles_us[1] - case.median_us for case in cases][::-1]
    bars = left.barh(names, medians, xerr=[low, high], color="#4c72b0", capsize=3)
    left.bar_label(bars, labels=[f"{m:.1f}" for m in medians], padding=4, fontsize=8)
    left.set_xlabel("µs per operation (median of rounds; whiskers: first and third quartiles)")
    left.set_title("In-process, one event loop")
    left.tick_params(axis="y", labelsize=8)
    if servers:
        right = axes[1]
        labels = [server.name.replace(", ", "\n") for server in servers]
        rps = [server.rps for server in servers]
        spans = [
            [s.rps - min(r.rps for r in s.runs) for s in servers],
            [max(r.rps for r in s.runs) - s.rps for s in servers],
        ]
        bars = right.bar(
            labels,
            rps,
            yerr=spans,
            capsize=3,
            color=["#8c8c8c", "#b0b0b0", "#4c72b0"][: len(servers)],
        )
        right.bar_label(
            bars,
            labels=[f"{s.rps:.0f}/s\np99 {s.p99_ms:.1f} ms" for s in servers],
            fontsize=8,
        )
        right.set_ylabel("requests/s (median of runs; whiskers: slowest and fastest run)")
        right.set_title("uvicorn on loopback")
        right.tick_params(axis="x", labelsize=8)
        right.margins(y=0.2)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
