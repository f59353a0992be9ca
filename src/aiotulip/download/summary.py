"""The end-of-run summary: a table of counts and rates, and the items that did not make it."""

from __future__ import annotations

import sys
from typing import TextIO

from aiotulip.download.models import Report
from aiotulip.shared.units import format_bytes

__all__ = ["print_summary"]

_SHOWN_FAILURES = 10
_ROW_WIDTH = 96  # what the one-row table takes


def print_summary(report: Report, stream: TextIO | None = None) -> None:
    """Print *report*'s summary table (and up to ten failures) to *stream* (default stdout)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream or sys.stdout, highlight=False)
    # A terminal too narrow for the row gets the same figures as a column; a pipe (80 columns to
    # rich) always gets the row, which scripts and logs keep on one line.
    narrow = console.is_terminal and console.width < _ROW_WIDTH
    if not console.is_terminal:
        console.width = max(console.width, 110)
    summary = report.summary()
    title = "interrupted: partial summary" if report.interrupted else None
    columns = (
        "ok",
        "skipped",
        "not found",
        "failed",
        "retried",
        "bytes",
        "wall",
        "files/s",
        "MB/s",
        "loop lag",
    )
    lag = summary["max_loop_lag_ms"]
    values = (
        str(summary["ok"]),
        str(summary["skipped"]),
        str(summary["not_found"]),
        str(summary["failed"]),
        str(summary["retried"]),
        format_bytes(summary["bytes"]),
        f"{summary['wall']:.2f} s",
        f"{summary['files_per_s']:.0f}",
        f"{summary['mb_per_s']:.1f}",
        "n/a" if lag is None else f"{lag:.1f} ms",
    )
    if narrow:
        table = Table(box=box.SIMPLE, title=title, show_header=False)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for column, value in zip(columns, values, strict=True):
            table.add_row(column, value)
    else:
        table = Table(box=box.SIMPLE_HEAD, title=title)
        for column in columns:
            table.add_column(column, justify="right", no_wrap=True)
        table.add_row(*values)
    console.print(f"tulip fetch ({report.engine} engine): {summary['items']} items")
    console.print(table)
    unfinished = report.unfinished()
    if unfinished:
        console.print(
            f"  {unfinished} items not finished (interrupted): run the same command again to finish"
        )
    shown, failed = report.failures(_SHOWN_FAILURES)
    for result in shown:
        console.print(f"  {result.status}: {result.url} — {result.error}", markup=False)
    if failed > len(shown):
        console.print(f"  ... and {failed - len(shown)} more (see --json)")
