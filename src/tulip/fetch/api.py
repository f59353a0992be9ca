"""``fetch`` and ``fetch_async``: the public way in. Sources become Jobs, an engine runs them, the
results become a Report."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from typing import Literal

from tulip.errors import UsageError
from tulip.fetch.engines import ENGINES, EngineOptions
from tulip.fetch.models import Job, Report, Result
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


def _options(
    concurrency: int,
    per_host: int | None,
    retries: int,
    timeout: float,
    connect_timeout: float | None,
    item_timeout: float | None,
    overwrite: bool,
    policy: RetryPolicy | None,
    transport: str = "auto",
) -> EngineOptions:
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
        overwrite=overwrite,
        policy=policy or RetryPolicy(retries=retries),
        transport=transport,
    )


def _report(
    jobs: list[Job], store: Store, results: list[Result | None], engine: str, started: float,
    interrupted: bool, max_lag: float | None,
) -> Report:  # fmt: skip
    items = [
        result if result is not None else Result(job.url, store.path(job), "failed", error="interrupted")
        for job, result in zip(jobs, results, strict=True)
    ]
    return Report(items, engine, time.monotonic() - started, max_lag, interrupted)


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

    The blocking engines (``sequential``, ``threads``) run in a worker thread so the loop stays free.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    options = _options(
        concurrency, per_host, retries, timeout, connect_timeout, item_timeout, overwrite, policy
    )
    _check_cluster(cluster, engine, shard_size)
    jobs, store = await asyncio.to_thread(prepare, sources, dest, fsync=fsync)
    display = progress if isinstance(progress, Progress) else make_progress(progress)
    started = time.monotonic()
    locals_ = await asyncio.to_thread(store.inspect_all, jobs)
    display.start(len(jobs), _total_bytes(jobs))
    try:
        if cluster is not None:
            from tulip.fetch.cluster import run_cluster

            results, interrupted = await asyncio.to_thread(
                run_cluster, jobs, store, options, display, cluster, shard_size
            )
            return _report(jobs, store, results, engine, started, interrupted, None)
        if engine == "asyncio":
            from tulip.fetch.engines import aio

            results, interrupted, max_lag = await aio.run(jobs, locals_, store, options, display)
            return _report(jobs, store, results, engine, started, interrupted, max_lag)
        run = _blocking_engine(engine)
        results, interrupted = await asyncio.to_thread(run, jobs, locals_, store, options, display)
        return _report(jobs, store, results, engine, started, interrupted, None)
    finally:
        display.close()


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
    The asyncio engine runs on a fresh event loop (uvloop when installed); the others on threads.
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
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    options = _options(
        concurrency, per_host, retries, timeout, connect_timeout, item_timeout, overwrite, policy
    )
    _check_cluster(cluster, engine, shard_size)
    jobs, store = prepare(sources, dest, fsync=fsync)
    display = progress if isinstance(progress, Progress) else make_progress(progress)
    started = time.monotonic()
    locals_ = store.inspect_all(jobs)
    display.start(len(jobs), _total_bytes(jobs))
    try:
        if cluster is not None:
            from tulip.fetch.cluster import run_cluster

            results, interrupted = run_cluster(jobs, store, options, display, cluster, shard_size)
            return _report(jobs, store, results, engine, started, interrupted, None)
        if engine == "asyncio":
            from tulip import _loop
            from tulip.fetch.engines import aio

            results, interrupted, max_lag = _loop.run(aio.run(jobs, locals_, store, options, display))
            return _report(jobs, store, results, engine, started, interrupted, max_lag)
        results, interrupted = _blocking_engine(engine)(jobs, locals_, store, options, display)
        return _report(jobs, store, results, engine, started, interrupted, None)
    finally:
        display.close()


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
