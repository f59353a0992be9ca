"""Nothing lost, for real: runs that share a destination, names that look like temporaries, hard
links, parts longer than the file, every terminating signal — and a watcher hashing every final
file it sees, all the while."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from aiotulip import Entry, fetch
from aiotulip.serve import Faults, ServeConfig, ServerProcess
from tests.download.helpers import manifest
from tests.terminal import tulip_cmd


class ContentWatcher(threading.Thread):
    """Hashes every final-name file in *dest* whenever it changes; records any that is not the file."""

    def __init__(self, dest: Path, expected: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.dest, self.expected = dest, expected
        self.stop = threading.Event()
        self.wrong: list[tuple[str, int]] = []
        self.checked = 0
        self._seen: dict[str, tuple[int, int, int]] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                names = os.listdir(self.dest)
            except FileNotFoundError:
                names = []
            for name in names:
                digest = self.expected.get(name)
                if digest is None:
                    continue  # a temporary: partial by design
                path = self.dest / name
                try:
                    info = path.stat()
                    key = (info.st_ino, info.st_size, info.st_mtime_ns)
                    if self._seen.get(name) == key:
                        continue
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                self._seen[name] = key
                self.checked += 1
                if hashlib.sha256(data).hexdigest() != digest:
                    self.wrong.append((name, len(data)))
            time.sleep(0.005)

    def __enter__(self) -> ContentWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(10)


def _temporaries(dest: Path) -> list[str]:
    return [p.name for p in dest.iterdir() if ".tulip-" in p.name]


@pytest.mark.parametrize("engine", ["asyncio", "threads"])
def test_two_runs_into_one_destination_never_leave_a_wrong_file(tmp_path: Path, engine: str) -> None:
    """The second run starts 0.7 s after the first, on the same URLs: it must neither take over nor
    delete the first run's parts; it waits for them and finds the files complete."""
    config = ServeConfig(files=8, size=(1_500_000, 1_500_000), seed=3, faults=Faults(bandwidth=1_500_000))
    dest = tmp_path / "dest"
    with ServerProcess(config) as base:
        files = manifest(base)
        expected = {f["name"]: f["sha256"] for f in files}
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{base}{f['url']}\n" for f in files))
        with ContentWatcher(dest, expected) as watcher:
            runs = []
            for index in range(2):
                command = tulip_cmd("fetch", "-i", str(urls), "-d", str(dest), "-c", "8", "--engine", engine,
                                    "--quiet", "--json", str(tmp_path / f"run{index}.json"))  # fmt: skip
                runs.append(
                    subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                )
                time.sleep(0.7)
            outcomes = [proc.communicate(timeout=120) for proc in runs]
    assert [proc.returncode for proc in runs] == [0, 0], outcomes
    assert watcher.wrong == [] and watcher.checked >= 8
    for f in files:
        assert hashlib.sha256((dest / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert _temporaries(dest) == []
    for index in range(2):
        items = json.loads((tmp_path / f"run{index}.json").read_text())["items"]
        for item in items:  # no run reports "ok" for bytes that are not the file
            assert item["status"] in ("ok", "skipped") and item["sha256"] == expected[Path(item["path"]).name]


def test_a_final_name_shaped_like_the_old_part_name_is_just_a_name(tmp_path: Path) -> None:
    """x.bin.part is a file like any other; the next run's x.bin never takes its bytes as a start."""
    with ServerProcess(ServeConfig(files=2, size=(300_000, 300_000), seed=9)) as base:
        files = manifest(base)
        first = fetch([Entry(base + files[0]["url"], out="x.bin.part")], tmp_path)
        second = fetch([Entry(base + files[1]["url"], out="x.bin")], tmp_path)
    assert [r.status for r in first.items + second.items] == ["ok", "ok"]
    assert second.items[0].resumed_from == 0
    assert hashlib.sha256((tmp_path / "x.bin").read_bytes()).hexdigest() == files[1]["sha256"]
    assert hashlib.sha256((tmp_path / "x.bin.part").read_bytes()).hexdigest() == files[0]["sha256"]


@pytest.mark.parametrize("engine", ["asyncio", "threads", "sequential"])
def test_a_hard_linked_part_is_never_written_through(tmp_path: Path, engine: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n" * 1000)
    dest = tmp_path / "dest"
    dest.mkdir()
    os.link(victim, dest / ".file-00000.bin.tulip-part")  # someone else's file, under our part's name
    with ServerProcess(ServeConfig(files=1, size=(300_000, 300_000))) as base:
        files = manifest(base)
        report = fetch([Entry(base + files[0]["url"], sha256=files[0]["sha256"])], dest, engine=engine)
    assert report.items[0].status == "ok" and report.items[0].resumed_from == 0
    assert victim.read_bytes() == b"precious\n" * 1000
    assert hashlib.sha256((dest / "file-00000.bin").read_bytes()).hexdigest() == files[0]["sha256"]


@pytest.mark.parametrize("engine", ["asyncio", "threads"])
def test_a_part_longer_than_the_file_is_started_over(tmp_path: Path, engine: str) -> None:
    with ServerProcess(ServeConfig(files=1, size=(300_000, 300_000))) as base:
        files = manifest(base)
        part = tmp_path / ".file-00000.bin.tulip-part"
        part.write_bytes(b"x" * 500_000)  # from a bigger, older version of the file
        report = fetch([Entry(base + files[0]["url"], sha256=files[0]["sha256"])], tmp_path, engine=engine)
    (result,) = report.items
    assert (result.status, result.resumed_from, result.attempts) == ("ok", 0, 2)  # a 416, then the file
    assert hashlib.sha256((tmp_path / "file-00000.bin").read_bytes()).hexdigest() == files[0]["sha256"]


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGHUP, -signal.SIGHUP)],
    ids=["TERM", "HUP"],
)
@pytest.mark.parametrize("engine", ["asyncio", "threads"])
def test_terminating_signals_end_a_run_like_ctrl_c(
    tmp_path: Path, engine: str, signum: int, status: int
) -> None:
    config = ServeConfig(files=4, size=(2_000_000, 2_000_000), seed=4, faults=Faults(bandwidth=1_000_000))
    with ServerProcess(config) as base:
        files = manifest(base)
        report_file = tmp_path / "report.json"
        command = tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path / "d"),
                            "--engine", engine, "--json", str(report_file))  # fmt: skip
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            deadline = time.monotonic() + 20
            while not (tmp_path / "d").exists() or not _temporaries(tmp_path / "d"):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            time.sleep(0.5)
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == status, err
        assert "interrupted" in out and "Traceback" not in err
        report = json.loads(report_file.read_text())
        assert report["summary"]["interrupted"] is True
        assert all(name.endswith(".tulip-part") for name in os.listdir(tmp_path / "d"))
        rerun = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    for f in files:
        assert hashlib.sha256((tmp_path / "d" / f["name"]).read_bytes()).hexdigest() == f["sha256"]


@pytest.mark.parametrize("engine", ["asyncio", "threads"])
def test_a_run_stuck_on_a_silent_server_ends_at_once_on_a_signal(tmp_path: Path, engine: str) -> None:
    """A server that sent part of the body and went silent: SIGTERM ends the run at once, what came
    kept for the resume. On the threads engine a reader waited out the read timeout first (a
    minute here, with nothing kept)."""
    from tests.download.conformance.scripted import Pause, Scripted

    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
    with Scripted({"/f": lambda r: [head + b"x" * 300_000, Pause(90)]}) as server:
        report_file = tmp_path / "report.json"
        command = tulip_cmd("fetch", f"{server.base}/f", "-d", str(tmp_path / "d"), "--engine", engine,
                            "--timeout", "60", "--no-proxy", "*", "--json", str(report_file))  # fmt: skip
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            deadline = time.monotonic() + 20
            while not server.requests:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            time.sleep(1.0)  # (the 300 KB arrive; then silence)
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)  # (not the read timeout's minute)
    assert proc.returncode == -signal.SIGTERM, err
    (item,) = json.loads(report_file.read_text())["items"]
    assert (item["status"], item["bytes"]) == ("interrupted", 300_000), item
    assert (tmp_path / "d" / ".f.tulip-part").read_bytes() == b"x" * 300_000


def test_concurrent_runs_under_faults_and_random_kills(tmp_path: Path) -> None:
    """Two and three runs at a time over one destination, faults on, each killed at a random moment
    by SIGINT, SIGTERM or SIGKILL, round after round; then one run to the end. A watcher hashes every
    final file it ever sees; no report calls a file ok that is not the file."""
    rng = random.Random(12)
    faults = Faults(bandwidth=800_000, error_rate=0.1, drop_rate=0.05, truncate_rate=0.05, retry_after=0)
    config = ServeConfig(files=30, size=(20_000, 600_000), seed=21, faults=faults)
    dest = tmp_path / "dest"
    with ServerProcess(config) as base:
        files = manifest(base)
        expected = {f["name"]: f["sha256"] for f in files}
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{base}{f['url']}\n" for f in files))
        with ContentWatcher(dest, expected) as watcher:
            for round_ in range(4):
                runs = []
                for index in range(2 + round_ % 2):
                    report = tmp_path / f"r{round_}-{index}.json"
                    engine = rng.choice(["asyncio", "threads"])
                    command = tulip_cmd("fetch", "-i", str(urls), "-d", str(dest), "-c", "6", "--quiet",
                                        "--engine", engine, "--json", str(report))  # fmt: skip
                    runs.append(
                        (
                            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                            report,
                        )
                    )
                time.sleep(rng.uniform(0.3, 1.5))
                for proc, _report in runs:
                    proc.send_signal(rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL]))
                for proc, report in runs:
                    proc.wait(30)
                    if report.exists():
                        for item in json.loads(report.read_text())["items"]:
                            if item["status"] in ("ok", "skipped"):
                                name = Path(item["path"]).name
                                assert item["sha256"] == expected[name], item
                                on_disk = hashlib.sha256((dest / name).read_bytes()).hexdigest()
                                assert on_disk == expected[name], name
            final = subprocess.run(
                tulip_cmd("fetch", "-i", str(urls), "-d", str(dest), "-c", "6", "--quiet", "--retries", "20"),
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
    assert final.returncode == 0, final.stderr
    assert watcher.wrong == [], watcher.wrong
    assert watcher.checked >= len(expected)
    for name, digest in expected.items():
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == digest
    assert _temporaries(dest) == []


@pytest.mark.parametrize("engine", ["asyncio", "threads", "sequential"])
def test_a_sigkill_keeps_what_a_slow_server_sent(tmp_path: Path, engine: str) -> None:
    """The asyncio engine held a body in memory until a buffer (up to 1 MiB) was full: killed during
    a slow download, its part was empty, and the resume began again from nothing."""
    from tests.download.conformance.scripted import Pause, Scripted, response

    body = random.Random(4).randbytes(3_000_000)
    slow = [response("200 OK", b"", f"Content-Length: {len(body)}", 'ETag: "v1"', length=None),
            body[:100_000], Pause(30)]  # fmt: skip
    part = tmp_path / ".f.bin.tulip-part"
    with Scripted({"/f.bin": lambda r: slow}) as server:
        proc = subprocess.Popen(tulip_cmd("fetch", "-q", "--engine", engine, f"{server.base}/f.bin", "-d",
                                          str(tmp_path)), stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not (part.exists() and part.stat().st_size >= 100_000):
                time.sleep(0.05)
        finally:
            proc.kill()
            proc.wait(10)
    assert part.read_bytes() == body[:100_000]
