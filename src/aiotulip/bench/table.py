"""The side-by-side table: each workload's clients by wall time, with ratios to the latency limit and
to the best peer (tulip's engines lead a row when their ratio to the best peer is below 1)."""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import TextIO

from aiotulip.bench.run import Row

__all__ = ["best_peer", "print_table"]


def best_peer(rows: list[Row]) -> Row | None:
    """The fastest peer (not a tulip engine) with correct output."""
    peers = _ok_peers(rows)
    return min(peers, key=lambda r: r.wall or 0) if peers else None


def _ok_peers(rows: list[Row]) -> list[Row]:
    return [r for r in rows if not r.client.startswith("tulip") and r.status == "ok" and r.wall]


def print_table(rows: list[Row], stream: TextIO | None = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream or sys.stdout, highlight=False)
    console.width = max(console.width, 175)
    groups: defaultdict[tuple[str, int], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.workload, row.concurrency)].append(row)
    for (workload, concurrency), group in groups.items():
        best = best_peer(group)
        limit = group[0].limit
        title = f"{workload}, concurrency {concurrency}" + (f", latency limit {limit:.2f} s" if limit else "")
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        started = [r for r in group if r.startup_s is not None]
        columns = ("client", "wall s", "files/s", "MB/s", "RSS MB", "CPU s", "server peak", "vs limit",
                   "vs best peer", *(("start s", "vs best w/o start") if started else ()),
                   "loop lag ms", "status")  # fmt: skip
        best_after = _best_after_startup(group)
        for column in columns:
            table.add_column(
                column, justify="left" if column in ("client", "status") else "right", no_wrap=True
            )
        ranked = sorted(group, key=lambda r: (r.status != "ok", r.wall or float("inf")))
        for row in ranked:
            table.add_row(
                row.client,
                _num(row.wall, 3),
                _num(row.files_per_s, 0),
                _num(row.mb_per_s, 1),
                _num(row.max_rss_mb, 0),
                _num(row.cpu_s, 2),
                "" if row.server_peak is None else str(row.server_peak),
                _ratio(row.wall, limit) if row.status == "ok" else "",
                _ratio(row.wall, best.wall if best else None) if row.status == "ok" else "",
                *(
                    (_num(row.startup_s, 3), _ratio(_after(row), best_after) if row.status == "ok" else "")
                    if started
                    else ()
                ),
                _num(row.max_loop_lag_ms, 0),
                row.status + (f" ({row.note})" if row.note and row.status != "ok" else ""),
            )
        console.print(table)
        for line in _stage_lines(ranked):
            console.print(line)


def _after(row: Row) -> float | None:
    """The row's time once its start-up (exec to first request) is taken out."""
    if row.wall is None or row.startup_s is None:
        return None
    return row.wall - row.startup_s


def _best_after_startup(rows: list[Row]) -> float | None:
    afters = [after for row in _ok_peers(rows) if (after := _after(row))]
    return min(afters) if afters else None


def _stage_lines(rows: list[Row]) -> list[str]:
    """Where a workload moves at least 100 MB: each client's CPU seconds per GB, and tulip's by
    stage, so the bound of a bulk row is in view (every client pays the kernel's copies)."""
    lines = []
    for row in rows:
        if row.status != "ok" or not row.cpu_s or row.bytes < 100_000_000:
            continue
        per_gb = 1e9 / row.bytes
        text = f"  {row.client}: {row.cpu_s * per_gb:.2f} CPU-s per GB"
        stages = row.cpu_stages
        if stages and stages.get("sha256") is not None:
            rest = row.cpu_s - stages["sha256"] - stages["write"]
            text += (
                f" = sha256 {stages['sha256'] * per_gb:.2f} + write {stages['write'] * per_gb:.2f}"
                f" + receive and the rest {rest * per_gb:.2f}"
            )
        lines.append(text)
    return (["CPU by stage:", *lines, ""]) if lines else []


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None, reference: float | None) -> str:
    return "" if not value or not reference else f"{value / reference:.2f}"
