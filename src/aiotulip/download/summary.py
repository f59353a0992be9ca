"""The end-of-run summary: a row of counts and rates, and the items that did not make it.

Written by hand rather than as a rich table: a pipe or a log gets the same two lines every time —
no trailing spaces, no header cut to "…" when an interrupted run adds columns — and a terminal too
narrow for the row gets the figures one a line.
"""

from __future__ import annotations

import sys
from typing import TextIO

from aiotulip.download.models import Report
from aiotulip.shared.output import writes_through
from aiotulip.shared.terminal import is_interactive, terminal_width
from aiotulip.shared.units import format_bytes

__all__ = ["print_summary", "summary_lines"]

_SHOWN_FAILURES = 10


def print_summary(report: Report, stream: TextIO | None = None) -> None:
    """Print *report*'s summary (and up to ten failures) to *stream* (default stdout)."""
    stream = stream or sys.stdout
    width = terminal_width(stream) if is_interactive(stream) else None
    stream.write("".join(line + "\n" for line in summary_lines(report, width)))
    stream.flush()


def summary_lines(report: Report, width: int | None = None) -> list[str]:
    """The summary's lines; *width*: a terminal's columns (None: a pipe, which always gets the row)."""
    summary = report.summary()
    stopped, never = report.unfinished()
    lag = summary["max_loop_lag_ms"]
    figures = [
        ("ok", str(summary["ok"])),
        ("skipped", str(summary["skipped"])),
        ("not found", str(summary["not_found"])),
        ("failed", str(summary["failed"])),
        *((("interrupted", str(stopped)), ("not started", str(never))) if report.interrupted else ()),
        ("retried", str(summary["retried"])),
        ("bytes", format_bytes(summary["bytes"])),
        ("wall", f"{summary['wall']:.2f} s"),
        ("files/s", _rate(summary["files_per_s"])),
        # (in the bytes' unit and the bar's, not in decimal MB/s beside a MiB count; --json keeps
        # mb_per_s for scripts)
        ("speed", format_bytes(summary["bytes"] / max(summary["wall"], 1e-9)) + "/s"),
        ("loop lag", "n/a" if lag is None else f"{lag:.1f} ms"),
    ]
    items = summary["items"]
    spread = f", {report.workers} processes" if report.workers > 1 else ""
    title = f"tulip fetch ({report.engine} engine{spread}): {items} item{'' if items == 1 else 's'}"
    lines = [title + (", interrupted: partial summary" if report.interrupted else "")]
    lines += _table(figures, width)
    if report.stopped:
        lines.append(f"  stopped early: {report.stopped}")
    if stopped or never:
        kept = report.held() if stopped else 0
        if len(report.items) == 1 and writes_through(report.items[0].path):
            # (what went out cannot be taken back, nor added to by a second run: it starts over)
            lines.append(f"  interrupted after {format_bytes(kept)} went out to {report.items[0].path}")
        else:
            held = f" ({format_bytes(kept)} kept in their parts)" if kept else ""
            lines.append(
                f"  {stopped} interrupted{held}, {never} not started: run the same command again to finish"
            )
    shown, failed = report.failures(_SHOWN_FAILURES)
    lines += [f"  {result.status}: {result.url} — {result.error}" for result in shown]
    if failed > len(shown):
        lines.append(f"  ... and {failed - len(shown)} more (see --json)")
    return lines


def _table(figures: list[tuple[str, str]], width: int | None) -> list[str]:
    """The figures as a row of names over a row of values — in two or three such rows where a
    terminal is too narrow for one, one a line where it is too narrow for those."""
    for groups in (1, 2, 3) if width is not None else (1,):
        size = -(-len(figures) // groups)
        parts = [figures[i : i + size] for i in range(0, len(figures), size)]
        if width is None or all(_row_width(part) <= width for part in parts):
            lines = []
            for part in parts:
                cells = [max(len(name), len(value)) for name, value in part]
                lines.append(
                    "  " + "  ".join(f"{name:>{n}}" for (name, _v), n in zip(part, cells, strict=True))
                )
                lines.append(
                    "  " + "  ".join(f"{value:>{n}}" for (_k, value), n in zip(part, cells, strict=True))
                )
            return lines
    keys = max(len(name) for name, _value in figures)
    return [f"  {name:>{keys}}  {value}" for name, value in figures]


def _row_width(figures: list[tuple[str, str]]) -> int:
    return 2 + sum(max(len(name), len(value)) for name, value in figures) + 2 * (len(figures) - 1)


def _rate(per_second: float) -> str:
    """A rate as the table shows it: whole above 10, else with a tenth (3 files in 6 s said 0)."""
    return f"{per_second:.0f}" if per_second >= 10 else f"{per_second:.1f}"
