"""tulip bench: tulip's engines beside curl, aria2c, wget2 and a textbook aiohttp client, one run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TextIO

from aiotulip.bench.peers import engine_spec
from aiotulip.bench.run import Row, run_workload
from aiotulip.bench.workloads import WORKLOADS, Workload
from aiotulip.errors import UsageError

__all__ = ["WORKLOADS", "Row", "Workload", "run_bench"]


def _check_places(
    json_path: str | Path | None, plot_path: str | Path | None, work_dir: str | Path | None
) -> None:
    """Refuse, before a bench of many minutes, what it could not write at its end (a traceback then)."""
    from aiotulip.shared.output import check_output

    if work_dir is not None:
        where = str(work_dir)
        if not os.path.isdir(where):
            raise UsageError(
                f"--dir {where}: {'not a directory' if os.path.exists(where) else 'no such directory'}"
            )
        if not os.access(where, os.W_OK | os.X_OK):
            raise UsageError(f"--dir {where}: cannot write in it")
    if json_path is not None:
        check_output(str(json_path), "--json")
    if plot_path is not None:
        check_output(str(plot_path), "--plot")
        from aiotulip.bench.plot import check_plotting

        check_plotting()


def _compile_tulip() -> None:
    """Compile tulip's modules once: an installed package has its bytecode, a source checkout may not
    (PYTHONDONTWRITEBYTECODE), and every client run would pay for compiling them."""
    import compileall

    import aiotulip

    compileall.compile_dir(str(Path(aiotulip.__file__).parent), quiet=1)


def run_bench(
    workloads: list[str] | None = None,
    *,
    scale: float = 0.25,
    concurrency: list[int] | None = None,
    engines: list[str] | None = None,
    peers: bool = True,
    repeat: int = 1,
    json_path: str | Path | None = None,
    plot_path: str | Path | None = None,
    stream: TextIO | None = None,
    work_dir: str | Path | None = None,
    compare: dict[str, str] | None = None,
) -> list[Row]:
    """Run the named workloads (all by default) and print the table; return every Row.

    Every client writes under *work_dir* (default: the temp dir). On a disk with throttled IOPS the
    many-small-file rows measure the disk more than the clients; a RAM disk (/dev/shm) measures the
    clients themselves. *compare* maps a label to another Python interpreter with tulip installed
    (another revision, say): its engines run beside this one's, in alternation, as ``tulip ENGINE@LABEL``.
    """
    from aiotulip.bench.table import print_table
    from aiotulip.download.options import ENGINES

    names = workloads or list(WORKLOADS)
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise UsageError(f"unknown workload {unknown[0]!r} (choose from {', '.join(WORKLOADS)})")
    cores = os.cpu_count() or 1
    # (tulip as it comes spreads long lists over the cores; asyncio:1 shows one process beside it)
    engines = engines or [*ENGINES, *(["asyncio:1"] if cores > 1 else [])]
    bad = [spec for spec in engines if (parsed := engine_spec(spec)) is None or parsed[0] not in ENGINES]
    if bad:
        raise UsageError(
            f"unknown engine {bad[0]!r} (choose from {', '.join(ENGINES)}, each with :N for N processes)"
        )
    if scale <= 0:
        raise UsageError("scale must be positive")
    _check_places(json_path, plot_path, work_dir)
    out = stream or sys.stdout
    _compile_tulip()
    rows: list[Row] = []
    for name in names:
        workload = WORKLOADS[name].scaled(scale)
        levels = (
            sorted({min(c, workload.files) for c in concurrency}) if concurrency else [workload.concurrency]
        )
        about = (
            f"bench {name}: {workload.files} files of {workload.size} bytes (full scale: {workload.about})"
        )
        print(about, file=out, flush=True)
        rows += run_workload(
            workload, levels, engines, peers=peers, repeat=repeat, work_dir=work_dir, compare=compare
        )
    print_table(rows, out)
    if json_path is not None:
        Path(json_path).write_text(json.dumps([row.to_json() for row in rows], indent=2) + "\n")
    if plot_path is not None:
        from aiotulip.bench.plot import plot

        plot(rows, plot_path)
    return rows
