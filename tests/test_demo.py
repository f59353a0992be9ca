"""tulip demo: the README's first command runs the whole tour and reports agreement."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.terminal import HIDE, SHOW, run_on_pty, signal_once, tulip_cmd


def test_demo_runs_the_tour() -> None:
    proc = subprocess.run(tulip_cmd("demo"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "identical results from the three engines: yes; every sha256 verified: yes." in out
    for engine in ("sequential", "threads", "asyncio"):
        assert f"{engine} " in out
    assert "100/100" in out
    assert "Answer: 42" in proc.stderr  # the supervisors' spinner lines go to stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_tour_at_once_and_leaves_nothing(tmp_path: Path, signum: int) -> None:
    """Ctrl-C went on with the other engines and ended 1, "NO"; SIGTERM left a folder of part
    files in the temp dir and the cursor hidden."""
    run = run_on_pty(tulip_cmd("demo"), env={"TMPDIR": str(tmp_path)}, timeout=120,
                     on_output=signal_once(b"/100 files", signum))  # fmt: skip
    assert run.returncode == -signum, run.text()
    assert "interrupted" in run.text() and "identical results" not in run.text()
    assert run.output.rstrip().endswith(SHOW) or run.output.rfind(SHOW) > run.output.rfind(HIDE)
    assert list(tmp_path.iterdir()) == []


def test_the_tour_fits_a_terminal_of_80_columns() -> None:
    """It was drawn 100 columns wide whatever the terminal: its lines wrapped."""
    run = run_on_pty(tulip_cmd("demo"), columns=80, rows=40, timeout=120)
    assert run.returncode == 0, run.text()
    screen = run.screen()
    rows = [line for line in screen if line.startswith("  ") and "100/100" in line]
    assert len(rows) == 3 and all(line.endswith(("n/a", " ms")) for line in rows), screen  # (whole rows)
