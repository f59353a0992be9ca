"""--cluster on a Dask LocalCluster: the same Report as one machine, a worker killed mid-run, bad
addresses, and what happens without Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from aiotulip import RetryPolicy, fetch
from aiotulip.download.cluster import _probe, run_cluster, shard_size_for
from aiotulip.download.engines import Work
from aiotulip.download.options import FetchOptions
from aiotulip.download.progress import Progress
from aiotulip.download.sources import make_jobs
from aiotulip.download.store import Store
from aiotulip.serve import Faults, ServeConfig, ServerProcess
from tests.download.helpers import assert_disk_matches, comparable, entries, manifest
from tests.terminal import tulip_cmd

FAULTS = Faults(error_rate=0.2, drop_rate=0.05, truncate_rate=0.05, retry_after=0)
CHAOS = ServeConfig(files=60, size=(1, 200_000), seed=4, faults=FAULTS)
POLICY = RetryPolicy(retries=10, backoff=0.005, max_backoff=0.02)


def test_cluster_report_equals_single_machine_report(tmp_path: Path) -> None:
    with ServerProcess(CHAOS) as base:
        files = manifest(base)
        single = fetch(entries(base), tmp_path / "one", policy=POLICY, concurrency=8)
    with ServerProcess(CHAOS) as base:
        spread = fetch(entries(base), tmp_path / "many", policy=POLICY, concurrency=8, cluster="local:2",
                       shard_size=7)  # fmt: skip
    assert spread.counts()["ok"] == 60
    assert comparable(spread, tmp_path / "many") == comparable(single, tmp_path / "one")
    assert spread.to_json().keys() == single.to_json().keys()
    assert_disk_matches(tmp_path / "many", files)


def test_a_worker_killed_mid_run_costs_no_complete_file(tmp_path: Path) -> None:
    config = ServeConfig(files=16, size=(300_000, 300_000), seed=2, faults=Faults(bandwidth=400_000))
    dest = tmp_path / "dest"
    with ServerProcess(config) as base:
        files = manifest(base)
        jobs = make_jobs(entries(base))
        store = Store(dest)
        store.prepare()
        killed = threading.Event()

        def kill_one_worker(client: object) -> None:
            pids = client.run(os.getpid)  # type: ignore[attr-defined]
            victim = pids[sorted(pids)[0]]

            def later() -> None:
                time.sleep(1.0)
                os.kill(victim, signal.SIGKILL)  # no goodbye: the scheduler just loses it
                killed.set()

            threading.Thread(target=later, daemon=True).start()

        options = FetchOptions(concurrency=2, policy=POLICY, cluster="local:2", shard_size=2)
        work = Work(jobs, store, options, Progress())
        outcome = run_cluster(work, on_client=kill_one_worker)
        results, interrupted = outcome.results, outcome.interrupted
        with urllib.request.urlopen(f"{base}/_tulip/stats", timeout=10) as resp:
            sent = json.load(resp)["bytes_sent"]
    assert killed.is_set() and not interrupted
    assert all(r is not None and r.status in ("ok", "skipped") for r in results), results
    assert_disk_matches(dest, files)
    total = sum(f["size"] for f in files)
    assert sent < total * 1.5  # the dead worker's complete files were not fetched again


def test_bad_scheduler_address_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        tulip_cmd("fetch", "http://127.0.0.1:1/x", "-d", str(tmp_path), "--cluster", "tcp://127.0.0.1:1"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("tulip fetch: error: cannot reach the Dask scheduler")
    )
    assert "Traceback" not in proc.stderr


def test_without_dask_the_option_says_how_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['distributed'] = None; "
        f"sys.argv = ['tulip', 'fetch', 'http://127.0.0.1:1/x', '-d', {str(tmp_path)!r}, "
        "'--cluster', 'local:1']; "
        "import runpy; runpy.run_module('aiotulip', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "tulip fetch: error: --cluster needs Dask: pip install 'aiotulip[dask]'"


def test_probe_and_shard_sizes(tmp_path: Path) -> None:
    assert "cannot use" in _probe(str(tmp_path / "missing"), "token")
    (tmp_path / ".tulip-probe-abc").write_text("abc")
    assert _probe(str(tmp_path), "abc") == ""
    assert shard_size_for(10_000, 2) == 1250
    assert shard_size_for(3, 8) == 1


def test_ctrl_c_cancels_the_cluster_work(tmp_path: Path) -> None:
    config = ServeConfig(files=20, size=(500_000, 500_000), faults=Faults(bandwidth=300_000))
    with ServerProcess(config) as base:
        command = tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path), "--cluster",
                            "local:1", "-c", "4")  # fmt: skip
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            deadline = time.monotonic() + 60
            while not any(p.name.endswith(".tulip-part") for p in tmp_path.iterdir()):  # workers at it
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, err
    assert "Traceback" not in err
    assert "interrupted" in out


class Told(Progress):
    def __init__(self) -> None:
        self.bytes = 0
        self.ended: list[str] = []

    def advance(self, nbytes: int, job: object = None) -> None:
        self.bytes += nbytes

    def done(self, job: object, result: object) -> None:
        self.ended.append(result.status)  # type: ignore[attr-defined]


def test_progress_hears_each_shards_bytes_and_ends(tmp_path: Path) -> None:
    """The bar said 0 B to the end of a --cluster run: a worker's bytes were never told."""
    with ServerProcess(ServeConfig(files=6, size=(50_000, 50_000), seed=1)) as base:
        sources = [*entries(base), f"{base}/files/missing.bin"]
        told = Told()
        report = fetch(sources, tmp_path, cluster="local:1", shard_size=3, progress=told)
    assert sorted(told.ended) == sorted(["ok"] * 6 + ["not_found"])
    assert told.bytes == report.bytes == 6 * 50_000
