"""Time against concurrency, one panel per workload, one line per client (matplotlib, optional)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from aiotulip.bench.run import Row
from aiotulip.errors import UsageError

__all__ = ["plot"]


def _bars(axis: Any, rows: list[Row], workload: str) -> None:
    """One concurrency level: a bar per client, fastest at the top, tulip's engines highlighted."""
    ranked = sorted(
        (row for row in rows if row.status == "ok" and row.wall), key=lambda r: r.wall or 0, reverse=True
    )
    names = [row.client for row in ranked]
    walls = [row.wall or 0 for row in ranked]
    colours = [
        "tab:red" if name == "tulip asyncio" else "tab:orange" if name.startswith("tulip") else "tab:grey"
        for name in names
    ]
    axis.barh(names, walls, color=colours)
    for y, wall in enumerate(walls):
        axis.text(wall, y, f" {wall:.2f}", va="center", fontsize=8)
    limit = next((row.limit for row in rows if row.limit), None)
    if limit:
        axis.axvline(limit, color="black", linestyle=":", label="latency limit")
        axis.legend(fontsize=8, loc="lower right")
    axis.set_title(f"{workload} (concurrency {rows[0].concurrency})")
    axis.set_xlabel("wall time, s (lower is better)")
    axis.grid(True, axis="x", alpha=0.3)


def check_plotting() -> None:
    """Refuse (UsageError) a plot that could not be drawn: asked before the bench, not after it."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'aiotulip[plot]'") from None
    del matplotlib


def plot(rows: list[Row], path: str | Path) -> None:
    """Write the plot of *rows* to the PNG file *path*."""
    check_plotting()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(row.workload for row in rows))
    figure, axes = plt.subplots(1, len(workloads), figsize=(5.5 * len(workloads), 4.2), squeeze=False)
    for axis, workload in zip(axes[0], workloads, strict=True):
        levels = {row.concurrency for row in rows if row.workload == workload}
        if len(levels) == 1:
            _bars(axis, [row for row in rows if row.workload == workload], workload)
            continue
        lines: defaultdict[str, list[tuple[int, float]]] = defaultdict(list)
        for row in rows:
            if row.workload == workload and row.status == "ok" and row.wall:
                lines[row.client].append((row.concurrency, row.wall))
        for client, points in sorted(lines.items()):
            points.sort()
            style = "-o" if client.startswith("tulip") else "--s"
            axis.plot([c for c, _ in points], [w for _, w in points], style, label=client, linewidth=2 if
                      client == "tulip asyncio" else 1.2)  # fmt: skip
        limit = next((row.limit for row in rows if row.workload == workload and row.limit), None)
        if limit:
            axis.axhline(limit, color="grey", linestyle=":", label="latency limit")
        axis.set_title(workload)
        axis.set_xlabel("concurrency")
        axis.set_ylabel("wall time, s")
        axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
