"""What fetch's screen says is true: a file's row never shows more than the file holds, a retry
takes back what it does not keep, a resumed file starts at what it had, the last frame says what
the summary says, Ctrl-C leaves one bar and a summary that tells interrupted from not started, and
pipes get clean lines. Real ptys replayed with pyte; servers scripted to the byte."""

from __future__ import annotations

import itertools
import json
import random
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pyte
import pytest

from aiotulip import fetch
from aiotulip.download.models import Job
from aiotulip.download.progress import Progress
from aiotulip.serve import Faults, ServeConfig, ServerProcess
from tests.download.conformance.scripted import CLOSE, Pause, Request, Scripted, response
from tests.terminal import PtyRun, run_on_pty, signal_once, tulip_cmd

MB = 1 << 20
SIZE = 4 * MB
BODY = random.Random(3).randbytes(SIZE)
SLICE = 128 * 1024
ROW = re.compile(r"(\d+\.\d) MiB/(\d+\.\d) MiB")
SHOWN = re.compile(r"(\d+\.\d) MiB  \d")  # the overall bar's "N.N MiB" after the file count


def _paced(body: bytes, *head: str, upto: int | None = None) -> list[object]:
    """*body* in slices with pauses (frames to look at), cut after *upto* bytes if given."""
    end = len(body) if upto is None else upto
    actions: list[object] = [response("200 OK", b"", *head, f"Content-Length: {len(body)}", length=None)]
    for at in range(0, end, SLICE):
        actions += [body[at : min(at + SLICE, end)], Pause(0.02)]
    return [*actions, CLOSE] if upto is not None else actions


def _frames(run: PtyRun, offsets: list[int]) -> list[list[str]]:
    return [PtyRun(run.output[:at], 0, run.columns, run.rows).screen() for at in offsets[::2]]


def _bar_filled(run: PtyRun, at: int) -> float | None:
    """How much of the overall bar is drawn as done in the frame at *at* (rich draws the rest in
    the same character, grey), None if no bar shows."""
    screen = pyte.Screen(run.columns, run.rows)
    pyte.ByteStream(screen).feed(run.output[:at])
    for y in range(run.rows):
        row = screen.buffer[y]
        if "".join(row[x].data for x in range(5)) == "fetch":
            cells = [row[x] for x in range(run.columns) if row[x].data in "━╸╺"]
            return sum(cell.fg != _GREY for cell in cells) / len(cells) if cells else None
    return None


_GREY = "3a3a3a"  # rich's bar.back


def _watch(offsets: list[int]):  # type: ignore[no-untyped-def]
    return lambda output, proc: offsets.append(len(output)) if len(offsets) < 4000 else None


def test_a_retry_that_starts_over_takes_its_bytes_back(tmp_path: Path) -> None:
    def route(r: Request) -> list[object]:
        # No validator: the cut part cannot be resumed, the second attempt starts from nothing.
        return _paced(BODY, upto=SIZE // 2) if r.nth == 0 else _paced(BODY)

    offsets: list[int] = []
    with Scripted({"/f.bin": route}) as server:
        run = run_on_pty(
            tulip_cmd("fetch", "--no-netrc", f"{server.base}/f.bin", "-d", str(tmp_path), "--retries", "2",
                      "--no-resume-unvalidated"),
            columns=100, rows=12, timeout=90, on_output=_watch(offsets),
        )  # fmt: skip
    assert run.returncode == 0, run.text()
    seen: list[float] = []
    for screen in _frames(run, offsets):
        for line in screen:
            for held, size in ROW.findall(line):
                assert float(held) <= float(size), line
            seen += [float(shown) for shown in SHOWN.findall(line)]
    assert max(seen) <= 4.0, seen  # (never the first attempt's 2 MiB on top of the second's 4)
    assert any(a > b for a, b in itertools.pairwise(seen)), "the retry took nothing back"
    screen = run.screen()
    assert any(line.startswith("saved ") and "(4.0 MiB in" in line for line in screen), screen


def test_a_resumed_file_starts_at_what_it_kept_and_ends_full(tmp_path: Path) -> None:
    etag = 'ETag: "v1"'

    def route(r: Request) -> list[object]:
        if r.nth == 0:
            return _paced(BODY, etag, upto=3 * MB)
        first = int(r.headers["range"].removeprefix("bytes=").rstrip("-"))
        rest = BODY[first:]
        head = response("206 Partial Content", b"", etag, f"Content-Range: bytes {first}-{SIZE - 1}/{SIZE}",
                        f"Content-Length: {len(rest)}", length=None)  # fmt: skip
        return [head, *[a for at in range(0, len(rest), SLICE) for a in (rest[at : at + SLICE], Pause(0.05))]]

    with Scripted({"/f.bin": route}) as server:
        url = f"{server.base}/f.bin"
        first = subprocess.run(tulip_cmd("fetch", "--no-netrc", url, "-d", str(tmp_path), "--retries", "0"),
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert first.returncode == 1, first.stderr  # cut at 3 MiB: the part keeps it
        offsets: list[int] = []
        run = run_on_pty(
            tulip_cmd("fetch", "--no-netrc", url, "-d", str(tmp_path), "--json", str(tmp_path / "r.json")),
            columns=100, rows=12, timeout=60, on_output=_watch(offsets),
        )  # fmt: skip
    assert run.returncode == 0, run.text()
    filled = [f for f in (_bar_filled(run, at) for at in offsets) if f is not None]
    # The first frame of the bar already shows the 3 MiB kept: three quarters full, not empty ...
    assert filled and 0.7 <= filled[0] < 1.0, filled
    # ... and its text counts this run's bytes, as the summary does: 1 MiB, not 4.
    last = [line for line in run.screen() if line.startswith("fetch ")][-1]
    assert "1/1 file  1.0 MiB" in last and filled[-1] == 1.0, last
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["bytes"] == MB and report["items"][0]["resumed_from"] == 3 * MB


def test_ctrl_c_leaves_one_bar_and_tells_interrupted_from_not_started(tmp_path: Path) -> None:
    config = ServeConfig(files=12, size=(2 * MB, 2 * MB), faults=Faults(bandwidth=MB))
    with ServerProcess(config) as base:
        run = run_on_pty(
            tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path / "out"), "-c", "3",
                      "--json", str(tmp_path / "r.json")),
            columns=100, rows=24, timeout=60, on_output=signal_once(b"MiB/s", signal.SIGINT),
        )  # fmt: skip
    assert run.returncode == -signal.SIGINT, run.text()
    screen = run.screen()
    assert sum(line.startswith("fetch ") for line in screen) == 1, "\n".join(screen)
    (bar,) = [line for line in screen if line.startswith("fetch ")]
    assert not re.search(r"\d:\d\d:\d\d$", bar), bar  # (no estimate left standing: the run ended short)
    assert any(line.startswith("tulip fetch (asyncio engine): 12 items, interrupted") for line in screen)
    items = json.loads((tmp_path / "r.json").read_text())["items"]
    under_way = [i for i in items if i["status"] == "interrupted" and i["error"] == "interrupted"]
    never = [i for i in items if i["status"] == "interrupted" and i["error"] == "not started"]
    assert len(under_way) == 3 and len(never) == 9 - sum(i["status"] == "ok" for i in items), items
    assert not [i for i in items if i["status"] == "failed"]
    for item in under_way:  # its bytes: what its part keeps for the next run
        name = Path(item["path"]).name
        assert item["bytes"] == (tmp_path / "out" / f".{name}.tulip-part").stat().st_size
    summary_line = next(line for line in screen if "not started: run the same command" in line)
    assert summary_line.startswith("  3 interrupted (") and f", {len(never)} not started" in summary_line


def test_pipes_get_clean_lines_and_help_shows_defaults(tmp_path: Path) -> None:
    with ServerProcess(ServeConfig(files=3, size=(1000, 1000))) as base:
        proc = subprocess.run(
            tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path)),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "tulip fetch (asyncio engine): 3 items"
    assert not [line for line in lines + proc.stderr.splitlines() if line != line.rstrip()]
    assert "\x1b" not in proc.stdout + proc.stderr
    assert len(lines) == 3
    header = ["ok", "skipped", "not", "found", "failed", "retried", "bytes", "wall", "files/s", "speed"]
    assert lines[1].split() == [*header, "loop", "lag"]

    helped = subprocess.run(tulip_cmd("fetch", "--help"), capture_output=True, text=True, timeout=30).stdout
    flat = " ".join(helped.split())
    for shown in ("downloads in flight (default 16)", "(default 5)", "(default 30 s)", "(default asyncio)"):
        assert shown in flat, (shown, helped)


@pytest.mark.parametrize("engine", ["asyncio", "threads", "sequential"])
def test_a_slow_bodys_bytes_are_told_as_they_come(tmp_path: Path, engine: str) -> None:
    """The asyncio engine told progress of a streamed body a buffer (a megabyte) at a time: a slow
    download's bar stood still for as long as a megabyte took, and said "connecting" until then."""
    body = BODY[: 3 * MB]
    told: list[tuple[int, bool]] = []  # (bytes, whether the server had sent the rest by then)
    sent_all = threading.Event()

    class Recorder(Progress):
        def advance(self, nbytes: int, job: Job | None = None) -> None:
            told.append((nbytes, sent_all.is_set()))

    def route(r: Request) -> Iterator[object]:
        yield response("200 OK", b"", f"Content-Length: {len(body)}", length=None)
        yield body[:100_000]
        yield Pause(5)
        sent_all.set()
        yield body[100_000:]

    with Scripted({"/f.bin": route}) as server:
        report = fetch([f"{server.base}/f.bin"], tmp_path, engine=engine, progress=Recorder())
    assert report.ok and (tmp_path / "f.bin").read_bytes() == body
    # All of the first 100 KB, before the rest came.
    assert sum(n for n, later in told if not later) == 100_000, told[:3]
    assert sum(n for n, _ in told) == len(body)
