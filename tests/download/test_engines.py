"""The three engines against tulip serve: identical Reports, correct bytes under heavy faults."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from aiotulip import Entry, RetryPolicy, fetch, fetch_async
from aiotulip.errors import UsageError
from aiotulip.serve import Faults, ServeConfig, ServerThread, serving
from tests.aio import aio
from tests.download.helpers import assert_disk_matches, comparable, entries, manifest

CHAOS = Faults(error_rate=0.2, drop_rate=0.05, truncate_rate=0.05, retry_after=0)
FAST_RETRIES = dict(retries=10, policy=None)


def chaos_config(files: int = 120) -> ServeConfig:
    # Sizes from 1 byte to 300 KB: both the small-body path and the streamed, resumable one.
    return ServeConfig(files=files, size=(1, 300_000), seed=11, faults=CHAOS)


def quick_policy() -> RetryPolicy:
    return RetryPolicy(retries=10, backoff=0.01, max_backoff=0.05)


def test_three_engines_give_identical_reports_under_faults(tmp_path: Path) -> None:
    reports = {}
    for engine in ("sequential", "threads", "asyncio"):
        # A fresh server per engine: the same seed meets every engine with the same faults.
        with ServerThread(chaos_config()) as base:
            files = manifest(base)
            extra = [
                Entry(f"{base}/files/missing.bin"),
                Entry(f"{base}/files/file-00001.bin?status=403", out="forbidden"),
            ]
            sources = [*entries(base), *extra]
            dest = tmp_path / engine
            report = fetch(sources, dest, engine=engine, concurrency=8, policy=quick_policy())
        reports[engine] = comparable(report, dest)
        assert report.counts()["ok"] == len(files)
        assert report.retried > 10  # the faults really happened ...
        statuses = {r.url.rsplit("/", 1)[-1]: (r.status, r.error) for r in report.items[-2:]}
        assert statuses == {
            "missing.bin": ("not_found", "HTTP 404"),
            "file-00001.bin?status=403": ("failed", "HTTP 403"),
        }
        assert_disk_matches(dest, files)  # ... and every file is right anyway
        assert report.exit_status() == 1
    assert reports["sequential"] == reports["threads"] == reports["asyncio"]


@aio
async def test_fetch_async_inside_a_loop(tmp_path: Path) -> None:
    async with serving(chaos_config(60)) as base:
        files = await asyncio.to_thread(manifest, base)
        report = await fetch_async(
            await asyncio.to_thread(entries, base), tmp_path, concurrency=20, policy=quick_policy()
        )
    assert report.ok and report.counts()["ok"] == 60
    assert report.max_lag is not None and report.max_lag < 0.5
    assert_disk_matches(tmp_path, files)


@aio
async def test_sync_facade_refuses_a_running_loop(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="fetch_async"):
        fetch(["http://127.0.0.1:1/x"], tmp_path)


@pytest.mark.parametrize("engine", ["threads", "asyncio"])
def test_concurrency_and_per_host_limits_hold(tmp_path: Path, engine: str) -> None:
    import json
    import urllib.request

    config = ServeConfig(files=40, size=(100, 100), faults=Faults(delay=0.2))
    for concurrency, per_host, expected in ((10, None, 10), (10, 3, 3)):
        with ServerThread(config) as base:
            report = fetch(entries(base), tmp_path / f"{engine}{concurrency}{per_host}", engine=engine,
                           concurrency=concurrency, per_host=per_host)  # fmt: skip
            with urllib.request.urlopen(f"{base}/_tulip/stats") as resp:
                peak = json.load(resp)["peak_connections"]
        assert report.ok
        assert peak == expected, (concurrency, per_host, peak)


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
@pytest.mark.parametrize("size", [2_000, 3_000_000])  # written whole (asyncio: in batches), streamed
def test_a_bug_in_the_store_fails_its_items_and_never_hangs_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, size: int
) -> None:
    """An exception no one expected where files are written (a bug's, not an OSError) ends each item
    it meets as an internal error. In a batch of small files written on the event loop, it escaped
    the batch and left every file of it waiting: the run never ended."""
    from aiotulip.download.store import PartFile, Store

    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("a bug")

    monkeypatch.setattr(Store, "write_whole", broken)
    monkeypatch.setattr(PartFile, "commit", broken)
    with ServerThread(ServeConfig(files=6, size=(size, size))) as base:
        report = fetch([f"{base}/files/file-{i:05d}.bin" for i in range(6)], tmp_path, engine=engine,
                       item_timeout=60)  # fmt: skip
    assert {(r.status, r.error_kind) for r in report.items} == {("failed", "internal")}
    assert all("RecursionError" in (r.error or "") for r in report.items)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []


# -- Ctrl-C and cancellation reach the caller --------------------------------------------------------

SLOW = ServeConfig(files=3, size=(3 << 20, 3 << 20), seed=2, faults=Faults(bandwidth=300_000))


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_ctrl_c_in_fetch_stops_the_program_with_the_report(tmp_path: Path, engine: str) -> None:
    """fetch() turned a Ctrl-C into an interrupted Report and returned it: a program calling it in a
    loop went on to the next call (found by the attack pass). It raises FetchInterrupted now, a
    KeyboardInterrupt whose report says what was done."""
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    with ServerThread(SLOW) as base:
        program = textwrap.dedent(f"""
            import aiotulip, sys
            for i in range(3):
                print("call", i, flush=True)
                try:
                    url = {base!r} + "/files/file-0000%d.bin" % i
                    aiotulip.fetch([url], {str(tmp_path)!r}, engine={engine!r})
                except aiotulip.FetchInterrupted as stop:
                    (item,) = stop.report.items
                    print("interrupted", item.status, item.bytes > 0, stop.report.exit_status(), flush=True)
                    raise
        """)  # fmt: skip
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        proc = subprocess.Popen([sys.executable, "-c", program], **pipes)  # type: ignore[call-overload]
        deadline = time.monotonic() + 30
        while (
            not any(p.name.endswith("tulip-part") for p in tmp_path.iterdir()) and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert out.splitlines() == ["call 0", "interrupted interrupted True 130"], err
    assert proc.returncode == 1 and err.rstrip().endswith("aiotulip.errors.FetchInterrupted: interrupted"), (
        err
    )


def test_a_cancelled_fetch_async_over_processes_finishes_then_lets_the_cancellation_through(
    tmp_path: Path,
) -> None:
    """With workers=2 the run finishes first (it is not stopped), and the cancellation was then
    swallowed: the task went on as if nothing had asked it to end."""

    async def main(base: str) -> None:
        task = asyncio.create_task(
            fetch_async([f"{base}/files/file-0000{i}.bin" for i in range(2)], tmp_path, workers=2)
        )
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with ServerThread(
        ServeConfig(files=2, size=(300_000, 300_000), faults=Faults(bandwidth=300_000))
    ) as base:
        asyncio.run(main(base))


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_a_cancelled_fetch_async_lets_the_cancellation_through(tmp_path: Path, engine: str) -> None:
    """fetch_async swallowed its cancellation and returned a Report: asyncio.timeout raised no
    TimeoutError, and the caller could not tell its timeout from a finished run. A blocking engine
    went on downloading in its thread after the cancellation (to the end of its 10 s files)."""

    async def main(base: str) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await fetch_async([f"{base}/files/file-00000.bin"], tmp_path, engine=engine)

    with ServerThread(SLOW) as base:
        asyncio.run(main(base))
        (part,) = tmp_path.iterdir()
        kept = part.stat().st_size
        time.sleep(0.5)
        assert part.name.endswith("tulip-part") and 0 < kept == part.stat().st_size < SLOW.size[0]
