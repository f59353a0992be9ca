"""tulip demo: the README's first command runs the whole tour and reports agreement."""

from __future__ import annotations

import subprocess

from tests.terminal import tulip_cmd


def test_demo_runs_the_tour() -> None:
    proc = subprocess.run(tulip_cmd("demo"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "identical results from the three engines: yes; every sha256 verified: yes." in out
    for engine in ("sequential", "threads", "asyncio"):
        assert f"{engine} " in out
    assert "100/100" in out
    assert "Answer: 42" in proc.stderr  # the supervisors' spinner lines go to stderr
