"""fetch's bar on a real pty, replayed with pyte: the largest files under way below the overall bar,
each with bytes, rate and ETA, the rest folded into "+K more", nothing left behind at the end."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import re
import struct
import termios
import threading
import time
from pathlib import Path

import pytest

from aiotulip.download.models import Job, Result
from aiotulip.download.progress import RichProgress
from aiotulip.serve import Faults, ServeConfig, ServerProcess
from aiotulip.shared.terminal import cell_width
from tests.terminal import PtyRun, run_on_pty, tulip_cmd

MB = 1 << 20
FILE_ROW = re.compile(r"^  file-000\d\d\.bin .*\d MiB/\d+\.\d MiB +\d+\.\d MiB/s +\d:\d\d:\d\d$")


@pytest.mark.parametrize(("columns", "rows", "shown"), [(100, 12, 4), (80, 7, 2)])
def test_largest_files_under_way_show_below_the_bar(
    tmp_path: Path, columns: int, rows: int, shown: int
) -> None:
    faults = Faults(bandwidth=MB)  # 9 files of 2-5 MB: a few seconds, all at once
    config = ServeConfig(files=9, size=(2 * MB, 5 * MB), seed=4, faults=faults)
    offsets: list[int] = []
    with ServerProcess(config) as base:
        run = run_on_pty(
            tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path), "-c", "9"),
            columns=columns, rows=rows, timeout=90,
            on_output=lambda output, proc: offsets.append(len(output)) if len(offsets) < 2000 else None,
        )  # fmt: skip
    assert run.returncode == 0, run.text()
    screens = [PtyRun(run.output[:at], 0, columns, rows).screen() for at in offsets[::3]]
    full = [
        screen for screen in screens
        if sum(bool(FILE_ROW.match(line)) for line in screen) == shown
        and any("more" in line for line in screen)
    ]  # fmt: skip
    assert full, "\n\n".join("\n".join(screen) for screen in screens[-5:])
    screen = full[len(full) // 2]
    bar = next(line for line in screen if line.startswith("fetch"))
    assert re.search(r"\d/9 files .* MiB/s +\d:\d\d:\d\d$", bar), bar  # the overall ETA from the sizes
    more = next(line for line in screen if "more" in line)
    assert re.fullmatch(r"  \+\d more", more.rstrip()), more
    for line in screen:
        assert cell_width(line) <= columns
    # At the end: the summary, no file rows and no "+K more" left behind.
    final = run.screen()
    assert not any(FILE_ROW.match(line) or "more" in line for line in final)
    # The summary: one row where it fits, a column of figures where it does not (no wrapped row).
    assert re.search(r"^ +9 +0 +0 +0|^ +ok +9 *\r?$", run.text(), re.MULTILINE), final


@pytest.mark.parametrize("columns", [20, 40])
def test_narrow_terminals_get_cut_rows_never_wrapped_ones(tmp_path: Path, columns: int) -> None:
    config = ServeConfig(files=9, size=(2 * MB, 5 * MB), seed=4, faults=Faults(bandwidth=MB))
    offsets: list[int] = []
    with ServerProcess(config) as base:
        run = run_on_pty(
            tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path), "-c", "9"),
            columns=columns, rows=12, timeout=90,
            on_output=lambda output, proc: offsets.append(len(output)) if len(offsets) < 2000 else None,
        )  # fmt: skip
    assert run.returncode == 0, run.text()
    screens = [PtyRun(run.output[:at], 0, columns, 12).screen() for at in offsets[::3]]
    rows = [screen for screen in screens if sum(line.startswith("  f") for line in screen) >= 2]
    assert rows, "\n\n".join("\n".join(screen) for screen in screens[-3:])
    for screen in rows:
        bar = [i for i, line in enumerate(screen) if line.startswith("fetch")]
        assert len(bar) == 1  # one bar: a wrapped or repeated frame would show two, or a piece
        # Every row is a whole row of the display: a wrapped line would leave a piece on a row of its own.
        assert all(line.startswith(("fetch", "  f", "  +")) for line in screen if line), screen
        names = [line.split()[0] for line in screen if line.startswith("  f")]
        assert len(set(names)) == len(names), names  # cut in the middle: the rows stay apart


class HungUp(io.TextIOWrapper):
    """A real pty's slave side whose writes fail with EIO once *hung_up* is set, as a terminal's do
    once it is closed (closing the master here would hang up this process's own session)."""

    hung_up = False

    def write(self, text: str) -> int:
        if self.hung_up:
            raise OSError(errno.EIO, "Input/output error")
        return super().write(text)

    def flush(self) -> None:
        if self.hung_up:
            raise OSError(errno.EIO, "Input/output error")
        super().flush()


def test_a_terminal_that_hangs_up_under_the_bar_ends_the_drawing_not_the_run() -> None:
    """Closing the terminal of a --workers run crashed its parent now and then (about 1 in 10): a
    task's reset made rich draw, and its write failed with EIO out of progress.advance. Every write
    rich makes may fail now without a word."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # (rows for the files)
    stream = HungUp(open(slave, "wb", buffering=0, closefd=True), encoding="utf-8")  # noqa: SIM115
    drained = threading.Thread(target=lambda: _drain(master), daemon=True)
    drained.start()
    progress = RichProgress(stream)
    jobs = [Job(f"http://h/f{i}", f"f{i}") for i in range(3)]
    try:
        progress.start(len(jobs), None)
        for job in jobs:
            progress.sized(job, 10 * MB)
            progress.advance(MB, job)
        assert progress._bar is not None  # (drawing: the bar is up)
        stream.hung_up = True
        for _ in range(20):
            for job in jobs:
                progress.advance(MB // 4, job)
            time.sleep(0.05)  # (the rows are chosen again every 0.25 s: a reset, drawn at once)
        for job in jobs:
            progress.done(job, Result(job.url, job.name, "ok", 10 * MB, "0" * 64, 1))
        progress.close(None)
    finally:
        stream.hung_up = False
        with contextlib.suppress(OSError):
            stream.close()
        os.close(master)


def _drain(fd: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass
