"""Engines: three ways to wait for the same downloads, one result.

- ``sequential``: one item after another, on the calling thread.
- ``threads``: a ``concurrent.futures.ThreadPoolExecutor`` over a blocking transport (libcurl's driver
  thread, or the pooled blocking wire reader).
- ``asyncio``: worker tasks on one event loop over libcurl or the lean transport (uvloop when installed).

Every engine runs each item through the same state machine (``aiotulip.download.item.Item``) and carries
out its disk steps with the same blocking code (``_disk.Files``); what an engine adds is only how it
waits — a blocking call, a thread, an await. That is what makes their Reports identical.

Two kinds of future meet here. A ``concurrent.futures.Future`` belongs to a thread pool: its result
is set from a worker thread and waited for by blocking (``as_completed``, ``result()``); the threads
engine is built on them. An ``asyncio.Future`` belongs to one event loop: it is awaited, never
blocked on, and must be completed from that loop's thread (``call_soon_threadsafe`` crosses over);
the asyncio engine's tasks are asyncio futures, and its disk writes come back from the thread pool
through ``run_in_executor``, which wraps the one kind of future in the other.

The registry maps each name of ``options.ENGINES`` to its module, imported only when chosen (start-up
time is part of every short download).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from aiotulip.download.decoding import available
from aiotulip.download.item import Rules
from aiotulip.download.models import Job, Jobs, Result
from aiotulip.download.names import Names
from aiotulip.download.rate import Bucket
from aiotulip.download.results import ResultLog

if TYPE_CHECKING:
    from aiotulip.download.options import EngineName, FetchOptions
    from aiotulip.download.plan import Local
    from aiotulip.download.progress import Progress
    from aiotulip.download.store import Store

__all__ = ["REGISTRY", "Engine", "Interrupted", "Outcome", "Work", "load"]


class Interrupted(Exception):
    """The run was interrupted (Ctrl-C) while this item was under way; *result* says how far it got
    (None where it was not yet begun)."""

    def __init__(self, result: Result | None = None) -> None:
        super().__init__()
        self.result = result


@dataclass
class Work:
    """What an engine is given: the jobs (a sequence, or a lazy list that makes them as they are
    taken), where to write, how, who to tell, and the rules every item follows (made from the
    options once, before anything starts). ``local(job)`` says what is on disk for a job."""

    jobs: Jobs
    store: Store
    options: FetchOptions
    progress: Progress
    # Told of each job as it is taken (a --workers child's relay learns the Jobs made as taken).
    taken: Callable[[int, Job], None] | None = None
    # Set from another thread to end a blocking engine's run as Ctrl-C does (fetch_async's task was
    # cancelled while the threads or sequential engine ran in a worker thread).
    stop: threading.Event = field(default_factory=threading.Event)
    rules: Rules = field(init=False)
    local: Callable[[Job], Local] = field(init=False)

    def pending(self) -> Iterator[tuple[int, Job]]:
        """Each job to start, with its index, until the run must stop taking new ones (the disk is
        full: see ``Rules.halt``); the jobs left are reported as not started."""
        halt, taken = self.rules.halt, self.taken
        for index, job in enumerate(self.jobs):
            if halt.reason is not None:
                return
            if taken is not None:
                taken(index, job)
            yield index, job

    def results(self) -> ResultLog:
        """Return where the engine keeps each job's Result (compactly)."""
        return ResultLog(self.jobs, self.store.path, renames=self.options.content_disposition)

    def __post_init__(self) -> None:
        options = self.options
        self.local = self.store.inspector()
        self.rules = Rules(
            options.retry_policy,
            options.overwrite,
            options.item_timeout,
            http=options.http_policy(),
            resume_unvalidated=options.resume_unvalidated,
            stream=self.store.stream,
            busy_wait=max(300.0, options.item_timeout or 0.0),
            timestamping=options.timestamping,
            no_clobber=options.no_clobber,
            replace_strangers=options.replace_strangers,
            remote_time=options.remote_time,
            decoders=available() if options.compressed else (),
            max_filesize=options.max_filesize,
            max_ratio=options.max_ratio,
            # A split .part keeps its map in an extended attribute: no split where it cannot be kept.
            split=options.split if self.store.xattrs else 1,
            min_split=options.min_split_size,
            rate=Bucket(options.limit_rate) if options.limit_rate else None,
            rate_per_file=options.limit_rate_per_file,
            speed_limit=options.speed_limit,
            speed_time=options.speed_time,
            disposition=Names((job.name for job in self.jobs), options.collisions(), self.store.wrote)
            if options.content_disposition
            else None,
        )


@dataclass
class Outcome:
    """What an engine gives back: a Result per job (None where never finished), whether the run was
    interrupted, and the event loop's worst lag (None for engines without a loop)."""

    results: Sequence[Result | None]  # a ResultLog from the engines
    interrupted: bool = False
    max_lag: float | None = None
    stages: dict[str, float] | None = None  # CPU seconds by stage, when counted in other processes
    stopped: str | None = None  # why no more items started (a full disk), from other processes
    processes: int = 1  # the processes that ran the items (--workers: the children started)


@dataclass(frozen=True)
class Engine:
    """One registered engine: blocking engines run on the calling thread, the others on its loop."""

    name: str
    module: str
    blocking: bool

    def run_blocking(self) -> Callable[[Work], Outcome]:
        assert self.blocking
        return cast(Callable[[Work], Outcome], importlib.import_module(self.module).run)

    def run_async(self) -> Callable[[Work], Coroutine[Any, Any, Outcome]]:
        assert not self.blocking
        return cast(Callable[[Work], Coroutine[Any, Any, Outcome]], importlib.import_module(self.module).run)

    def run_to_end(self, work: Work) -> Outcome:
        """Run *work* on the calling thread, on a loop of its own if the engine needs one, with
        fewer collector pauses (a cluster shard, a ``--workers`` child)."""
        from aiotulip.download.gc import fewer_pauses

        with fewer_pauses():
            if self.blocking:
                return self.run_blocking()(work)
            from aiotulip.shared import loop as _loop

            return _loop.run(self.run_async()(work))


REGISTRY: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        Engine("asyncio", "aiotulip.download.engines.aio", blocking=False),
        Engine("threads", "aiotulip.download.engines.threads", blocking=True),
        Engine("sequential", "aiotulip.download.engines.sequential", blocking=True),
    )
}


def load(name: EngineName) -> Engine:
    """Return the registered engine called *name* (FetchOptions has checked that it exists)."""
    return REGISTRY[name]
