"""The threads engine: a ThreadPoolExecutor, one blocking download per worker thread.

Each submitted item is a ``concurrent.futures.Future``; ``wait(FIRST_COMPLETED)`` hands them back in
the order they finish, and more are submitted as they do (a bounded window, not the whole list).
Ctrl-C reaches only the main thread, so it sets an Event that the workers check between reads and
during retry waits; the executor then drops the items not yet started.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from aiotulip.download.engines import Interrupted, Outcome, Work
from aiotulip.download.engines._sync import Context, download
from aiotulip.download.models import Job, Result
from aiotulip.download.transports import open_sync
from aiotulip.shared.signals import left_to_main

__all__ = ["run"]


def run(work: Work) -> Outcome:
    """Download the jobs on ``options.concurrency`` threads."""
    options = work.options
    results = work.results()
    cancel = threading.Event()
    per_host: Callable[[str], threading.Semaphore] | None = None
    if options.per_host:
        limits: dict[str, threading.Semaphore] = {}
        limits_lock = threading.Lock()

        def per_host(host: str) -> threading.Semaphore:
            # Under a lock: two threads meeting a new host at once must share one semaphore.
            with limits_lock:
                limit = limits.get(host)
                if limit is None:
                    limit = limits[host] = threading.BoundedSemaphore(options.per_host or 1)
                return limit

    with open_sync(options.transport, options.transport_options()) as transport:
        ctx = Context(transport, work.store, work.rules, options.buffer_size(), work.progress, cancel)

        halt = work.rules.halt

        def one(job: Job) -> Result:
            if cancel.is_set() or halt.reason is not None:  # (queued, and never begun: not started)
                raise Interrupted
            if per_host is None:
                return download(job, work.local(job), ctx)
            with per_host(job.host):
                return download(job, work.local(job), ctx)

        executor = ThreadPoolExecutor(
            max_workers=options.concurrency, thread_name_prefix="tulip-fetch", initializer=left_to_main
        )
        # Submitted a few at a time, not all at once: a million jobs must not be a million futures.
        pending: dict[Future[Result], tuple[int, Job]] = {}
        # Each future says when it is done, into this queue: concurrent.futures.wait() visits every
        # pending future on each call, and once a completion that made c10k quadratic (minutes).
        finished: queue.SimpleQueue[Future[Result]] = queue.SimpleQueue()
        jobs = ((index, job) for index, job in work.pending() if job.duplicate_of is None)
        window = 2 * options.concurrency
        try:
            while True:
                for index, job in itertools.islice(jobs, window - len(pending)):
                    future = executor.submit(one, job)
                    pending[future] = (index, job)
                    future.add_done_callback(finished.put)
                if not pending:
                    break
                for future in _completed(finished, work.stop):
                    index, job = pending.pop(future)
                    try:
                        result = results[index] = future.result()
                    except Interrupted as stop:
                        if stop.result is not None:
                            results[index] = stop.result
                        continue
                    work.progress.done(job, result)
        except KeyboardInterrupt:
            cancel.set()
            interrupt = getattr(transport, "interrupt", None)  # (libcurl's: readers are woken now)
            if interrupt is not None:
                interrupt()
            executor.shutdown(wait=True, cancel_futures=True)
            for future, (index, job) in pending.items():
                if not future.done() or future.cancelled():
                    continue  # (never begun: not started)
                failure = future.exception()
                if failure is None:
                    got = future.result()
                elif isinstance(failure, Interrupted) and failure.result is not None:
                    got = failure.result
                else:
                    continue
                results[index] = got
                work.progress.done(job, got)
            return Outcome(results, interrupted=True)
        finally:
            executor.shutdown(wait=True)
    return Outcome(results)


def _completed(finished: queue.SimpleQueue[Future[Result]], stop: threading.Event) -> list[Future[Result]]:
    """The futures done so far: at least one, waited for (in slices, so Ctrl-C, or *stop* set from
    another thread, is taken at once)."""
    while True:
        try:
            done = [finished.get(timeout=0.5)]
            break
        except queue.Empty:
            if stop.is_set():
                raise KeyboardInterrupt from None
            continue
    while True:
        try:
            done.append(finished.get_nowait())
        except queue.Empty:
            return done
