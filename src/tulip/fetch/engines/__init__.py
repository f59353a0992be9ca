"""Engines: three ways to run the same downloads, one result.

- ``sequential``: one item after another, on the calling thread.
- ``threads``: a ``concurrent.futures.ThreadPoolExecutor`` over a pooled urllib3 client.
- ``asyncio``: worker tasks on one event loop over aiohttp (uvloop when installed).

Two kinds of future meet here. A ``concurrent.futures.Future`` belongs to a thread pool: its result
is set from a worker thread and waited for by blocking (``as_completed``, ``result()``); the threads
engine is built on them. An ``asyncio.Future`` belongs to one event loop: it is awaited, never
blocked on, and must be completed from that loop's thread (``call_soon_threadsafe`` crosses over);
the asyncio engine's tasks are asyncio futures, and its disk writes come back from the thread pool
through ``run_in_executor``, which wraps the one kind of future in the other.

The decisions of an item (skip, resume, what a response means, retry, verify) are the pure functions
of ``plan`` and ``retry``; an engine supplies only the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tulip.fetch import plan
from tulip.fetch.models import Job, Result
from tulip.fetch.retry import RetryPolicy
from tulip.fetch.store import Store
from tulip.fetch.transports import TransportOptions

__all__ = ["ENGINES", "SMALL_BODY", "EngineOptions", "Interrupted", "begin"]

ENGINES = ("sequential", "threads", "asyncio")

#: Bodies up to this size are read whole, hashed where they are, and written in one go.
SMALL_BODY = 64 * 1024

_BUFFER_BUDGET = 32 * 1024 * 1024  # bytes of body held in memory at once, across all downloads


class Interrupted(Exception):
    """The run was interrupted (Ctrl-C) while this item was under way."""


@dataclass(frozen=True)
class EngineOptions:
    """How an engine runs: concurrency, limits, timeouts, retries."""

    concurrency: int = 16
    per_host: int | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    item_timeout: float | None = None  # all attempts of one item together
    overwrite: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    transport: str = "auto"  # asyncio engine: "lean" (httptools), "aiohttp", or "auto" (lean if installed)

    def transport_options(self) -> TransportOptions:
        return TransportOptions(
            concurrency=self.concurrency,
            per_host=self.per_host,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def buffer_size(self) -> int:
        """Bytes read before each write: large for few downloads, small for many (memory stays bounded)."""
        return max(64 * 1024, min(1024 * 1024, _BUFFER_BUDGET // max(1, self.concurrency)))


def begin(job: Job, local: plan.Local, store: Store, *, overwrite: bool) -> plan.Start | Result:
    """Decide how *job* starts and do the disk work the decision needs (blocking, one call).

    An existing final file is hashed: if it is the file wanted the job is done ("skipped", returned
    as a Result); if not, it is downloaded afresh. A .part that cannot be resumed is removed.
    """
    start = plan.start(job, local, overwrite=overwrite)
    if start.check_final:
        size, sha256 = store.hash_final(job)
        if plan.final_matches(job, size, sha256):
            return Result(job.url, store.path(job), "skipped", size, sha256)
        start = plan.Start(discard_part=True)
    if start.discard_part:
        store.discard_part(job)
    return start
