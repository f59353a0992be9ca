"""The asyncio engine's writer of small files: on the loop while files are cheap, in a thread once
one is not (or with fsync), and every waiting item told how its write went either way."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from aiotulip.download.engines.aio import BatchWriter
from aiotulip.download.models import Job
from aiotulip.errors import StorageError
from tests.aio import aio


class FakeStore:
    """Records where each file was written; slow or failing for the names it is told."""

    def __init__(
        self, fsync: bool = False, slow: frozenset[str] = frozenset(), bad: frozenset[str] = frozenset()
    ):
        self.fsync = fsync
        self.slow, self.bad = slow, bad
        self.written: list[tuple[str, int]] = []  # (name, thread)

    def write_whole(self, job: Job, data: bytes, commit: object = None) -> None:
        if job.name in self.slow:
            time.sleep(0.02)
        if job.name in self.bad:
            raise StorageError("disk full", url=job.url)
        self.written.append((job.name, threading.get_ident()))


def jobs(count: int) -> list[Job]:
    return [Job(f"http://127.0.0.1:9/{n}", f"f{n}") for n in range(count)]


async def write_all(writer: BatchWriter, count: int, pause_every: int = 0) -> list[BaseException | None]:
    futures = []
    for n, job in enumerate(jobs(count)):
        futures.append(writer.submit(job, b"x" * 10, None))  # type: ignore[arg-type]
        if pause_every and n % pause_every == pause_every - 1:
            await asyncio.sleep(0)
    done = await asyncio.gather(*futures, return_exceptions=True)
    return [None if outcome is None else outcome for outcome in done]


@aio
async def test_cheap_files_are_written_on_the_loop_a_turn_at_a_time() -> None:
    store = FakeStore()
    writer = BatchWriter(store)  # type: ignore[arg-type]
    outcomes = await write_all(writer, 300, pause_every=50)
    assert outcomes == [None] * 300
    loop_thread = threading.get_ident()
    assert [name for name, _ in store.written] == [f"f{n}" for n in range(300)]
    assert {thread for _, thread in store.written} == {loop_thread}
    assert writer.on_loop and writer.backlog == 0


@aio
async def test_three_slow_files_send_every_later_one_to_a_thread() -> None:
    store = FakeStore(slow=frozenset({"f1", "f2", "f3"}))
    writer = BatchWriter(store)  # type: ignore[arg-type]
    outcomes = await write_all(writer, 200, pause_every=10)
    assert outcomes == [None] * 200
    assert not writer.on_loop
    loop_thread = threading.get_ident()
    threads = [thread for _, thread in store.written]
    assert sorted(name for name, _ in store.written) == sorted(f"f{n}" for n in range(200))
    assert threads[:4] == [loop_thread] * 4  # up to the third slow one
    assert loop_thread not in threads[4:]


@aio
async def test_fsync_always_writes_in_a_thread() -> None:
    store = FakeStore(fsync=True)
    writer = BatchWriter(store)  # type: ignore[arg-type]
    assert await write_all(writer, 50) == [None] * 50
    assert threading.get_ident() not in {thread for _, thread in store.written}


@pytest.mark.parametrize("fsync", [False, True])
@aio
async def test_a_failed_write_fails_its_own_item_only(fsync: bool) -> None:
    store = FakeStore(fsync=fsync, bad=frozenset({"f2", "f7"}))
    writer = BatchWriter(store)  # type: ignore[arg-type]
    outcomes = await write_all(writer, 10)
    failed = [n for n, outcome in enumerate(outcomes) if outcome is not None]
    assert failed == [2, 7]
    assert all(isinstance(outcomes[n], StorageError) for n in failed)
    assert writer.backlog == 0


@aio
async def test_files_that_are_all_a_little_slow_move_to_a_thread_after_a_few() -> None:
    store = FakeStore()
    store.write_whole = lambda job, data, commit=None: (  # type: ignore[method-assign]
        time.sleep(0.0003),
        store.written.append((job.name, threading.get_ident())),
    )
    writer = BatchWriter(store)  # type: ignore[arg-type]
    assert await write_all(writer, 150, pause_every=5) == [None] * 150
    on_loop = [thread == threading.get_ident() for _, thread in store.written]
    assert not writer.on_loop
    assert on_loop[:64] == [True] * 64 and not any(on_loop[80:])  # judged on 64 files (and their turn)


@aio
async def test_one_slow_file_now_and_then_keeps_the_writes_on_the_loop() -> None:
    store = FakeStore(slow=frozenset({"f5", "f90"}))  # a collector pause, a moment without the CPU
    writer = BatchWriter(store)  # type: ignore[arg-type]
    assert await write_all(writer, 200, pause_every=10) == [None] * 200
    assert writer.on_loop
    assert {thread for _, thread in store.written} == {threading.get_ident()}


@pytest.mark.parametrize("at", ["write", "rename"])
def test_a_ctrl_c_in_the_middle_of_a_small_file_leaves_no_temporary(tmp_path: object, at: str) -> None:
    """The sequential engine writes on the thread a Ctrl-C lands on: the file is whole under its
    name or absent, and nothing else is left in the folder."""
    from pathlib import Path
    from unittest import mock

    from aiotulip.download.store import Store

    dest = Path(str(tmp_path))
    store = Store(dest)
    store.prepare()
    target = "aiotulip.download.store.record.stamp" if at == "write" else "aiotulip.download.store.place"
    with mock.patch(target, side_effect=KeyboardInterrupt), pytest.raises(KeyboardInterrupt):
        store.write_whole(Job(url="http://127.0.0.1:1/a.bin", name="a.bin"), b"x" * 100)
    assert sorted(p.name for p in dest.iterdir()) == []


@aio
async def test_nothing_is_written_to_a_part_after_a_write_that_failed() -> None:
    """The 0.1 s clock handed what had come to the disk whenever the last write was done, failed or
    not: the failure was lost, and the next bytes were written after a hole."""
    import concurrent.futures
    from types import SimpleNamespace

    from aiotulip.download.engines.aio import _stream
    from aiotulip.download.progress import Progress

    class Body:
        def __init__(self) -> None:
            self.pieces = [[b"a" * 10], [b"b" * 10], [b"c" * 10]]

        async def read_chunks(self, n: int) -> list[bytes]:
            await asyncio.sleep(0.3)  # (a slow server: the clock fires between the pieces)
            return self.pieces.pop(0) if self.pieces else []

    class Part:
        size = 0

        def __init__(self) -> None:
            self.written: list[bytes] = []

        def write_all(self, chunks: list[bytes]) -> None:
            if not self.written:
                self.written.append(b"(failed)")
                raise OSError(28, "No space left on device")
            self.written.append(b"".join(chunks))

    part = Part()
    with concurrent.futures.ThreadPoolExecutor(1) as disk:
        ctx = SimpleNamespace(buffer_size=1 << 20, disk=disk, progress=Progress())
        with pytest.raises(OSError, match="No space left"):
            await _stream(Body(), part, ctx, None)  # type: ignore[arg-type]
    assert part.written == [b"(failed)"]
