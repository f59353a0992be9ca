"""tulip bench: a tiny real run, output verification that fails wrong results, skipped peers."""

from __future__ import annotations

import io
import json
from pathlib import Path

from aiotulip.bench import run_bench
from aiotulip.bench.peers import Client
from aiotulip.bench.run import _measure, _verify
from aiotulip.bench.workloads import WORKLOADS


def test_a_small_real_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = io.StringIO()
    rows = run_bench(["latency"], scale=0.05, engines=["threads", "asyncio"], peers=False,
                     json_path=tmp_path / "rows.json", stream=out, work_dir=tmp_path)  # fmt: skip
    assert [(row.client, row.status) for row in rows] == [("tulip threads", "ok"), ("tulip asyncio", "ok")]
    for row in rows:
        assert row.files == 50 and row.wall and row.wall >= 0.1  # one wave behind a 100 ms delay at least
        # The server saw the concurrency the client claims (never more; on a loaded machine the first
        # requests may be answered before the last have started, hence not exactly 50).
        assert row.server_peak is not None and 25 <= row.server_peak <= 50
        # exec to the first request the server saw: the interpreter's start, at least, and less than the run
        assert row.startup_s is not None and 0.005 < row.startup_s < row.wall - 0.1
    assert rows[1].max_loop_lag_ms is not None
    table = out.getvalue()
    assert "latency, concurrency 50, latency limit 0.10 s" in table and "tulip asyncio" in table
    assert "start s" in table and "vs best w/o start" in table
    assert len(json.loads((tmp_path / "rows.json").read_text())) == 2


def test_wrong_output_is_failed_not_ranked(tmp_path: Path) -> None:
    expected = {"a": "0" * 64, "b": "1" * 64}
    assert "missing" in _verify(tmp_path, expected)
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "b").write_bytes(b"y")
    assert "wrong sha256" in _verify(tmp_path, expected)
    (tmp_path / "c").write_bytes(b"z")
    assert "unexpected" in _verify(tmp_path, expected)


def test_missing_peer_is_listed_as_skipped(tmp_path: Path) -> None:
    workload = WORKLOADS["small"].scaled(0.001)
    row = _measure(Client("curl", "peer", None), workload, 10, "http://127.0.0.1:1", "nginx",
                   tmp_path / "urls.txt", tmp_path, {}, 10)  # fmt: skip
    assert (row.status, row.note) == ("skipped", "not installed")


def test_a_run_over_worker_processes_is_a_row_of_its_own_with_its_cpu_and_memory(tmp_path: Path) -> None:
    out = io.StringIO()
    rows = run_bench(["bulk"], scale=0.15, engines=["asyncio", "asyncio:2"], peers=False, stream=out,
                     work_dir=tmp_path)  # fmt: skip
    one, two = rows
    assert (one.client, two.client) == ("tulip asyncio", "tulip asyncio x2")
    assert (one.status, one.note, two.status, two.note) == ("ok", "", "ok", "")
    assert one.bytes == two.bytes == 3 * 50 * 1024 * 1024
    for row in rows:  # the CPU of every process (the forked ones too), and tulip's own account of it
        assert row.cpu_s and row.cpu_stages and 0 < row.cpu_stages["sha256"] < row.cpu_s
        assert 0 < row.cpu_stages["write"] < row.cpu_s
    assert two.max_rss_mb and one.max_rss_mb and two.max_rss_mb > one.max_rss_mb / 2  # children counted
    table = out.getvalue()
    assert "CPU by stage:" in table and "tulip asyncio x2: " in table and " + sha256 " not in table
    assert "CPU-s per GB = sha256 " in table


def test_engine_specs_are_checked(tmp_path: Path) -> None:
    import pytest

    from aiotulip.errors import UsageError

    for spec in ("asyncio:0", "asyncio:x", "tokio", "tokio:2"):
        with pytest.raises(UsageError, match="unknown engine"):
            run_bench(["latency"], engines=[spec], peers=False, stream=io.StringIO(), work_dir=tmp_path)


def test_what_it_writes_at_the_end_is_checked_before_it_starts(tmp_path: Path) -> None:
    """--dir, --json and --plot that could not be used ended a bench of many minutes with a traceback
    (or, for --plot without matplotlib, came to light only then): one line and exit 2, at once."""
    import subprocess
    import sys

    (tmp_path / "file").write_text("")
    cases = {
        ("--dir", str(tmp_path / "none")): "no such directory",
        ("--dir", str(tmp_path / "file")): "not a directory",
        ("--json", str(tmp_path / "none" / "r.json")): "cannot write in",
        ("--json", str(tmp_path)): "is a directory",
        ("--plot", str(tmp_path / "none" / "p.png")): "cannot write in",
    }
    for (option, value), said in cases.items():
        argv = [
            sys.executable,
            "-m",
            "aiotulip",
            "bench",
            "--no-peers",
            "--workload",
            "latency",
            option,
            value,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert (proc.returncode, proc.stdout) == (2, ""), (option, proc.stderr)
        assert proc.stderr == f"tulip bench: error: {option} {value}: {said}" + proc.stderr.split(said, 1)[1]
        assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
