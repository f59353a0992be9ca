"""Interrupt and resume: SIGINT and SIGKILL at random moments, again and again, then run to the end.

Meanwhile a watcher looks at the destination as fast as it can: a file under its final name must
always be complete (its full size), never partial, at any moment observed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from aiotulip.serve import Faults, ServeConfig, ServerProcess
from tests.download.helpers import assert_disk_matches, manifest, signal_and_wait
from tests.terminal import tulip_cmd


class Watcher(threading.Thread):
    """Polls *dest* and records any final-name file seen with less than its full size."""

    def __init__(self, dest: Path, sizes: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.dest, self.sizes = dest, sizes
        self.stop = threading.Event()
        self.partial: list[tuple[str, int]] = []
        self.looks = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                entries = list(self.dest.iterdir())
            except FileNotFoundError:
                entries = []
            for path in entries:
                expected = self.sizes.get(path.name)
                if expected is None:
                    continue  # a .part: partial by design
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                if size != expected:
                    self.partial.append((path.name, size))
            self.looks += 1


def _interrupt_runs(command: list[str], signum: int, rng: random.Random, pause: tuple[float, float]) -> int:
    """Run *command* five times, each sent *signum* at a random moment within *pause* seconds (if it
    is still running); return how many were interrupted. None may print a traceback, and a SIGINT
    that stops a run makes it exit 130."""
    interrupted = 0
    for _ in range(5):
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
            time.sleep(rng.uniform(*pause))
            if proc.poll() is None:
                proc.send_signal(signum)
                interrupted += 1
            status = proc.wait(timeout=30)
            stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert "Traceback" not in stderr, stderr
        if signum == signal.SIGINT and status != 0:
            assert status == -signal.SIGINT, stderr
    return interrupted


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("engine", ["threads", "asyncio"])
def test_killed_again_and_again_then_finished(tmp_path: Path, signum: int, engine: str) -> None:
    rng = random.Random(f"{engine}{signum}")
    faults = Faults(bandwidth=2_000_000, error_rate=0.1, retry_after=0)
    config = ServeConfig(files=24, size=(50_000, 900_000), seed=5, faults=faults)
    dest = tmp_path / "dest"
    with ServerProcess(config) as base:
        files = manifest(base)
        watcher = Watcher(dest, {f["name"]: f["size"] for f in files})
        watcher.start()
        command = tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(dest), "-c", "6",
                            "--engine", engine, "-q")  # fmt: skip
        interrupted = _interrupt_runs(command, signum, rng, (0.15, 0.6))
        final = subprocess.run(command, capture_output=True, text=True, timeout=120)
        watcher.stop.set()
        watcher.join()
    assert interrupted >= 3
    assert final.returncode == 0, final.stderr
    assert watcher.looks > 50
    assert watcher.partial == []  # no final name ever held partial content
    assert_disk_matches(dest, files)  # every file complete and correct, no .part left


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_split_downloads_killed_again_and_again_then_finished(tmp_path: Path, engine: str) -> None:
    """--split: spans written out of order into a sparse part, its map kept beside it; SIGKILL at
    random moments must never leave a final name partial, nor a resume that trusts unwritten bytes."""
    rng = random.Random(f"split-{engine}")
    faults = Faults(bandwidth=1_000_000, drop_rate=0.05, retry_after=0)
    config = ServeConfig(files=3, size=(8_000_000, 8_000_000), seed=9, faults=faults)
    dest = tmp_path / "dest"
    with ServerProcess(config) as base:
        files = manifest(base)
        watcher = Watcher(dest, {f["name"]: f["size"] for f in files})
        watcher.start()
        command = tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(dest), "-c", "2",
                            "--engine", engine, "-q", "--split", "4", "--min-split-size", "256k")  # fmt: skip
        interrupted = _interrupt_runs(command, signal.SIGKILL, rng, (0.3, 1.0))
        final = subprocess.run(command, capture_output=True, text=True, timeout=120)
        watcher.stop.set()
        watcher.join()
    assert interrupted >= 3
    assert final.returncode == 0, final.stderr
    assert watcher.partial == []
    assert_disk_matches(dest, files)


@pytest.mark.parametrize(
    ("engine", "transport"), [("threads", "curl"), ("threads", "lean"), ("sequential", "lean")]
)
def test_ctrl_c_ends_a_run_whose_server_went_silent(tmp_path: Path, engine: str, transport: str) -> None:
    """A server that stops sending mid-body (a body of no announced length: only its end would say
    it is whole): Ctrl-C ends the run at once, not after the 60 s read timeout, and the bytes that
    came stay in the part — never taken for the whole file, under its name. (The lean blocking
    transport's readers waited out the read timeout.)"""
    from tests.download.conformance.scripted import Pause, Scripted, response

    body = b"b" * 100_000
    with Scripted({"/f.bin": lambda r: [response("200 OK", body, length=None), Pause(60)]}) as server:
        command = tulip_cmd("fetch", f"{server.base}/f.bin", "-d", str(tmp_path), "--engine", engine,
                            "--transport", transport, "--timeout", "60", "--noproxy", "*")  # fmt: skip
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            part = tmp_path / ".f.bin.tulip-part"
            deadline = time.monotonic() + 20
            while not (part.exists() and part.stat().st_size == len(body)):
                assert time.monotonic() < deadline, "the body never reached the part"
                time.sleep(0.05)
            _out, err, took = signal_and_wait(proc)
    assert proc.returncode == -signal.SIGINT, err
    assert took < 10, took  # (the read timeout is 60 s)
    assert not (tmp_path / "f.bin").exists()
    assert part.read_bytes() == body


def test_a_signal_during_the_commit_reports_the_file_it_finished(tmp_path: Path) -> None:
    """SIGTERM while a part is renamed to its final name (made slow here): the rename goes on in its
    thread and ends the item, and the report says ok — it said interrupted, of a file complete under
    its name (about one run in forty signalled at completion)."""
    import json
    import sys

    from tests.download.conformance.scripted import Scripted, response

    body = random.Random(3).randbytes(300_000)  # streamed to a part (past what is read in memory)
    marker = tmp_path / "committing"
    code = (
        "import pathlib, sys, time\n"
        "from aiotulip.download.store import part\n"
        "real = part.PartFile.commit\n"
        "def slow(self, *args, **kwargs):\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        "    time.sleep(1.0)\n"
        "    return real(self, *args, **kwargs)\n"
        "part.PartFile.commit = slow\n"
        "from aiotulip.cli import main\n"
        "sys.exit(main())\n"
    )
    with Scripted({"/f.bin": lambda r: [response("200 OK", body, 'ETag: "e"')]}) as server:
        argv = [sys.executable, "-c", code, "fetch", f"{server.base}/f.bin", "-d", str(tmp_path / "out"),
                "--json", str(tmp_path / "r.json"), "--noproxy", "*"]  # fmt: skip
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            deadline = time.monotonic() + 20
            while not marker.exists():
                assert time.monotonic() < deadline and proc.poll() is None, (
                    proc.stderr.read() if proc.stderr else ""
                )
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM, err
    (item,) = json.loads((tmp_path / "r.json").read_text())["items"]
    assert (item["status"], item["bytes"]) == ("ok", len(body)), item
    assert (tmp_path / "out" / "f.bin").read_bytes() == body
