"""The PNG chart of a run, for docs/performance.md (matplotlib, from the `bench` group)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from ._harness import CaseResult
from .scale import CachedResult
from .server import ServerResult

__all__ = ["write_chart"]


def write_chart(
    path: Path,
    cases: Sequence[CaseResult],
    servers: Sequence[ServerResult],
    *,
    tenants: Sequence[CaseResult],
    cached: Sequence[CachedResult],
    title: str,
) -> None:
    """In-process µs per operation, server requests/s, and how costs grow with the work.

    Top: in-process µs per operation (median, quartile whiskers) and server requests/s.
    Bottom: µs per request as tenants grow, and a cache hit's µs and the longest loop stall
    of a key refresh as cached tokens grow.
    """
    plt.switch_backend("agg")  # no display: write the file only
    figure, grid = plt.subplots(2, 2, figsize=(14, 10), height_ratios=[3, 2])
    left, server_axes = grid[0]
    _scale_panels(grid[1], tenants, cached)
    if not servers:
        server_axes.set_axis_off()
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
        right = server_axes
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
            color=[_server_colour(server.name) for server in servers],
        )
        right.bar_label(
            bars,
            labels=[f"{s.rps:.0f}/s\np99 {s.p99_ms:.1f} ms" for s in servers],
            fontsize=8,
        )
        right.set_ylabel("requests/s (median of runs; whiskers: slowest and fastest run)")
        right.set_title("uvicorn on loopback")
        right.tick_params(axis="x", labelsize=7, rotation=90)
        right.margins(y=0.2)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _scale_panels(
    axes: Sequence[Any], tenants: Sequence[CaseResult], cached: Sequence[CachedResult]
) -> None:
    tenant_axes, cache_axes = axes
    labels = [case.name.split(",")[0] for case in tenants]
    bars = tenant_axes.bar(labels, [case.median_us for case in tenants], color="#4c72b0")
    tenant_axes.bar_label(bars, labels=[f"{case.median_us:.1f}" for case in tenants], fontsize=8)
    tenant_axes.set_ylabel("µs per request (median of rounds)")
    tenant_axes.set_title("Tenants, each reusing a real-size token (documented route)")
    tenant_axes.margins(y=0.2)
    names = [f"{c.entries:,} cached" for c in cached]
    hits = cache_axes.bar(names, [c.hit_us for c in cached], color="#4c72b0", label="hit µs")
    cache_axes.bar_label(
        hits,
        labels=[
            f"hit {c.hit_us:.2f} µs\n{c.bytes_beyond_token:.0f} B beyond token\n"
            f"stall {c.stall_new_keys_ms:.2f} ms"
            for c in cached
        ],
        fontsize=8,
    )
    cache_axes.set_ylabel("µs per cache hit (validate())")
    cache_axes.set_title("Cached tokens: hit, memory, longest loop stall of a refresh")
    cache_axes.margins(y=0.35)


def _server_colour(name: str) -> str:
    """Grey for the bare API, orange for the incumbents, blue for aad_guard."""
    if name.startswith("unprotected"):
        return "#8c8c8c"
    if name.startswith(("fastapi-azure-auth", "PyJWKClient")):
        return "#dd8452"
    return "#4c72b0"
