"""A split download's connections (``--split``), for every engine: each takes a span from the
item's Segments, asks for it, writes what arrives at its offset, and reports; the Segments decide
everything else (which span, when to take half of another's, when to retry or stop).

The asyncio engine runs the connections as tasks (socket reads on the loop, writes in the disk
threads); the blocking engines as threads of a small pool, one lock around the Segments. Both write a
span's bytes before they count as done, and keep the map of what is done beside the .part every few
megabytes and at the end, so an interrupted download resumes each span where it stopped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

from aiotulip.download.item import Item, Request, Split, Step
from aiotulip.download.progress import Progress
from aiotulip.download.segments import Changed, Connection, Failed, Retry, Segments, Span
from aiotulip.download.store import PartFile
from aiotulip.errors import FetchError, Timeout
from aiotulip.shared.signals import left_to_main

__all__ = ["MapSaver", "run_async", "run_blocking"]

_SAVE_EVERY = 4 * 1024 * 1024  # bytes written between two saves of the map (what a SIGKILL may cost)
_SAVE_AFTER = 1.0  # ... or seconds, for a slow download
_HASH_STEP = 4 * 1024 * 1024  # the front must have grown this much for the hasher to go on

Outcome = Changed | Failed | None


class MapSaver:
    """When to keep the map of what is written: every few megabytes or every second, whichever
    comes first, and at the end. (By bytes alone, a slow download's map stayed empty for minutes,
    and a SIGKILL then cost all it had written.)"""

    __slots__ = ("_saved", "_unsaved", "part", "segments")

    def __init__(self, part: PartFile, segments: Segments) -> None:
        self.part = part
        self.segments = segments
        self._unsaved = 0
        self._saved = time.monotonic()

    def due(self, written: int) -> bool:
        self._unsaved += written
        now = time.monotonic()
        if self._unsaved < _SAVE_EVERY and now - self._saved < _SAVE_AFTER:
            return False
        self._unsaved, self._saved = 0, now
        return True


class FrontHasher:
    """Hashes the file's front as it fills (one job at a time on a disk thread), so that only the
    last spans are left to hash when the download ends."""

    __slots__ = ("_asked", "_job", "part", "submit")

    def __init__(self, part: PartFile, submit: Callable[..., concurrent.futures.Future[None]]) -> None:
        self.part = part
        self.submit = submit
        self._asked = 0
        self._job: concurrent.futures.Future[None] | None = None

    def kick(self, frontier: int) -> None:
        if frontier - self._asked < _HASH_STEP or (self._job is not None and not self._job.done()):
            return
        self._asked = frontier
        self._job = self.submit(self.part.hash_to, frontier)

    def wait(self) -> None:
        if self._job is not None:
            concurrent.futures.wait([self._job])


def _outcome(segments: Segments) -> Outcome:
    if segments.changed is not None:
        return Changed(segments.changed)
    if segments.failed is not None:
        return Failed(segments.failed)
    if not segments.complete:  # every connection ended with spans left (cannot happen: say so)
        return Failed(FetchError("the split download ended with bytes missing"))
    return None


def _remaining(deadline: float | None, now: Callable[[], float]) -> float | None:
    return None if deadline is None else deadline - now()


# -- the blocking engines -----------------------------------------------------------------------------


def run_blocking(item: Item, step: Split, response: Any, part: PartFile, ctx: Any) -> Step:
    """Fetch every span of *step* on a few threads; *response*, if any, carries its first span."""
    segments = step.segments
    lock = threading.Lock()
    saver = MapSaver(part, segments)
    connections = [segments.connection() for _ in range(max(1, item.rules.split))]
    if step.first is not None:
        connections[0].adopt(step.first, step.source)
    pool = concurrent.futures.ThreadPoolExecutor(
        len(connections) + 1, thread_name_prefix="tulip-split", initializer=left_to_main
    )
    runner = _Blocking(item, part, ctx, lock, saver, FrontHasher(part, pool.submit))
    try:
        futures = [
            pool.submit(runner.connection, conn, response if index == 0 and step.first is not None else None)
            for index, conn in enumerate(connections)
        ]
        for future in futures:
            future.result()  # Interrupted (Ctrl-C) or a bug goes up from here, once all are done
        runner.hasher.wait()
    except KeyboardInterrupt:
        # Ctrl-C in this thread (the sequential engine: no one else sets the cancel event): the
        # connections stop at their next chunk, and readers of a silent server are woken. Left
        # alone, the shutdown below waited for every span to end — the whole file.
        ctx.cancel.set()
        interrupt = getattr(ctx.transport, "interrupt", None)
        if interrupt is not None:
            interrupt()
        raise
    finally:
        pool.shutdown(wait=True)
        with lock:
            done_map = segments.encode()
        part.save_map(done_map)
    with lock:
        return item.split_ended(_outcome(segments), segments.retries, segments.received)


class _Blocking:
    def __init__(
        self, item: Item, part: PartFile, ctx: Any, lock: threading.Lock, saver: MapSaver, hasher: FrontHasher
    ) -> None:
        self.item, self.part, self.ctx, self.lock, self.saver = item, part, ctx, lock, saver
        self.hasher = hasher

    def connection(self, conn: Connection, response: Any) -> None:
        from aiotulip.download.engines import Interrupted

        item, lock, ctx = self.item, self.lock, self.ctx
        while True:
            if response is not None:
                verdict: Span | Retry | Changed | Failed | Request | None = self._read(conn, response)
                response = None
            else:
                with lock:
                    fetch = conn.begin()
                    if fetch is None:
                        return
                    verdict = item.segment_request(fetch)
                verdict = self._ask(conn, verdict)
            if isinstance(verdict, Retry):
                ctx.progress.retrying(item.job, item.attempts, verdict.error, verdict.seconds)
                if ctx.cancel.wait(verdict.seconds):
                    raise Interrupted
            elif isinstance(verdict, Changed | Failed):
                return

    def _ask(self, conn: Connection, request: Request) -> Retry | Changed | Failed | None:
        item, lock = self.item, self.lock
        try:
            while True:
                with self.ctx.transport.get(
                    request.url, request.headers, request.proxy, item.deadline
                ) as response:
                    with lock:
                        verdict = item.segment_response(conn, response.status, response.headers)
                    if isinstance(verdict, Request):
                        request = verdict  # a redirect: follow it on this connection
                        continue
                    if isinstance(verdict, Span):
                        return self._read(conn, response)
                    return verdict
        except FetchError as error:
            with lock:
                return conn.failed(error, _remaining(item.deadline, time.monotonic))

    def _read(self, conn: Connection, response: Any) -> Retry | Failed | None:
        from aiotulip.download.engines import Interrupted

        item, lock, part, saver, ctx = self.item, self.lock, self.part, self.saver, self.ctx
        size = ctx.buffer_size
        deadline = item.deadline
        try:
            while not conn.finished:
                chunk = response.read(size)
                if not chunk:
                    break
                with lock:
                    offset, keep = conn.take(len(chunk))
                if keep:
                    # Counted as done only once written: the map never claims bytes not on disk.
                    part.write_at(offset, chunk if keep == len(chunk) else memoryview(chunk)[:keep])
                    with lock:
                        conn.advance(keep)
                        done_map = saver.segments.encode() if saver.due(keep) else None
                    if done_map is not None:
                        part.save_map(done_map)
                    ctx.progress.advance(keep, item.job)
                    if item.rules.limited and (wait := item.throttle(keep, conn)) and ctx.cancel.wait(wait):
                        raise Interrupted
                if ctx.cancel.is_set():
                    raise Interrupted
                if deadline is not None and time.monotonic() > deadline:
                    raise Timeout("item took longer than its total timeout", url=item.public.url)
            with lock:
                ended = conn.ended()
                frontier = saver.segments.frontier
            self.hasher.kick(frontier)
            return ended
        except FetchError as error:
            with lock:
                return conn.failed(error, _remaining(deadline, time.monotonic))


# -- the asyncio engine --------------------------------------------------------------------------------


async def run_async(
    item: Item,
    step: Split,
    response: Any,
    part: PartFile,
    ctx: Any,
    disk: concurrent.futures.Executor,
) -> Step:
    """Fetch every span of *step* as tasks; *response*, if any, carries its first span."""
    segments = step.segments
    saver = MapSaver(part, segments)
    connections = [segments.connection() for _ in range(max(1, item.rules.split))]
    if step.first is not None:
        connections[0].adopt(step.first, step.source)
    runner = _Async(item, part, ctx, saver, disk, FrontHasher(part, disk.submit))
    tasks = [
        asyncio.ensure_future(runner.connection(conn, response if index == 0 and step.first else None))
        for index, conn in enumerate(connections)
    ]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        part.save_map(segments.encode())  # directly: a cancelled task must not await again
        raise
    await asyncio.wrap_future(disk.submit(part.save_map, segments.encode()))
    await asyncio.to_thread(runner.hasher.wait)
    return item.split_ended(_outcome(segments), segments.retries, segments.received)


class _Async:
    def __init__(
        self,
        item: Item,
        part: PartFile,
        ctx: Any,
        saver: MapSaver,
        disk: concurrent.futures.Executor,
        hasher: FrontHasher,
    ) -> None:
        self.item, self.part, self.ctx, self.saver, self.disk = item, part, ctx, saver, disk
        self.hasher = hasher
        self.clock = asyncio.get_running_loop().time

    async def connection(self, conn: Connection, response: Any) -> None:
        item, ctx = self.item, self.ctx
        while True:
            if response is not None:
                verdict: Retry | Changed | Failed | None = await self._read(conn, response)
                response = None
            else:
                fetch = conn.begin()
                if fetch is None:
                    return
                verdict = await self._ask(conn, item.segment_request(fetch))
            if isinstance(verdict, Retry):
                ctx.progress.retrying(item.job, item.attempts, verdict.error, verdict.seconds)
                await asyncio.sleep(verdict.seconds)
            elif isinstance(verdict, Changed | Failed):
                return

    async def _ask(self, conn: Connection, request: Request) -> Retry | Changed | Failed | None:
        item = self.item
        try:
            async with _deadline(item.deadline):
                while True:
                    async with self.ctx.transport.get(
                        request.url, request.headers, request.proxy
                    ) as response:
                        verdict = item.segment_response(conn, response.status, response.headers)
                        if isinstance(verdict, Request):
                            request = verdict
                            continue
                        if isinstance(verdict, Span):
                            return await self._read(conn, response)
                        return verdict
        except FetchError as error:
            return conn.failed(error, _remaining(item.deadline, self.clock))
        except TimeoutError:
            late = Timeout("item took longer than its total timeout", url=item.public.url)
            return conn.failed(late, 0.0)

    async def _read(self, conn: Connection, response: Any) -> Retry | Failed | None:
        part, saver, ctx, disk = self.part, self.saver, self.ctx, self.disk
        size = ctx.buffer_size
        progress: Progress = ctx.progress
        try:
            while not conn.finished:
                chunk = await response.read(size)
                if not chunk:
                    break
                offset, keep = conn.take(len(chunk))
                if not keep:
                    break
                data = chunk if keep == len(chunk) else memoryview(chunk)[:keep]
                writing = disk.submit(part.write_at, offset, data)
                try:
                    await asyncio.wrap_future(writing)
                except asyncio.CancelledError:
                    # Ctrl-C: the write goes on in its thread; wait for it here (a cancelled task
                    # must not await again), then count it only if it landed.
                    concurrent.futures.wait([writing])
                    if writing.exception() is None:
                        conn.advance(keep)
                    raise
                conn.advance(keep)  # only once written: the map never claims bytes not on disk
                if saver.due(keep):
                    await asyncio.wrap_future(disk.submit(part.save_map, saver.segments.encode()))
                progress.advance(keep, self.item.job)
                if self.item.rules.limited and (wait := self.item.throttle(keep, conn)):
                    await asyncio.sleep(wait)
            ended = conn.ended()
            self.hasher.kick(saver.segments.frontier)
            return ended
        except FetchError as error:
            return conn.failed(error, _remaining(self.item.deadline, self.clock))


def _deadline(deadline: float | None) -> Any:
    import contextlib

    return contextlib.nullcontext() if deadline is None else asyncio.timeout_at(deadline)
