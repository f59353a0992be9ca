"""The asyncio engine: worker tasks on one event loop, the lean transport (or aiohttp) for HTTP,
threads for the disk.

``concurrency`` worker tasks each take the next item from a shared iterator (a task per URL would
cost a task, a closure and a semaphore wait per item; workers cost them once). One item is a plain
sequence of awaits — inspect, GET, stream, verify, rename — with no callbacks.

Nothing that blocks runs on the loop. A small body (up to 64 KiB) is read whole, hashed on the loop
(microseconds), and handed to a batch writer: one thread hop writes every small file finished since
the last hop. A large body is written and hashed in the thread pool one buffer at a time, so the
loop only moves bytes from the socket; the engine reports the loop's worst lag to prove it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from tulip.errors import FetchError, IntegrityError, StorageError
from tulip.fetch import plan
from tulip.fetch.engines import SMALL_BODY, EngineOptions, begin
from tulip.fetch.models import Job, Result
from tulip.fetch.progress import Progress
from tulip.fetch.store import PartFile, Store
from tulip.fetch.transports import AsyncResponse, AsyncTransport
from tulip.spinner import Spinner

__all__ = ["BatchWriter", "make_transport", "run"]

_WRITE_BATCH = 512
_WRITERS = 1  # one batch on the disk while the next gathers: fewer, larger hops
_DISK_THREADS = 2  # enough to keep two cores hashing and the disk busy, few enough to spare the GIL
_START_BATCH = 1000  # worker tasks started per loop iteration
_MAX_BACKLOG = 16 * 1024 * 1024  # bytes of small files waiting for the disk before workers wait too


class BatchWriter:
    """Write small complete files from a thread, many per hop, and wake each waiting item."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._loop = asyncio.get_running_loop()
        self._pending: list[tuple[Job, bytes, asyncio.Future[None]]] = []
        self._in_flight = 0
        self.backlog = 0  # bytes submitted and not yet written

    def submit(self, job: Job, data: bytes) -> asyncio.Future[None]:
        """Queue *job*'s file; the future is done once it is complete under its final name."""
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((job, data, future))
        self.backlog += len(data)
        self._kick()
        return future

    def _kick(self) -> None:
        while self._pending and self._in_flight < _WRITERS:
            batch, self._pending = self._pending[:_WRITE_BATCH], self._pending[_WRITE_BATCH:]
            self._in_flight += 1
            done = self._loop.run_in_executor(None, self._write_batch, batch)
            done.add_done_callback(lambda outcome, batch=batch: self._finished(batch, outcome))

    def _write_batch(self, batch: list[tuple[Job, bytes, asyncio.Future[None]]]) -> list[StorageError | None]:
        errors: list[StorageError | None] = []
        for job, data, _future in batch:
            try:
                self.store.write_whole(job, data)
                errors.append(None)
            except StorageError as exc:
                errors.append(exc)
        return errors

    def _finished(
        self, batch: list[tuple[Job, bytes, asyncio.Future[None]]], outcome: asyncio.Future
    ) -> None:
        self._in_flight -= 1
        self.backlog -= sum(len(data) for _job, data, _future in batch)
        errors = outcome.result() if not outcome.cancelled() and outcome.exception() is None else None
        for index, (_job, _data, future) in enumerate(batch):
            if future.done():
                continue
            error = errors[index] if errors is not None else outcome.exception()
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        self._kick()


@dataclass
class _Context:
    transport: AsyncTransport
    store: Store
    options: EngineOptions
    progress: Progress
    writer: BatchWriter
    disk: concurrent.futures.ThreadPoolExecutor  # hashing and writing of large bodies


@dataclass(slots=True)
class _Written:
    """A small file handed to the batch writer: *result* holds once *write* is done."""

    write: asyncio.Future[None]
    result: Result


async def _download(job: Job, path: str, local: plan.Local, ctx: _Context) -> Result | _Written:
    """Download *job* (skipping, resuming, retrying as needed) and return how it ended."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + ctx.options.item_timeout if ctx.options.item_timeout else None
    start = plan.start(job, local, overwrite=ctx.options.overwrite)
    if start.check_final or start.discard_part:  # disk work to do first: one hop for all of it
        settled = await asyncio.to_thread(begin, job, local, ctx.store, overwrite=ctx.options.overwrite)
        if isinstance(settled, Result):
            settled.elapsed = loop.time() - started
            return settled
        start = settled
    offset, kept = start.offset, start.offset
    part: PartFile | None = None
    validator: str | None = None
    attempts = 0
    try:
        while True:
            attempts += 1
            try:
                if offset and part is None:
                    part = await asyncio.to_thread(ctx.store.open_part, job, offset)
                    validator = part.saved_validator
                async with _deadline(deadline):
                    headers = plan.range_headers(offset, validator)
                    async with ctx.transport.get(job.url, headers) as response:
                        body = plan.interpret(response.status, response.headers, offset, job)
                        small = body.total is not None and body.total <= SMALL_BODY
                        if part is None and body.offset == 0 and small and not body.complete:
                            data = await _read_small(response, ctx, body.total or 0)
                            sha256 = hashlib.sha256(data).hexdigest()
                            plan.check_body(job, body, len(data), sha256)
                            written = ctx.writer.submit(job, data)
                            return _Written(
                                written,
                                Result(
                                    job.url,
                                    path,
                                    "ok",
                                    len(data),
                                    sha256,
                                    attempts,
                                    elapsed=loop.time() - started,
                                ),
                            )
                        if part is None:
                            part = await asyncio.to_thread(ctx.store.open_part, job, 0)
                        elif body.offset != offset:  # the server sent the whole file: start over
                            await asyncio.to_thread(part.restart)
                            kept = 0
                        if not body.complete:
                            if body.offset == 0:
                                await asyncio.to_thread(part.remember_validator, body.validator)
                            validator = body.validator or validator
                            await _stream(response, part, ctx)
                sha256 = part.hasher.hexdigest()
                plan.check_body(job, body, part.size, sha256)
                await asyncio.to_thread(part.commit)
                return Result(
                    job.url, path, "ok", part.size, sha256, attempts,
                    resumed_from=kept, elapsed=loop.time() - started,
                )  # fmt: skip
            except (FetchError, TimeoutError) as caught:
                error = caught if isinstance(caught, FetchError) else _deadline_passed(job)
                remaining = None if deadline is None else deadline - loop.time()
                delay = ctx.options.policy.delay(attempts, error, remaining)
                if delay is None:
                    # An empty .part helps no one; one whose bytes proved wrong would mislead a resume.
                    if part is not None and (part.size == 0 or isinstance(error, IntegrityError)):
                        part.close()
                        await asyncio.to_thread(ctx.store.discard_part, job)
                    return plan.result_for_error(job, path, error, attempts, loop.time() - started)
                if isinstance(error, IntegrityError) and part is not None:
                    await asyncio.to_thread(part.restart)
                    kept = 0
                ctx.progress.retrying(job, attempts, error, delay)
                await asyncio.sleep(delay)
                offset = part.size if part is not None else 0
    finally:
        if part is not None:
            part.close()


_NO_DEADLINE = nullcontext()


def _deadline(deadline: float | None) -> AbstractAsyncContextManager[object]:
    if deadline is None:
        return _NO_DEADLINE  # most runs have none: skip the cost of a Timeout per attempt
    return asyncio.timeout_at(deadline)


def _deadline_passed(job: Job) -> FetchError:
    from tulip.errors import Timeout

    return Timeout("item took longer than its total timeout", url=job.url)


async def _read_small(response: AsyncResponse, ctx: _Context, expected: int) -> bytes:
    chunks = []
    received = 0
    while chunk := await response.read(SMALL_BODY + 1):
        chunks.append(chunk)
        received += len(chunk)
        if received > SMALL_BODY:  # more than the server announced; check_body will say so
            break
    ctx.progress.advance(received)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _stream(response: AsyncResponse, part: PartFile, ctx: _Context) -> None:
    """Copy the body into *part*: socket reads on the loop, hashing and writes in a thread.

    One buffer fills while the previous one is written, so the socket and the disk work at once;
    memory per download stays at two buffers.
    """
    size = ctx.options.buffer_size()
    chunks: list[bytes] = []
    held = 0
    writing: concurrent.futures.Future[None] | None = None
    try:
        while chunk := await response.read(size):
            chunks.append(chunk)
            held += len(chunk)
            if held >= size:
                if writing is not None:
                    await asyncio.wrap_future(writing)
                writing = ctx.disk.submit(part.write_all, chunks)
                ctx.progress.advance(held)
                chunks, held = [], 0
        if writing is not None:
            await asyncio.wrap_future(writing)
            writing = None
        if chunks:
            await asyncio.wrap_future(ctx.disk.submit(part.write_all, chunks))
            ctx.progress.advance(held)
    except BaseException:
        # Cut off (a dropped connection, Ctrl-C): keep what arrived, in order, so the resume starts
        # after it. Waited for directly: a cancelled task must not await again.
        if writing is not None:
            writing.result()
        if chunks:
            part.write_all(chunks)
            ctx.progress.advance(held)
        raise


async def run(
    jobs: list[Job],
    locals_: list[plan.Local],
    store: Store,
    options: EngineOptions,
    progress: Progress,
    transport_factory: Callable[[], AsyncTransport] | None = None,
) -> tuple[list[Result | None], bool, float]:
    """Download *jobs*; return the results (None where never finished), whether the run was
    interrupted (cancelled), and the event loop's worst lag in seconds."""
    transport = transport_factory() if transport_factory is not None else make_transport(options)
    disk = concurrent.futures.ThreadPoolExecutor(max_workers=_DISK_THREADS, thread_name_prefix="tulip-disk")
    try:
        return await _run(jobs, locals_, store, options, progress, transport, disk)
    finally:
        disk.shutdown(wait=True)


async def _run(
    jobs: list[Job],
    locals_: list[plan.Local],
    store: Store,
    options: EngineOptions,
    progress: Progress,
    transport: AsyncTransport,
    disk: concurrent.futures.ThreadPoolExecutor,
) -> tuple[list[Result | None], bool, float]:
    results: list[Result | None] = [None] * len(jobs)
    items = iter(enumerate(zip(jobs, locals_, strict=True)))
    limits: defaultdict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(options.per_host or 1)
    )
    async with transport, Spinner(disable=True, interval=0.02) as lag_probe:
        ctx = _Context(transport, store, options, progress, BatchWriter(store), disk)

        def limit(job: Job) -> AbstractAsyncContextManager[object]:
            return limits[job.host] if options.per_host else nullcontext()

        writes: set[asyncio.Future[None]] = set()

        def record(index: int, job: Job, result: Result) -> None:
            results[index] = result
            progress.done(job, result)

        def written(index: int, job: Job, result: Result, write: asyncio.Future[None]) -> None:
            writes.discard(write)
            error = None if write.cancelled() else write.exception()
            if error is None:
                record(index, job, result)
            else:
                record(
                    index,
                    job,
                    plan.result_for_error(job, result.path, error, result.attempts, result.elapsed),
                )

        async def worker() -> None:
            for index, (job, local) in items:
                async with limit(job):
                    path = store.path(job)
                    outcome = await _guard(job, path, _download(job, path, local, ctx))
                if isinstance(outcome, Result):
                    record(index, job, outcome)
                    continue
                # A small file waits for its write off this worker's path: the next GET need not.
                writes.add(outcome.write)
                outcome.write.add_done_callback(functools.partial(written, index, job, outcome.result))
                while ctx.writer.backlog > _MAX_BACKLOG and writes:
                    await asyncio.wait(writes, return_when=asyncio.FIRST_COMPLETED)

        workers: list[asyncio.Task[None]] = []
        try:
            for count in range(max(1, min(options.concurrency, len(jobs)))):
                workers.append(asyncio.create_task(worker()))
                if count % _START_BATCH == _START_BATCH - 1:
                    # Ten thousand first steps in one loop iteration would stall the loop ~0.4 s;
                    # started a thousand at a time, the loop keeps answering in between.
                    await asyncio.sleep(0)
            await asyncio.gather(*workers)
            if writes:
                await asyncio.wait(writes)
        except asyncio.CancelledError:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if writes:  # files already handed over are finished, and counted
                await asyncio.wait(writes)
            return results, True, lag_probe.max_lag
    return results, False, lag_probe.max_lag


def make_transport(options: EngineOptions) -> AsyncTransport:
    """Return the transport *options* ask for: lean (httptools) when installed, else aiohttp."""
    choice = options.transport
    if choice in ("auto", "lean"):
        try:
            from tulip.fetch.transports.lean import LeanTransport
        except ImportError:
            if choice == "lean":
                raise
        else:
            return LeanTransport(options.transport_options())
    from tulip.fetch.transports.aiohttp import AiohttpTransport

    return AiohttpTransport(options.transport_options())


async def _guard(job: Job, path: str, work: Awaitable[Result | _Written]) -> Result | _Written:
    try:
        return await work
    except Exception as exc:  # a bug in one item must not sink the run
        return plan.internal_failure(job, path, exc)
