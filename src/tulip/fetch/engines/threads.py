"""The threads engine: a ThreadPoolExecutor, one blocking download per worker thread.

Each submitted item is a ``concurrent.futures.Future``; ``as_completed`` hands them back in the order
they finish. Ctrl-C reaches only the main thread, so it sets an Event that the workers check between
reads and during retry waits; the executor then drops the items not yet started.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from tulip.fetch.engines import EngineOptions, Interrupted
from tulip.fetch.engines._sync import Context, download
from tulip.fetch.models import Job, Result
from tulip.fetch.plan import Local
from tulip.fetch.progress import Progress
from tulip.fetch.store import Store
from tulip.fetch.transports.urllib3 import Urllib3Transport

__all__ = ["run"]


def run(
    jobs: list[Job], locals_: list[Local], store: Store, options: EngineOptions, progress: Progress
) -> tuple[list[Result | None], bool]:
    """Download *jobs* on ``options.concurrency`` threads; return the results and whether interrupted."""
    results: list[Result | None] = [None] * len(jobs)
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

    with Urllib3Transport(options.transport_options()) as transport:
        ctx = Context(transport, store, options, progress, cancel)

        def one(job: Job, local: Local) -> Result:
            if cancel.is_set():
                raise Interrupted
            if per_host is None:
                return download(job, local, ctx)
            with per_host(job.host):
                return download(job, local, ctx)

        executor = ThreadPoolExecutor(
            max_workers=max(1, options.concurrency), thread_name_prefix="tulip-fetch"
        )
        futures: dict[Future[Result], int] = {}
        try:
            for index, (job, local) in enumerate(zip(jobs, locals_, strict=True)):
                futures[executor.submit(one, job, local)] = index
            for future in as_completed(futures):
                index = futures[future]
                try:
                    results[index] = future.result()
                except Interrupted:
                    continue
                progress.done(jobs[index], results[index])  # type: ignore[arg-type]
        except KeyboardInterrupt:
            cancel.set()
            executor.shutdown(wait=True, cancel_futures=True)
            for future, index in futures.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    results[index] = future.result()
            return results, True
        finally:
            executor.shutdown(wait=True)
    return results, False
