"""The asyncio engine: worker tasks on one event loop, libcurl's multi handle (or the lean transport)
for HTTP, threads for the disk.

``concurrency`` worker tasks each take the next item from a shared iterator (a task per URL would
cost a task, a closure and a semaphore wait per item; workers cost them once). A worker carries out
its Item's steps with awaits: a request on the transport, a read, a sleep, or a hop to a thread for
the disk steps the Item asks for back to back (``_disk.Files.run``).

Nothing that blocks for long runs on the loop. A small body (up to 64 KiB) is read whole, hashed on
the loop (microseconds), and handed to a batch writer: it writes the files finished in one loop turn
on the loop while files prove cheap to create (a thread hop costs more), else in a thread, every
file finished since the last hop at once. A large body is written and hashed in the thread pool one
buffer at a time, so the loop only moves bytes from the socket; the engine reports the loop's worst
lag to prove it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from hashlib import sha256

from aiotulip.download import plan
from aiotulip.download.decoding import AsyncDecoded
from aiotulip.download.engines import Outcome, Work, _split
from aiotulip.download.engines._disk import Files
from aiotulip.download.item import Commit, Finish, Item, Read, Request, Rules, Split, Step, Wait
from aiotulip.download.item.steps import Halt
from aiotulip.download.models import Job, Result
from aiotulip.download.progress import Progress
from aiotulip.download.store import NameTaken, PartBusy, PartFile, Store
from aiotulip.download.store.part import digests_of
from aiotulip.download.transports import AsyncResponse, AsyncTransport, chunk_reader, open_async
from aiotulip.errors import FetchError
from aiotulip.shared.lag import LagProbe
from aiotulip.shared.signals import left_to_main

__all__ = ["BatchWriter", "run"]

_WRITE_BATCH = 512
_WRITERS = 1  # one batch on the disk while the next gathers: fewer, larger hops
_DISK_THREADS = 2  # enough to keep two cores hashing and the disk busy, few enough to spare the GIL
_LOOP_FILE = 50e-6  # seconds a small file may cost (the median of the last 64) to be written on the loop
_LOOP_SLOWEST = 0.010  # ... and a file that takes longer is a strike
_STRIKES = 3  # ... of which this many send every later file to a thread
_LOOP_BUDGET = 0.002  # seconds of writing the loop does in one turn
_START_BATCH = 250  # worker tasks started per loop iteration
_MAX_BACKLOG = 16 * 1024 * 1024  # bytes of small files waiting for the disk before workers wait too
_MAX_WAITING = 2048  # ... or this many files (tiny files weigh little, their bookkeeping does not)
_TELL = 0.1  # seconds a body's bytes wait at most before the disk has them (see _stream)


_Pending = tuple[Job, bytes, Commit, "asyncio.Future[None]"]  # a small file waiting to be written


class BatchWriter:
    """Write small complete files many at a time, and wake each waiting item.

    Where files are cheap to create (tmpfs, a local disk's page cache: 15-30 µs each) they are
    written on the loop itself, a turn's worth at a time: handing them to a thread cost more than
    the writing, because every system call of the writer gives up the GIL and the two threads then
    trade it back and forth (66,000 futex calls for 10,000 files; 17% of the small workload's time).
    Where they are not (a network file system, ``--fsync``), or as soon as a file takes long, the
    batches go to a thread and stay there: the files written on the loop are timed, and once the
    median of the last 64 passes 50 µs, or three have taken over 10 ms, the loop writes no more.
    """

    def __init__(self, store: Store, halt: Halt | None = None) -> None:
        self.store = store
        self.halt = halt  # told of a full disk at once: workers start nothing more meanwhile
        self._loop = asyncio.get_running_loop()
        self._pending: list[_Pending] = []
        self._in_flight = 0
        self._scheduled = False  # a write on the loop is due this turn
        self.backlog = 0  # bytes submitted and not yet written
        self.on_loop = not store.fsync  # fsync takes milliseconds a file: always a thread's work
        self._cost = 0.0  # seconds a file written on the loop: the median of the last ones
        self._times: collections.deque[float] = collections.deque(maxlen=64)
        self._strikes = 0  # files that took longer than _LOOP_SLOWEST

    def submit(self, job: Job, data: bytes, commit: Commit) -> asyncio.Future[None]:
        """Queue *job*'s file; the future is done once it is complete under its final name."""
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((job, data, commit, future))
        self.backlog += len(data)
        self._kick()
        return future

    def _kick(self) -> None:
        if self.on_loop:
            if not self._scheduled and self._pending:
                self._scheduled = True  # files finished in this turn are written together, next turn
                self._loop.call_soon(self._write_here)
            return
        while self._pending and self._in_flight < _WRITERS:
            batch, self._pending = self._pending[:_WRITE_BATCH], self._pending[_WRITE_BATCH:]
            self._in_flight += 1
            done = self._loop.run_in_executor(None, self._write_batch, batch)
            done.add_done_callback(functools.partial(self._finished, batch))

    def _write_here(self) -> None:
        self._scheduled = False
        if not self.on_loop:  # gone to a thread meanwhile
            self._kick()
            return
        count = max(1, int(_LOOP_BUDGET / self._cost)) if self._cost else 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        errors: list[Exception | None] = []
        times = self._times
        for job, data, commit, _future in batch:
            started = time.perf_counter()
            errors.append(self._write_one(job, data, commit))
            took = time.perf_counter() - started
            times.append(took)
            if took > _LOOP_SLOWEST:
                self._strikes += 1
                if self._strikes >= _STRIKES:
                    self.on_loop = False  # for good: a file system that stalls will again
                    self._pending[:0] = batch[len(errors) :]  # the rest of the batch, for a thread
                    batch = batch[: len(errors)]
                    break
        # The median of the last files, not their mean: a collector pause or a moment without the
        # CPU lands in one file's time now and then, and the first files of a run are always dear.
        self._cost = sorted(times)[len(times) // 2]
        if len(times) == times.maxlen and self._cost > _LOOP_FILE:
            self.on_loop = False
        self._settle(batch, errors, None)
        self._kick()

    def _write_batch(self, batch: list[_Pending]) -> list[Exception | None]:
        return [self._write_one(job, data, commit) for job, data, commit, _future in batch]

    def _write_one(self, job: Job, data: bytes, commit: Commit) -> Exception | None:
        try:
            self.store.write_whole(job, data, commit)
        except Exception as exc:  # each file's own outcome (a name taken: the Item picks the next)
            # Anything else too (a bug's exception): raised out of a batch written on the loop, it
            # left every file of the batch waiting for ever, and the run hung.
            if self.halt is not None:
                self.halt.note(exc)
            return exc
        return None

    def _finished(self, batch: list[_Pending], outcome: asyncio.Future) -> None:
        self._in_flight -= 1
        if outcome.cancelled():  # the loop is closing: nobody waits for these any more
            self._settle(batch, None, None, cancelled=True)
        elif (failure := outcome.exception()) is not None:
            self._settle(batch, None, failure)
        else:
            self._settle(batch, outcome.result(), None)
        self._kick()

    def _settle(
        self,
        batch: list[_Pending],
        errors: list[Exception | None] | None,
        failure: BaseException | None,
        cancelled: bool = False,
    ) -> None:
        self.backlog -= sum(len(data) for _job, data, _commit, _future in batch)
        for index, (_job, _data, _commit, future) in enumerate(batch):
            if future.done():
                continue
            if cancelled:
                future.cancel()
                continue
            error = errors[index] if errors is not None else failure
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


@dataclass
class _Context:
    transport: AsyncTransport
    store: Store
    rules: Rules
    buffer_size: int
    progress: Progress
    writer: BatchWriter
    disk: concurrent.futures.ThreadPoolExecutor  # hashing and writing of large bodies


@dataclass(slots=True)
class _Written:
    """A small file handed to the batch writer: its Item learns how the write went when it is done."""

    write: asyncio.Future[None]
    item: Item
    data: bytes  # kept until written: a name found taken (NameTaken) is written again under the next


async def _download(item: Item, ctx: _Context) -> Result | _Written:
    """Carry out *item*'s steps until it finishes (or hands its small file to the writer).

    The request and its response are handled here rather than in a helper coroutine: every frame
    is held by every item in flight (ten thousand on the c10k workload: 3 MB a frame), and on ten
    thousand small files a coroutine call per request is measurable (see PEERS.md).
    """
    files = Files(ctx.store, item.job)
    try:
        step = item.begin()
        while True:
            if step.__class__ is Request:
                request: Request = step
                try:
                    async with (
                        _deadline(item.deadline),
                        ctx.transport.get(request.url, request.headers, request.proxy) as response,
                    ):
                        read = item.response(
                            response.status, response.headers, getattr(response, "http_version", None)
                        )
                        if read.__class__ is Split:
                            segments = read.segments
                            ctx.progress.sized(item.job, segments.total, item.rules.split, segments.received)
                            part = await asyncio.to_thread(files.split, read)
                            step = await _split.run_async(item, read, response, part, ctx, ctx.disk)
                        elif read.__class__ is not Read:
                            step = read
                        elif read.into == "memory":
                            data = await _read_small(response, item.rules.small_body)
                            ctx.progress.advance(len(data), item.job)
                            if item.rules.limited and (wait := item.throttle(len(data))):
                                await asyncio.sleep(wait)
                            others = digests_of(item.job, data) if item.job.checksums else ()
                            step = item.body_read(len(data), sha256(data).hexdigest(), others)
                            if isinstance(step, Commit):
                                files.data = data
                        else:
                            step = await _read_part(item, read, response, files, ctx)
                except FetchError as error:
                    step = item.failed(error, files.size)
                except TimeoutError:  # the item's own deadline (transports raise tulip's Timeout)
                    step = item.timed_out(files.size)
                except PartBusy:
                    step = item.busy()
                continue
            match step:
                case Commit() if files.data is not None:
                    data, files.data = files.data, None
                    return _Written(ctx.writer.submit(item.job, data, step), item, data)
                case Wait(seconds=seconds, error=cause, restart_part=restart):
                    if restart:
                        await asyncio.to_thread(files.restart)
                    if cause is not None:  # (what the part keeps for the next attempt: the rest goes)
                        ctx.progress.retrying(item.job, item.attempts, cause, seconds, files.held())
                    await asyncio.sleep(seconds)
                    step = item.waited()
                case Finish(result=result, remove_part=remove):
                    if remove:
                        await asyncio.to_thread(files.finish, step)
                    return result
                case Split():  # a split download resumed: its .part is open
                    step = await _split.run_async(item, step, None, files.split(step), ctx, ctx.disk)
                case Commit():
                    step = await _commit(files, item, step)
                case _:  # disk steps, back to back in one thread hop
                    step = await asyncio.to_thread(files.run, item, step)
    finally:
        files.close()


class _CommittedMeanwhile(asyncio.CancelledError):
    """The run was interrupted while this item's file was being committed, and the commit ended it:
    *result* is what it made (a complete file under its name), to be reported as such."""

    def __init__(self, result: Result) -> None:
        super().__init__()
        self.result = result


async def _commit(files: Files, item: Item, step: Step) -> Step:
    """The part renamed to its final name (and what follows, in the same thread hop). The hop goes
    on in its thread whatever happens here; interrupted, the item waits for it (a rename: moments)
    and says what it did — a file complete under its name was reported as interrupted."""
    hop = asyncio.ensure_future(asyncio.to_thread(files.run, item, step))
    try:
        return await asyncio.shield(hop)
    except asyncio.CancelledError:
        try:
            finished = await hop
        except BaseException:  # (cancelled again, or the commit failed: interrupted as it stands)
            raise asyncio.CancelledError from None
        if isinstance(finished, Finish) and finished.result.status == "ok":
            raise _CommittedMeanwhile(finished.result) from None
        raise


async def _read_part(item: Item, read: Read, response: AsyncResponse, files: Files, ctx: _Context) -> Step:
    if read.part != "keep" or read.validator:
        await asyncio.to_thread(files.prepare, read)
    part = files.part
    assert part is not None
    ctx.progress.sized(item.job, item.announced, held=part.size)
    if read.decode is not None:
        response = AsyncDecoded(response, read.decode, item.public.url, read.max_ratio)
    if not read.skip:
        await _stream(
            response, part, ctx, read.until, item.throttle if item.rules.limited else None, item.job
        )
    return item.body_read(part.size, part.hasher.hexdigest(), part.others())


_NO_DEADLINE = nullcontext()


def _deadline(deadline: float | None) -> AbstractAsyncContextManager[object]:
    if deadline is None:
        return _NO_DEADLINE  # most runs have none: skip the cost of a Timeout per attempt
    return asyncio.timeout_at(deadline)


async def _read_small(response: AsyncResponse, limit: int) -> bytes:
    read = chunk_reader(response)
    chunks = await read(limit + 1)
    received = sum(map(len, chunks))
    while chunks and received <= limit and (more := await read(limit + 1)):
        chunks += more
        received += sum(map(len, more))
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _stream(
    response: AsyncResponse,
    part: PartFile,
    ctx: _Context,
    until: int | None,
    throttle: Callable[[int], float] | None = None,
    job: Job | None = None,
) -> None:
    """Copy the body into *part*: socket reads on the loop, hashing and writes in a thread.

    One buffer fills while the previous one is written, so the socket and the disk work at once;
    memory per download stays at two buffers. Reading stops once the file is past *until* bytes
    (the Item then says it is too long): a body without an end cannot fill the disk.

    What came goes to the disk (and progress hears of it) when a buffer is full, or _TELL seconds
    after it came, whichever is first. A buffer is up to a megabyte, which a slow server takes many
    seconds to fill: the display stood still meanwhile, and a SIGKILL lost all of it.
    """
    size = ctx.buffer_size
    chunks: list[bytes] = []
    held = 0
    writing: concurrent.futures.Future[None] | None = None
    parked = False  # waiting for the socket: the timer may hand what came to the disk itself
    due = False  # what came is _TELL seconds old: handed over at the next turn
    timer: asyncio.TimerHandle | None = None
    loop = asyncio.get_running_loop()

    def hand_over() -> None:  # (only once the write before it is done: writes stay in order)
        nonlocal chunks, held, writing, due, timer
        writing = ctx.disk.submit(part.write_all, chunks)
        ctx.progress.advance(held, job)
        chunks, held, due = [], 0, False
        if timer is not None:  # (the next bytes start the clock again: a fast body fills whole buffers)
            timer.cancel()
            timer = None

    def elapsed() -> None:
        nonlocal timer, due
        timer = None
        if parked and chunks and (writing is None or (writing.done() and writing.exception() is None)):
            hand_over()  # a quiet socket: now, not when the next bytes come
        else:
            # (a write under way, or one that failed: the reader raises its error at its next turn,
            # and nothing is written after a write that failed)
            due = True

    room = None if until is None else until - part.size  # bytes the body may still add
    read = chunk_reader(response)
    try:
        while True:
            parked = True
            try:
                got = await read(size)
            finally:
                parked = False
            if not got:
                break
            chunks += got
            count = sum(map(len, got))
            held += count
            if timer is None:
                timer = loop.call_later(_TELL, elapsed)
            if room is not None:
                room -= count
                if room < 0:
                    break
            if throttle is not None and (wait := throttle(count)):
                await asyncio.sleep(wait)  # a rate limit: the socket fills, TCP slows the server
            if held >= size or (due and chunks):
                if writing is not None:
                    await asyncio.wrap_future(writing)
                hand_over()
        if writing is not None:
            await asyncio.wrap_future(writing)
            writing = None
        if chunks:
            await asyncio.wrap_future(ctx.disk.submit(part.write_all, chunks))
            ctx.progress.advance(held, job)
    except BaseException:
        # Cut off (a dropped connection, Ctrl-C): keep what arrived, in order, so the resume starts
        # after it. Waited for directly: a cancelled task must not await again.
        if writing is not None:
            writing.result()
        if chunks:
            part.write_all(chunks)
            ctx.progress.advance(held, job)
        raise
    finally:
        if timer is not None:
            timer.cancel()


async def run(work: Work) -> Outcome:
    """Download the jobs on ``options.concurrency`` worker tasks; cancelling the caller interrupts."""
    transport = open_async(work.options.transport, work.options.transport_options())
    disk = concurrent.futures.ThreadPoolExecutor(
        max_workers=_DISK_THREADS, thread_name_prefix="tulip-disk", initializer=left_to_main
    )
    try:
        return await _run(work, transport, disk)
    finally:
        disk.shutdown(wait=True)


async def _run(work: Work, transport: AsyncTransport, disk: concurrent.futures.ThreadPoolExecutor) -> Outcome:
    jobs, store, options, progress = work.jobs, work.store, work.options, work.progress
    results = work.results()
    items = work.pending()
    local_of = work.local
    limits: defaultdict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(options.per_host or 1)
    )
    rules = work.rules
    per_host = options.per_host
    async with transport, LagProbe() as lag_probe:
        ctx = _Context(
            transport, store, rules, options.buffer_size(), progress, BatchWriter(store, rules.halt), disk
        )
        clock = asyncio.get_running_loop().time

        writes: set[asyncio.Future[None]] = set()
        room = asyncio.Event()  # set while the writer's queue is short enough for workers to go on
        room.set()

        def crowded() -> bool:
            return ctx.writer.backlog > _MAX_BACKLOG or len(writes) > _MAX_WAITING

        def record(index: int, job: Job, result: Result) -> None:
            results[index] = result
            progress.done(job, result)

        def written(index: int, item: Item, data: bytes, write: asyncio.Future[None]) -> None:
            writes.discard(write)
            if (
                not room.is_set()
                and len(writes) <= _MAX_WAITING // 2
                and ctx.writer.backlog <= _MAX_BACKLOG // 2
            ):
                room.set()
            error = None if write.cancelled() else write.exception()
            if isinstance(error, NameTaken):  # somebody's file under the name: the next free one
                step = item.name_taken()
                if isinstance(step, Commit):
                    again = ctx.writer.submit(item.job, data, step)
                    writes.add(again)
                    again.add_done_callback(functools.partial(written, index, item, data))
                    return
            elif error is None:
                step = item.committed()
            else:
                step = item.failed(error) if isinstance(error, FetchError) else _crashed(item, error)
            result = step.result if isinstance(step, Finish) else _crashed(item, step).result
            record(index, item.job, result)

        async def worker() -> None:
            for index, job in items:
                if job.duplicate_of is not None:
                    continue  # fetched as the earlier job; reported from it
                # (the semaphore taken by hand, not by async with: without --per-host there is none, and
                # a nullcontext in its place was three Python calls for every file)
                limit = limits[job.host] if per_host else None
                if limit is not None:
                    await limit.acquire()
                try:
                    path = store.path(job)
                    item = Item(job, path, local_of(job), rules, clock)
                    try:
                        outcome = await _download(item, ctx)
                    except _CommittedMeanwhile as stop:  # interrupted as it finished: finished
                        record(index, job, stop.result)
                        raise asyncio.CancelledError from None
                    except asyncio.CancelledError:  # the run is interrupted: how far this one got
                        record(index, job, item.interrupted(Files(store, job).held()))
                        raise
                    except Exception as exc:  # a bug in one item must not sink the run
                        outcome = plan.internal_failure(job, path, exc)
                finally:
                    if limit is not None:
                        limit.release()
                if isinstance(outcome, Result):
                    record(index, job, outcome)
                    continue
                # A small file waits for its write off this worker's path: the next GET need not.
                writes.add(outcome.write)
                outcome.write.add_done_callback(functools.partial(written, index, outcome.item, outcome.data))
                if crowded():  # one event, not a wait on thousands of futures (that is O(n) each time)
                    room.clear()
                    await room.wait()

        workers: list[asyncio.Task[None]] = []
        try:
            for count in range(max(1, min(options.concurrency, len(jobs)))):
                workers.append(asyncio.create_task(worker()))
                if count % _START_BATCH == _START_BATCH - 1:
                    # Ten thousand first steps in one loop iteration would stall the loop ~0.4 s;
                    # started 250 at a time, the loop keeps answering in between (1,000 at a time:
                    # 150 ms lags on the c10k workload).
                    await asyncio.sleep(0)
            await asyncio.gather(*workers)
            while writes:  # (a write found its name taken goes again under the next: wait for it too)
                await asyncio.wait(set(writes))
        except asyncio.CancelledError:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if writes:  # files already handed over are finished, and counted
                await asyncio.wait(writes)
            return Outcome(results, True, lag_probe.max_lag)
    return Outcome(results, False, lag_probe.max_lag)


def _crashed(item: Item, what: object) -> Finish:
    return Finish(plan.internal_failure(item.job, item.path, RuntimeError(f"unexpected {what!r}")))
