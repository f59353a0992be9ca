"""``tulip demo``: the tour. A spinner, a flaky server on loopback, three engines, one comparison.

1. The two classic supervisors from *Fluent Python*: a thread and an asyncio task spinning while
   slow work runs.
2. ``tulip serve`` in a process of its own: a synthetic corpus behind a 100 ms delay and a few
   injected errors (seeded, so every run meets the same faults).
3. ``tulip fetch`` downloads the whole manifest with each engine, under the progress bar, verifying
   every sha256.
4. A table: the same files, the same faults, three ways to wait — and why asyncio wins.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

from aiotulip.download.options import EngineName
from aiotulip.spin.spinner import Spinner

__all__ = ["add_arguments", "run", "run_demo"]

FILES = 100
SLOW_SECONDS = 1.0


def _slow() -> int:
    time.sleep(SLOW_SECONDS)  # releases the GIL, so the spinner thread keeps drawing
    return 42


async def _slow_async() -> int:
    await asyncio.sleep(SLOW_SECONDS)  # yields to the loop, so the spinner task keeps drawing
    return 42


def _supervisors() -> None:
    with Spinner("thinking! (a thread, stopped through a threading.Event)", timer=True) as sp:
        sp.ok(f"thread supervisor: Answer: {_slow()}")

    async def supervisor() -> None:
        async with Spinner("thinking! (an asyncio task, stopped by cancel())", timer=True) as sp:
            result = await _slow_async()
            sp.ok(f"asyncio supervisor: Answer: {result} (loop lag {sp.max_lag * 1000:.0f} ms)")

    asyncio.run(supervisor())


def run_demo() -> int:
    """Run the tour; return the exit status (0 when every engine got every file right). Ctrl-C,
    SIGTERM and SIGHUP end it at once (KeyboardInterrupt: 130, 143, 129), its servers stopped and
    its folders removed."""
    from aiotulip.shared.signals import terminating_as_interrupt

    with terminating_as_interrupt():
        return _tour()


def _tour() -> int:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from aiotulip.download.api import fetch
    from aiotulip.download.manifest import load_manifest
    from aiotulip.serve import Faults, ServeConfig, ServerProcess

    console = Console(highlight=False)
    if not console.is_terminal:  # (a log's lines are as wide as the table; a terminal's are its own)
        console.width = max(console.width, 100)
    console.print("[bold]1. Two supervisors[/] — the same spinner, a thread and an asyncio task")
    _supervisors()

    faults = Faults(delay=0.1, error_rate=0.05, error_codes=(500, 503), retry_after=0)
    config = ServeConfig(files=FILES, size=(2048, 16384), seed=7, faults=faults)
    console.print(
        f"\n[bold]2. tulip serve[/] — {FILES} files, 100 ms delay, 5% errors, its own process per engine"
    )
    plans: tuple[tuple[EngineName, int], ...] = (("sequential", 1), ("threads", 20), ("asyncio", 100))
    reports = {}
    console.print("\n[bold]3. tulip fetch[/] — every file, sha256-verified, by each engine")
    for engine, concurrency in plans:
        # A fresh server (same seed) for each engine: each meets exactly the same faults.
        with ServerProcess(config) as base, tempfile.TemporaryDirectory(prefix="tulip-demo-") as dest:
            entries = load_manifest(f"{base}/manifest.json")
            console.print(f"[dim]{engine} engine, {concurrency} at a time, from {base}[/]")
            # (a Ctrl-C ends the tour: fetch raises it, as FetchInterrupted, with the report)
            reports[engine] = fetch(entries, dest, engine=engine, concurrency=concurrency, progress=None)

    table = Table(
        title="4. Same files, same faults, three ways to wait", box=box.SIMPLE_HEAD, title_justify="left"
    )
    for column in ("engine", "in flight", "ok", "retried", "wall s", "files/s", "vs sequential", "loop lag"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    base_wall = reports["sequential"].wall
    for engine, concurrency in plans:
        report = reports[engine]
        counts = report.counts()
        lag = "n/a" if report.max_lag is None else f"{report.max_lag * 1000:.0f} ms"
        speedup = f"{base_wall / report.wall:.1f}x"
        ok = f"{counts['ok']}/{FILES}"
        table.add_row(engine, str(concurrency), ok, str(report.retried), f"{report.wall:.2f}",
                      f"{FILES / report.wall:.0f}", speedup, lag)  # fmt: skip
    console.print()
    console.print(table)
    same = (
        len({tuple((r.status, r.bytes, r.sha256, r.attempts) for r in rep.items) for rep in reports.values()})
        == 1
    )
    all_ok = all(report.ok for report in reports.values())
    console.print(
        f"identical results from the three engines: {'yes' if same else 'NO'}; every sha256 verified: "
        f"{'yes' if all_ok else 'NO'}.\nThe sequential engine waits out each 100 ms delay in turn; threads "
        "overlap the waits at the cost of a thread each; asyncio overlaps them all on one thread."
    )
    sys.stdout.flush()
    return 0 if same and all_ok else 1


def add_arguments(parser: object) -> None:
    """``tulip demo`` takes no arguments."""


def run(args: object) -> int:
    """Run ``tulip demo``; return its exit status."""
    return run_demo()
