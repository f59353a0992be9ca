"""Split downloads (--split), in every engine: spans over several connections into a sparse .part,
stolen halves, faults on any connection, servers that ignore ranges or change their mind, the file
changing between runs, and a resume of each span where it stopped."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aiotulip import ENGINES, Entry, FetchOptions, RetryPolicy, fetch
from aiotulip.serve import Faults, ServeConfig, ServerProcess, ServerThread
from tests.download.conformance.scripted import Request, Scripted, response
from tests.download.helpers import manifest, signal_and_wait
from tests.terminal import tulip_cmd

MB = 1 << 20


def stats(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/_tulip/stats", timeout=10) as answer:
        return json.load(answer)


def options(engine: str, **extra: object) -> FetchOptions:
    return FetchOptions(engine=engine, split=4, min_split_size=MB // 2, netrc=False, proxy="", timeout=10.0,
                        policy=RetryPolicy(retries=8, backoff=0.01, max_backoff=0.05), **extra)  # type: ignore[arg-type]  # fmt: skip


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_big_file_comes_in_spans_over_several_connections(tmp_path: Path, engine: str) -> None:
    # (16 MB/s an answer: a span lasts long enough for the others to be under way beside it, on a
    # loaded machine too; unpaced, one span could end before the last began)
    paced = Faults(bandwidth=16 * MB)
    with ServerThread(ServeConfig(files=2, size=(6 * MB, 6 * MB), seed=3, faults=paced)) as base:
        files = manifest(base)
        urls = [base + f["url"] for f in files]
        report = fetch(urls, tmp_path, options(engine))
        seen = stats(base)
    rows = [(r.status, r.sha256, r.attempts, r.bytes) for r in report.items]
    assert rows == [("ok", f["sha256"], 1, f["size"]) for f in files]
    assert seen["statuses"] == {"206": seen["requests"]}  # every request a range
    assert seen["requests"] >= 2 * 4  # four spans a file at least (stolen halves add some)
    assert seen["peak_connections"] >= 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f["name"] for f in files)
    for f in files:
        assert sha(tmp_path / f["name"]) == f["sha256"]
        assert not os.listxattr(tmp_path / f["name"]) or "user.tulip.segments" not in os.listxattr(
            tmp_path / f["name"]
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_faults_on_any_connection_are_retried_there(tmp_path: Path, engine: str) -> None:
    faults = Faults(drop_rate=0.15, truncate_rate=0.1, error_rate=0.1, retry_after=0, bandwidth=40 * MB)
    with ServerThread(ServeConfig(files=2, size=(5 * MB, 5 * MB), seed=11, faults=faults)) as base:
        files = manifest(base)
        sources = [Entry(base + f["url"], sha256=f["sha256"], size=f["size"]) for f in files]
        report = fetch(sources, tmp_path, options(engine))
    assert [(r.status, r.sha256) for r in report.items] == [("ok", f["sha256"]) for f in files]
    assert sum(r.attempts for r in report.items) > 2  # faults happened and were retried
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f["name"] for f in files)


@contextmanager
def plain_http_server(root: Path) -> Iterator[str]:
    """Python's http.server: no Range support at all (every answer a 200 with the whole file)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_server_without_ranges_gets_one_stream(tmp_path: Path, engine: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(3 * MB))
    with plain_http_server(root) as base:
        report = fetch([f"{base}/big.bin"], tmp_path / "out", options(engine))
    assert [(r.status, r.attempts, r.sha256) for r in report.items] == [("ok", 1, sha(root / "big.bin"))]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_server_that_stops_honouring_ranges_is_read_in_one_stream(tmp_path: Path, engine: str) -> None:
    """The first answer (bytes=0-) is a 206; later ranges get the whole file (a 200): the spans are
    abandoned and the file is fetched again in one stream, once."""
    body = os.urandom(3 * MB)
    asked: list[str] = []

    def fickle(r: Request) -> list[bytes]:
        asked.append(r.headers.get("range", ""))
        if r.headers.get("range") == "bytes=0-" and len([a for a in asked if a == "bytes=0-"]) == 1:
            whole = f"Content-Range: bytes 0-{len(body) - 1}/{len(body)}"
            return [response("206 Partial Content", body, whole, 'ETag: "e1"')]
        return [response("200 OK", body, 'ETag: "e1"')]

    with Scripted({"/fickle": fickle}) as server:
        report = fetch([f"{server.base}/fickle"], tmp_path, options(engine))
    assert [(r.status, r.sha256) for r in report.items] == [("ok", hashlib.sha256(body).hexdigest())]
    assert asked.count("") == 1  # once in one stream, after the spans were given up
    assert (tmp_path / "fickle").read_bytes() == body


def _interrupted_split(base: str, dest: Path, engine: str, after: float) -> None:
    """Start a split download in a process and SIGKILL it *after* seconds in, once its map has kept
    some bytes (a loaded machine may take longer to get there; 15 s at most)."""
    command = tulip_cmd("fetch", f"{base}/files/file-00000.bin", "-d", str(dest), "--engine", engine, "-q",
                        "--split", "4", "--min-split-size", "256k")  # fmt: skip
    part = dest / ".file-00000.bin.tulip-part"
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        time.sleep(after)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None and not _kept(part):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def _kept(part: Path) -> int:
    """Bytes the part's map says are written (0 without a map yet)."""
    try:
        kept = json.loads(os.getxattr(part, "user.tulip.segments"))
    except (OSError, ValueError):
        return 0
    return sum(b - a for a, b in kept.get("done", []))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_split_download_resumes_each_span(tmp_path: Path, engine: str) -> None:
    faults = Faults(bandwidth=2 * MB)  # per response: four spans, 8 MB/s, about 2 s for the file
    with ServerProcess(ServeConfig(files=1, size=(16 * MB, 16 * MB), seed=2, faults=faults)) as base:
        (entry,) = manifest(base)
        _interrupted_split(base, tmp_path, engine, after=1.0)
        part = tmp_path / ".file-00000.bin.tulip-part"
        assert part.exists() and part.stat().st_size == entry["size"]  # sparse, at the file's size
        kept = json.loads(os.getxattr(part, "user.tulip.segments"))
        done = sum(b - a for a, b in kept["done"])
        # Part of the file, as written by several connections (the map merges spans that touch, so how
        # many intervals it holds depends on the moment: the bytes, not the count, are the property).
        assert 0 < done < entry["size"]
        before = stats(base)["bytes_sent"]
        report = fetch([f"{base}/files/file-00000.bin"], tmp_path, options(engine))
        sent = stats(base)["bytes_sent"] - before
    (result,) = report.items
    assert (result.status, result.sha256, result.resumed_from) == ("ok", entry["sha256"], done)
    assert sent < entry["size"] - done + 4 * MB  # the holes, and what a span read past its end
    assert sorted(os.listdir(tmp_path)) == ["file-00000.bin"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_slow_split_download_keeps_its_map_within_a_second(tmp_path: Path, engine: str) -> None:
    """The map was kept every 4 MB written: a slow download (here 4 spans of 64 KB/s) had none for a
    minute, and a SIGKILL meanwhile cost all it had written."""
    faults = Faults(bandwidth=64 * 1024)
    with ServerProcess(ServeConfig(files=1, size=(4 * MB, 4 * MB), seed=2, faults=faults)) as base:
        command = tulip_cmd("fetch", f"{base}/files/file-00000.bin", "-d", str(tmp_path), "--engine", engine,
                            "-q", "--split", "4", "--min-split-size", "256k")  # fmt: skip
        part = tmp_path / ".file-00000.bin.tulip-part"
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None and not _kept(part):
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    assert 0 < _kept(part) < 4 * MB


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_ctrl_c_reports_the_bytes_a_split_download_wrote(tmp_path: Path, engine: str) -> None:
    """Ctrl-C ends a split download at once, and the interrupted item's bytes are those its spans
    wrote — what its map keeps for the resume — not the size of its sparse part (a 16 MB file said
    "16 MiB kept" a second in; the sequential engine finished the file before it stopped)."""
    faults = Faults(bandwidth=MB)  # four spans at 1 MB/s each: 4 s for the file
    with ServerProcess(ServeConfig(files=1, size=(16 * MB, 16 * MB), seed=2, faults=faults)) as base:
        report = tmp_path / "r.json"
        command = tulip_cmd("fetch", f"{base}/files/file-00000.bin", "-d", str(tmp_path), "--engine", engine,
                            "--split", "4", "--min-split-size", "256k", "--json", str(report))  # fmt: skip
        part = tmp_path / ".file-00000.bin.tulip-part"
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not part.exists():
                time.sleep(0.02)
            time.sleep(1.0)
            out, err, took = signal_and_wait(proc)
    assert proc.returncode == -signal.SIGINT, err
    assert took < 2.0, took  # (the sequential engine waited for every span to end: the whole file)
    (item,) = json.loads(report.read_text())["items"]
    assert item["status"] == "interrupted"
    assert 0 < item["bytes"] <= _kept(part) < 16 * MB, item
    assert "16.0 MiB kept" not in out


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_changed_between_runs_starts_every_span_over(tmp_path: Path, engine: str) -> None:
    faults = Faults(bandwidth=2 * MB)
    with ServerProcess(ServeConfig(files=1, size=(16 * MB, 16 * MB), seed=2, faults=faults)) as base:
        _interrupted_split(base, tmp_path, engine, after=1.0)
        assert (tmp_path / ".file-00000.bin.tulip-part").exists()
        request = urllib.request.Request(f"{base}/_tulip/corpus", data=b'{"version": 1}', method="PUT")
        urllib.request.urlopen(request, timeout=10).close()
        (changed,) = manifest(base)
        report = fetch([f"{base}/files/file-00000.bin"], tmp_path, options(engine))
    (result,) = report.items
    assert (result.status, result.sha256, result.resumed_from) == ("ok", changed["sha256"], 0)
    assert sha(tmp_path / "file-00000.bin") == changed["sha256"]


def test_the_bar_follows_the_bytes_of_a_big_file_and_says_how_it_comes(tmp_path: Path) -> None:
    """On a terminal, one big file of unannounced size: once the server gives its size the bar
    follows bytes (with an ETA), and says over how many connections the file comes."""
    from tests.terminal import run_on_pty

    faults = Faults(bandwidth=MB)  # four connections: about 3 s for the file
    with ServerProcess(ServeConfig(files=1, size=(12 * MB, 12 * MB), seed=2, faults=faults)) as base:
        run = run_on_pty(
            tulip_cmd("fetch", f"{base}/files/file-00000.bin", "-d", str(tmp_path), "--split", "4",
                      "--min-split-size", "256k"),
            columns=120, timeout=60,
        )  # fmt: skip
    text = run.text()
    assert run.returncode == 0, text
    assert "over 4 connections" in text
    # An ETA from bytes while it runs (by files, one file has none until it is done).
    assert re.search(r"0:00:0[1-9]", text), text
    assert any("1/1 file " in line for line in run.screen())


VERSION_A = bytes(range(256)) * (12 * 1024)  # 3 MiB
VERSION_B = bytes(reversed(range(256))) * (12 * 1024)


def _two_versions(request: Request) -> list[object]:
    """No validator ever; the first answer is of version A and breaks off, every later one is B."""
    from tests.download.conformance.scripted import CLOSE

    size = len(VERSION_A)
    start, _, end = request.headers.get("range", "bytes=0-").removeprefix("bytes=").partition("-")
    first, last = int(start), int(end) if end else size - 1
    body = (VERSION_A if request.nth == 0 else VERSION_B)[first : last + 1]
    head = response("206 Partial Content", b"", f"Content-Range: bytes {first}-{last}/{size}",
                    length=len(body))  # fmt: skip
    return [head + body[: len(body) // 4], CLOSE] if request.nth == 0 else [head + body]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_without_a_validator_is_never_split(tmp_path: Path, engine: str) -> None:
    """Spans asked at different times may be of two versions, and with no ETag or Last-Modified
    nothing can tell (found by an attack pass: 76,800 bytes of one and 230,400 of another, ok). Such a
    file comes in one stream, which starts over after a break."""
    with Scripted({"/f.bin": _two_versions}) as server:
        report = fetch([f"{server.base}/f.bin"], tmp_path, options(engine))
    (result,) = report.items
    assert result.status == "ok" and (tmp_path / "f.bin").read_bytes() == VERSION_B


def test_what_a_part_keeps_is_its_map_for_a_split_download_else_its_size(tmp_path: Path) -> None:
    """The bytes a killed --workers child's items report are asked of the disk: a split part is
    sparse, at the file's size, and only its map says what is written."""
    from aiotulip.download.models import Job
    from aiotulip.download.store import Store

    store = Store(tmp_path)
    store.prepare()
    split, plain = Job("http://h/s.bin", "s.bin"), Job("http://h/p.bin", "p.bin")
    with open(store.part_path(split), "wb") as part:
        part.truncate(100)
    os.setxattr(store.part_path(split), "user.tulip.segments",
                json.dumps({"v": 1, "total": 100, "done": [[0, 10], [50, 60]]}).encode())  # fmt: skip
    Path(store.part_path(plain)).write_bytes(b"x" * 42)
    assert (store.held(split), store.held(plain), store.held(Job("http://h/n.bin", "n.bin"))) == (20, 42, 0)
