"""Disk trouble: a file-size limit, a destination that vanishes or turns into a file mid-run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotulip import fetch
from aiotulip.serve import Faults, ServeConfig, ServerProcess, ServerThread
from tests.download.helpers import manifest


def _with_file_size_limit(args: list[str], limit: int) -> list[str]:
    """A command running ``tulip ARGS`` in a process that may not write files past *limit* bytes."""
    code = (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        f"sys.argv = ['tulip', *{args!r}]; runpy.run_module('aiotulip', run_name='__main__')"
    )
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_file_size_limit_fails_big_items_cleanly(tmp_path: Path, engine: str) -> None:
    config = ServeConfig(files=12, size=(10_000, 300_000), seed=3)
    with ServerThread(config) as base:
        files = manifest(base)
        report_file = tmp_path / "report.json"
        command = _with_file_size_limit([
            "fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path / "d"),
            "--engine", engine, "--json", str(report_file), "-q",
        ], 100_000)  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    items = {Path(i["path"]).name: i for i in json.loads(report_file.read_text())["items"]}
    sizes = {f["name"]: f["size"] for f in files}
    for name, size in sizes.items():
        item = items[name]
        if size <= 100_000:
            assert item["status"] == "ok", item
            assert (tmp_path / "d" / name).stat().st_size == size
        else:
            assert item["status"] == "failed", item
            assert "too large" in item["error"], item
            assert not (tmp_path / "d" / name).exists()  # never a partial file under the real name


@pytest.mark.parametrize("engine", ["threads", "asyncio"])
def test_destination_vanishing_mid_run(tmp_path: Path, engine: str) -> None:
    dest = tmp_path / "dest"
    # 120 files, two at a time behind 50 ms each: three seconds, the sabotage at 0.3 s well inside
    # it however slowly a loaded machine starts the run.
    config = ServeConfig(files=120, size=(20_000, 20_000), faults=Faults(delay=0.05))
    with ServerProcess(config) as base:
        sources = [f"{base}/files/file-{i:05d}.bin" for i in range(120)]

        def sabotage() -> None:
            time.sleep(0.3)
            for _ in range(100):  # (a folder tulip makes again between the two is removed again)
                shutil.rmtree(dest, ignore_errors=True)
                try:
                    dest.write_text("now a file, not a directory")
                    return
                except IsADirectoryError:
                    time.sleep(0.01)

        saboteur = threading.Thread(target=sabotage)
        saboteur.start()
        report = fetch(sources, dest, engine=engine, concurrency=2)
        saboteur.join()
    assert len(report.items) == 120  # every item is reported, whatever happened to the disk
    failed = [r for r in report.items if r.status == "failed"]
    assert failed, "the sabotage should have failed some items"
    assert all(r.error and ("cannot write" in r.error or "Not a directory" in r.error) for r in failed), (
        failed[:2]
    )
    assert dest.read_text() == "now a file, not a directory"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A file system of 1 MiB (a tmpfs mounted for the test: root only)."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"a full disk needs a tmpfs of its own, and mount refused: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.mark.parametrize(
    ("engine", "more"),
    [("sequential", []), ("threads", []), ("asyncio", []), ("asyncio", ["--workers", "2"])],
)
def test_a_full_disk_stops_the_run_asking_for_more(
    small_disk: Path, tmp_path: Path, engine: str, more: list[str]
) -> None:
    """Once the disk is full no new item starts: each would ask its server for the file only to
    fail the same way (all 400 did). The items under way end (kept parts for a resume, never a
    partial file under its name), the rest are not started, and the run says why — with worker
    processes too (the reason was lost on the way to the parent)."""
    config = ServeConfig(files=400, size=(8_000, 8_000), seed=4)
    with ServerThread(config) as base:
        files = {f["name"]: f for f in manifest(base)}
        report_file = tmp_path / "report.json"
        proc = subprocess.run(
            [sys.executable, "-m", "aiotulip", "fetch", "--manifest", f"{base}/manifest.json", "-c", "8",
             "-d", str(small_disk / "d"), "--engine", engine, "--json", str(report_file), *more],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(report_file.read_text())
    items, summary = report["items"], report["summary"]
    ok = [i for i in items if i["status"] == "ok"]
    failed = [i for i in items if i["status"] == "failed"]
    assert 50 < len(ok) < 400 and failed, summary
    assert all("no space left on device" in i["error"] for i in failed)
    assert len(failed) <= 2 * 8 + 1  # asked for after the disk filled: only what was under way
    assert summary["not_started"] == 400 - len(ok) - len(failed) > 200
    assert "no space left on device" in summary["stopped"]
    assert "stopped early: no space left on device" in proc.stdout
    for item in ok:
        name = Path(item["path"]).name
        assert (small_disk / "d" / name).stat().st_size == files[name]["size"]
    for path in (small_disk / "d").iterdir():  # nothing else under a final name
        assert path.name.endswith(".tulip-part") or path.name in {Path(i["path"]).name for i in ok}, path


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_a_split_download_that_fills_the_disk_stops_the_run(
    small_disk: Path, tmp_path: Path, engine: str
) -> None:
    """A span of a split download meets the full disk: the run starts nothing more (it set nothing,
    and every later item was fetched only to fail the same way), and its part stays for a resume."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(3_000_000))
    for n in range(40):
        (root / f"s{n:02d}.bin").write_bytes(b"s" * 4_000)
    with ServerThread(ServeConfig(root=root)) as base:
        urls = [f"{base}/files/big.bin", *(f"{base}/files/s{n:02d}.bin" for n in range(40))]
        report_file = tmp_path / "report.json"
        proc = subprocess.run(
            [sys.executable, "-m", "aiotulip", "fetch", *urls, "--split", "4", "--min-split-size", "100K",
             "-c", "1", "-d", str(small_disk / "d"), "--engine", engine, "--json", str(report_file)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    report = json.loads(report_file.read_text())
    big, *small = report["items"]
    assert big["status"] == "failed" and "no space left on device" in big["error"], big
    assert [i["status"] for i in small] == ["interrupted"] * 40  # (not started)
    assert "no space left on device" in report["summary"]["stopped"]


@pytest.mark.parametrize(
    ("mount", "config", "hidden"),
    [
        # out of inodes at the create: the reason named the temporary, .NAME.tulip-PID-N
        ("size=8m,nr_inodes=30", ServeConfig(files=100, size=(100, 100), seed=6), ".tulip-"),
        # out of bytes in a streamed file's part: it named .NAME.tulip-part
        ("size=1m", ServeConfig(files=3, size=(600_000, 600_000), seed=7), ".tulip-"),
    ],
    ids=["inodes", "bytes"],
)
def test_a_full_disk_is_said_of_the_users_file(
    tmp_path: Path, mount: str, config: ServeConfig, hidden: str
) -> None:
    """The run stops as on any full disk, and its reason names the file the user asked for, not
    one of tulip's hidden names."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", mount, "tmpfs", str(where)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"a full disk needs a tmpfs of its own, and mount refused: {mounted.stderr.strip()}")
    try:
        with ServerThread(config) as base:
            report_file = tmp_path / "report.json"
            proc = subprocess.run(
                [sys.executable, "-m", "aiotulip", "fetch", "--manifest", f"{base}/manifest.json", "-c", "1",
                 "-d", str(where), "--json", str(report_file)],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        summary = json.loads(report_file.read_text())["summary"]
        assert summary["stopped"].startswith(f"no space left on device: {where}/file-"), summary
        assert hidden not in summary["stopped"] and hidden not in proc.stdout
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
