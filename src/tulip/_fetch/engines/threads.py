"""The threads engine: a ThreadPoolExecutor, one blocking download per worker thread.

Each submitted item is a ``concurrent.futures.Future``; ``as_completed`` hands them back in the order
they finish. Ctrl-C reaches only the main thread, so it sets an Event that the workers check between
reads and during retry waits; the executor then drops the items not yet started.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from tulip._fetch.engines import Interrupted, Outcome, Work
from tulip._fetch.engines._sync import Context, download
from tulip._fetch.models import Job, Result
from tulip._fetch.plan import Local
from tulip._fetch.transports import open_sync

__all__ = ["run"]


def run(work: Work) -> Outcome:
    """Download the jobs on ``options.concurrency`` threads."""
    options = work.options
    results: list[Result | None] = [None] * len(work.jobs)
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

    with open_sync(options) as transport:
        ctx = Context(transport, work.store, work.rules, options.buffer_size(), work.progress, cancel)

        def one(job: Job, local: Local) -> Result:
            if cancel.is_set():
                raise Interrupted
            if per_host is None:
                return download(job, local, ctx)
            with per_host(job.host):
                return download(job, local, ctx)

        executor = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="tulip-fetch")
        futures: dict[Future[Result], int] = {}
        try:
            for index, (job, local) in enumerate(zip(work.jobs, work.locals, strict=True)):
                futures[executor.submit(one, job, local)] = index
            for future in as_completed(futures):
                index = futures[future]
                try:
                    result = results[index] = future.result()
                except Interrupted:
                    continue
                work.progress.done(work.jobs[index], result)
        except KeyboardInterrupt:
            cancel.set()
            executor.shutdown(wait=True, cancel_futures=True)
            for future, index in futures.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    results[index] = future.result()
            return Outcome(results, interrupted=True)
        finally:
            executor.shutdown(wait=True)
    return Outcome(results)
