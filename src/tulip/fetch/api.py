"""``fetch`` and ``fetch_async``: the public way in. Sources become Jobs, an engine runs them, the
results become a Report."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tulip.errors import UsageError
from tulip.fetch.engines import ENGINES, EngineOptions
from tulip.fetch.models import Job, Report, Result
from tulip.fetch.plan import Local
from tulip.fetch.progress import Progress, make_progress
from tulip.fetch.retry import RetryPolicy
from tulip.fetch.sources import Entry, make_jobs
from tulip.fetch.store import Store

__all__ = ["fetch", "fetch_async", "prepare"]

Engine = Literal["sequential", "threads", "asyncio"]
Source = str | Entry | Job


def prepare(
    sources: Iterable[Source], dest: str | os.PathLike[str], *, fsync: bool = False
) -> tuple[list[Job], Store]:
    """Turn *sources* into named Jobs and make *dest* ready; raise UsageError before any download."""
    items = list(sources)
    jobs = [item for item in items if isinstance(item, Job)]
    if jobs and len(jobs) != len(items):
        raise UsageError("give either Jobs or URLs/entries, not both")
    if not jobs:
        jobs = make_jobs(item for item in items if not isinstance(item, Job))
    store = Store(dest, fsync=fsync)
    store.prepare()
    return jobs, store


def _options(settings: dict[str, Any]) -> EngineOptions:
    """Return the EngineOptions the keyword arguments of fetch() ask for; raise UsageError if impossible."""
    concurrency, per_host, retries = settings["concurrency"], settings["per_host"], settings["retries"]
    timeout, item_timeout, transport = settings["timeout"], settings["item_timeout"], settings["transport"]
    connect_timeout = settings["connect_timeout"]
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, not {concurrency}")
    if per_host is not None and per_host < 1:
        raise UsageError(f"per-host limit must be at least 1, not {per_host}")
    if retries < 0:
        raise UsageError(f"retries must be >= 0, not {retries}")
    if timeout <= 0 or (item_timeout is not None and item_timeout <= 0):
        raise UsageError("timeouts must be positive")
    if transport not in ("auto", "lean", "aiohttp"):  # checked here, before anything starts
        raise UsageError(f"unknown transport {transport!r} (choose from auto, lean, aiohttp)")
    return EngineOptions(
        concurrency=concurrency,
        per_host=per_host,
        connect_timeout=connect_timeout if connect_timeout is not None else min(timeout, 10.0),
        read_timeout=timeout,
        item_timeout=item_timeout,
        overwrite=settings["overwrite"],
        policy=settings["policy"] or RetryPolicy(retries=retries),
        transport=transport,
    )


@dataclass
class _Run:
    """A run made ready: everything checked, the jobs named, the disk inspected, the display started."""

    jobs: list[Job]
    store: Store
    locals: list[Local]
    options: EngineOptions
    display: Progress
    engine: str
    cluster: str | None
    shard_size: int | None
    started: float = field(default_factory=time.monotonic)

    def report(self, results: list[Result | None], interrupted: bool, max_lag: float | None = None) -> Report:
        items = [
            result
            if result is not None
            else Result(job.url, self.store.path(job), "failed", error="interrupted")
            for job, result in zip(self.jobs, results, strict=True)
        ]
        return Report(items, self.engine, time.monotonic() - self.started, max_lag, interrupted)

    def run_blocking(self) -> Report:
        """Run a blocking engine, or the cluster, to the end (on the calling thread)."""
        if self.cluster is not None:
            from tulip.fetch.cluster import run_cluster

            results, interrupted = run_cluster(
                self.jobs, self.store, self.options, self.display, self.cluster, self.shard_size
            )
            return self.report(results, interrupted)
        run = _blocking_engine(self.engine)
        results, interrupted = run(self.jobs, self.locals, self.store, self.options, self.display)
        return self.report(results, interrupted)

    async def run_async(self) -> Report:
        """Run the asyncio engine on the running loop."""
        from tulip.fetch.engines import aio

        results, interrupted, max_lag = await aio.run(
            self.jobs, self.locals, self.store, self.options, self.display
        )
        return self.report(results, interrupted, max_lag)

    @property
    def on_loop(self) -> bool:
        return self.engine == "asyncio" and self.cluster is None


def _setup(sources: Iterable[Source], dest: str | os.PathLike[str], settings: dict[str, Any]) -> _Run:
    """Check every argument, name the jobs, prepare dest and start the display (blocking)."""
    engine = settings["engine"]
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    options = _options(settings)
    _check_cluster(settings["cluster"], engine, settings["shard_size"])
    jobs, store = prepare(sources, dest, fsync=settings["fsync"])
    progress = settings["progress"]
    display = progress if isinstance(progress, Progress) else make_progress(progress)
    run = _Run(jobs, store, store.inspect_all(jobs), options, display, engine, settings["cluster"],
               settings["shard_size"])  # fmt: skip
    display.start(len(jobs), _total_bytes(jobs))
    return run


async def fetch_async(
    sources: Iterable[Source],
    dest: str | os.PathLike[str] = ".",
    *,
    engine: Engine = "asyncio",
    concurrency: int = 16,
    per_host: int | None = None,
    retries: int = 5,
    timeout: float = 30.0,
    connect_timeout: float | None = None,
    item_timeout: float | None = None,
    overwrite: bool = False,
    fsync: bool = False,
    progress: bool | Progress | None = False,
    policy: RetryPolicy | None = None,
    transport: Literal["auto", "lean", "aiohttp"] = "auto",
    cluster: str | None = None,
    shard_size: int | None = None,
) -> Report:
    """Download every source into *dest* and return the Report (inside a running event loop).

    Takes the arguments of :func:`fetch`. The blocking engines and the cluster run in a worker thread,
    so the loop stays free.
    """
    settings = dict(locals())
    del settings["sources"], settings["dest"]
    run = await asyncio.to_thread(_setup, sources, dest, settings)
    try:
        return await run.run_async() if run.on_loop else await asyncio.to_thread(run.run_blocking)
    finally:
        run.display.close()


def fetch(
    sources: Iterable[Source],
    dest: str | os.PathLike[str] = ".",
    *,
    engine: Engine = "asyncio",
    concurrency: int = 16,
    per_host: int | None = None,
    retries: int = 5,
    timeout: float = 30.0,
    connect_timeout: float | None = None,
    item_timeout: float | None = None,
    overwrite: bool = False,
    fsync: bool = False,
    progress: bool | Progress | None = False,
    policy: RetryPolicy | None = None,
    transport: Literal["auto", "lean", "aiohttp"] = "auto",
    cluster: str | None = None,
    shard_size: int | None = None,
) -> Report:
    """Download every source into *dest* and return the Report.

    *sources* are URLs, ``Entry`` objects (a URL with a name, sha256, size) or ready ``Job`` objects.
    The asyncio engine runs on a fresh event loop (uvloop when installed); the others on threads;
    with *cluster* (``local:N`` or a Dask scheduler address), shards run on Dask workers.
    Called from inside a running event loop, it refuses: use ``await fetch_async(...)`` there.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise UsageError(
            "tulip.fetch() cannot run inside a running event loop; use await tulip.fetch_async(...)"
        )
    settings = dict(locals())
    del settings["sources"], settings["dest"]
    run = _setup(sources, dest, settings)
    try:
        if run.on_loop:
            from tulip import _loop

            return _loop.run(run.run_async())
        return run.run_blocking()
    finally:
        run.display.close()


def _blocking_engine(engine: str):  # type: ignore[no-untyped-def]
    if engine == "threads":
        from tulip.fetch.engines import threads

        return threads.run
    from tulip.fetch.engines import sequential

    return sequential.run


def _check_cluster(cluster: str | None, engine: str, shard_size: int | None) -> None:
    if cluster is None:
        if shard_size is not None:
            raise UsageError("--shard-size only applies with --cluster")
        return
    if engine != "asyncio":
        raise UsageError("--cluster runs the asyncio engine on every worker; drop --engine or choose asyncio")
    try:
        import distributed  # noqa: F401 - needed below; asked for now so a missing Dask is a usage error
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install 'tulip[dask]'") from None
    if shard_size is not None and shard_size < 1:
        raise UsageError(f"shard size must be at least 1, not {shard_size}")


def _total_bytes(jobs: list[Job]) -> int | None:
    sizes = [job.size for job in jobs]
    return None if any(size is None for size in sizes) else sum(sizes)  # type: ignore[misc]
