"""``fetch`` and ``fetch_async``: the public way in. Sources become Jobs, an engine runs them, the
results become a Report."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiotulip.download import engines
from aiotulip.download.engines import Outcome, Work
from aiotulip.download.gc import fewer_pauses
from aiotulip.download.models import Job, Jobs, Report
from aiotulip.download.options import FetchOptions
from aiotulip.download.progress import Progress, make_progress
from aiotulip.download.results import Items, ResultLog
from aiotulip.download.scripts import Scripted, wrap
from aiotulip.download.sources import Entry, UrlList, make_jobs
from aiotulip.download.stages import Meter
from aiotulip.download.store import Store
from aiotulip.errors import FetchInterrupted, UsageError

if TYPE_CHECKING:
    from typing import Unpack

    from aiotulip.download.options import Settings

__all__ = ["fetch", "fetch_async", "prepare"]

Source = str | Entry | Job


def prepare(
    sources: Iterable[Source] | Source | UrlList,
    dest: str | os.PathLike[str],
    *,
    fsync: bool = False,
    options: FetchOptions | None = None,
) -> tuple[Jobs, Store]:
    """Turn *sources* into named Jobs and make *dest* ready; raise UsageError before any download.

    A UrlList (a plain list read by ``read_input``) stays lazy: it was checked as it was read."""
    options = options or FetchOptions(fsync=fsync)
    store: Store
    if isinstance(sources, UrlList) and options.layout == "flat" and options.on_collision != "query":
        store = Store(dest, fsync=fsync or options.fsync)
        store.prepare()
        return sources, store
    if isinstance(sources, UrlList):
        sources = sources.entries()  # named otherwise than a plain list's last segments
    items = [sources] if isinstance(sources, str | Entry | Job) else list(sources)
    jobs = [item for item in items if isinstance(item, Job)]
    if jobs and len(jobs) != len(items):
        raise UsageError("give either Jobs or URLs/entries, not both")
    if not jobs:
        entries = (item for item in items if not isinstance(item, Job))
        jobs = make_jobs(entries, options.naming(), options.collisions())
    from aiotulip.shared.output import writes_through

    if str(dest) == "-" or writes_through(str(dest)):  # -o -, -o /dev/null, -o FIFO: one stream
        if len(jobs) != 1:
            raise UsageError(f"a stream takes one file, and {len(jobs)} were given")
        from aiotulip.download.store.stdout import StdoutStore

        if str(dest) == "-":
            store = StdoutStore(limit=options.max_filesize)
        else:
            try:
                fd = os.open(dest, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise UsageError(f"cannot write to {dest}: {exc.strerror or exc}") from None
            store = StdoutStore(fd, str(dest), limit=options.max_filesize)
    else:
        store = Store(dest, fsync=fsync or options.fsync)
    store.prepare()
    return jobs, store


@dataclass
class _Run:
    """A run made ready: everything checked, the jobs named, the disk inspected, the display started."""

    work: Work
    started: float = field(default_factory=time.monotonic)
    meter: Meter = field(default_factory=Meter)
    made: Report | None = None  # the Report, once made (a signal may still come as the loop closes)

    @property
    def options(self) -> FetchOptions:
        return self.work.options

    def report(self, outcome: Outcome) -> Report:
        log = outcome.results
        if not isinstance(log, ResultLog):  # a list (the cluster's merge): kept compactly too
            log = self.work.results()
            for index, result in enumerate(outcome.results):
                log[index] = result
        if not isinstance(self.work.jobs, UrlList):  # (a plain list has no duplicates)
            for index, job in enumerate(self.work.jobs):
                if job.duplicate_of is not None and (original := log[job.duplicate_of]) is not None:
                    # One download, a row on every line that asked for it.
                    log[index] = dataclasses.replace(original, attempts=0, resumed_from=0, elapsed=0.0)
        if outcome.interrupted and self.work.store.stream:
            _reader_gone_with_the_run(log)
        items = Items(log)
        transport = self.options.transport
        name = transport if isinstance(transport, str) else type(transport).__name__
        report = Report(
            items,
            self.options.engine,
            "curl" if name == "auto" else name,
            time.monotonic() - self.started,
            outcome.max_lag,
            outcome.interrupted,
            self.meter.result(outcome.stages),
            self.work.rules.halt.reason,
            workers=outcome.processes,  # (those started: no more than -c, or than --per-host's hosts)
        )
        if isinstance(self.work.progress, Scripted):  # --events, hooks, --save-failed: the last word
            self.work.progress.finished(report)
        self.made = report
        return report

    def run_blocking(self) -> Report:
        """Run a blocking engine, or the cluster, to the end (on the calling thread)."""
        if self.options.cluster is not None:
            from aiotulip.download.cluster import run_cluster

            return self.report(run_cluster(self.work))
        if self.processes > 1:
            from aiotulip.download.processes import run_workers

            return self.report(run_workers(self.work))
        return self.report(engines.load(self.options.engine).run_to_end(self.work))

    async def run_async(self) -> Report:
        """Run the asyncio engine on the running loop."""
        with fewer_pauses():
            return self.report(await engines.load(self.options.engine).run_async()(self.work))

    @property
    def processes(self) -> int:
        workers = self.options.workers  # (a number once the run is set up: "auto" is decided there)
        return workers if isinstance(workers, int) else 1

    @property
    def on_loop(self) -> bool:
        options = self.options
        return not engines.load(options.engine).blocking and options.cluster is None and self.processes == 1


def _setup(
    sources: Iterable[Source],
    dest: str | os.PathLike[str],
    options: FetchOptions,
    progress: bool | Progress | None,
    fork: bool = False,
) -> _Run:
    """Name the jobs, prepare dest, inspect it and start the display (blocking). *fork*: whether
    ``workers="auto"`` may fork this process (from fetch() on the main thread, not from a thread
    of somebody's event loop)."""
    if options.cluster is not None:
        try:
            import distributed  # noqa: F401 - needed later; asked for now so a missing Dask is a usage error
        except ImportError:
            raise UsageError("--cluster needs Dask: pip install 'aiotulip[dask]'") from None
    tls = options.tls()
    tls.check()  # a certificate file that cannot be used stops the run before it starts
    if tls.insecure:  # (once, here, whatever moves the bytes: libcurl says nothing of it)
        print(
            "tulip: warning: --insecure: TLS certificates and ssh host keys are not checked", file=sys.stderr
        )
    if options.http_auth == "ntlm" and options.transport in ("auto", "curl"):
        from aiotulip.download.transports.curl import check_built_in

        check_built_in(options.http_auth)  # (pycurl's own libcurl has no NTLM)
    jobs, store = prepare(sources, dest, fsync=options.fsync, options=options)
    if options.workers == "auto":
        options = options.replace(workers=_processes(jobs, options, fork=fork))
    display = progress if isinstance(progress, Progress) else make_progress(progress)
    display = wrap(display, options, jobs, store.path)  # (itself unless scripts are asked for)
    run = _Run(Work(jobs, store, options, display))
    display.start(len(jobs), _total_bytes(jobs))
    return run


async def fetch_async(
    sources: Iterable[Source],
    dest: str | os.PathLike[str] = ".",
    options: FetchOptions | None = None,
    *,
    progress: bool | Progress | None = False,
    **settings: Unpack[Settings],
) -> Report:
    """Download every source into *dest* and return the Report (inside a running event loop).

    Takes the arguments of :func:`fetch`. The blocking engines and the cluster run in a worker thread,
    so the loop stays free.
    """
    chosen = FetchOptions.from_settings(options, dict(settings))
    run = await asyncio.to_thread(_setup, sources, dest, chosen, progress)
    report = None
    try:
        report = await run.run_async() if run.on_loop else await _in_a_thread(run)
    finally:
        _close(run.work.progress, report)
    task = asyncio.current_task()
    if task is not None and task.cancelling():  # (a run that finished first too: the caller's cancel)
        # The engine ended its work in order and made the Report; the cancellation goes on to the
        # caller, as asyncio needs (asyncio.timeout raised no TimeoutError, the report came back).
        raise asyncio.CancelledError
    return report


def fetch(
    sources: Iterable[Source],
    dest: str | os.PathLike[str] = ".",
    options: FetchOptions | None = None,
    *,
    progress: bool | Progress | None = False,
    **settings: Unpack[Settings],
) -> Report:
    """Download every source into *dest* and return the Report.

    *sources* are URLs, ``Entry`` objects (a URL with a name, sha256, size) or ready ``Job`` objects.
    How: a FetchOptions, and/or its fields as keywords (``concurrency=50, engine="threads"``), which
    override it. *progress*: False for none, True for a bar, None for a bar on a terminal and plain
    lines elsewhere, or a Progress of your own.

    The asyncio engine runs on a fresh event loop (uvloop when installed); the others on threads;
    with ``cluster`` (``local:N`` or a Dask scheduler address), shards run on Dask workers.
    Called from inside a running event loop, it refuses: use ``await fetch_async(...)`` there.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise UsageError(
            "aiotulip.fetch() cannot run inside a running event loop; use await aiotulip.fetch_async(...)"
        )
    chosen = FetchOptions.from_settings(options, dict(settings))
    run = _setup(sources, dest, chosen, progress, fork=threading.current_thread() is threading.main_thread())
    report = None
    try:
        if run.on_loop:
            from aiotulip.shared import loop as _loop

            report = _loop.run(run.run_async())
        else:
            report = run.run_blocking()
    except KeyboardInterrupt:
        if run.made is None:
            raise
        # The run was over and its Report made: the signal came as the loop closed (its executor,
        # its async generators). The Report says what was done; the interrupt still goes on (it
        # was lost: a calling loop went on, about 1 run in 6 on the asyncio engine).
        report = run.made
        raise FetchInterrupted(report) from None
    finally:
        _close(run.work.progress, report)
    if report.interrupted:
        # As Python's own Ctrl-C: a program calling fetch() in a loop went on to the next call.
        raise FetchInterrupted(report)
    return report


async def _in_a_thread(run: _Run) -> Report:
    """A blocking engine's run in a worker thread. Cancelled, it is told to stop as Ctrl-C stops it
    and waited for, its Report made (the cancellation then goes on): cancelling only the wait left
    the engine downloading in its thread after fetch_async had given up."""
    done = asyncio.get_running_loop().run_in_executor(None, run.run_blocking)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        run.work.stop.set()
        with contextlib.suppress(asyncio.CancelledError):  # (cancelled again: it is stopping anyway)
            await done
        if run.made is not None:
            return run.made
        raise


def _close(display: Progress, report: Report | None) -> None:
    """End the display (its last frame shows the Report's figures). A display whose stream is gone
    — a closed pipe, a hung-up terminal — costs the run nothing: the Report stands."""
    try:
        display.close(report)
    except (OSError, ValueError):
        pass
    except KeyboardInterrupt:  # (as the run ended: its Report stands, the interrupt came too late)
        if report is None:
            raise


def _processes(jobs: Jobs, options: FetchOptions, fork: bool) -> int:
    """``workers="auto"``: how many processes this run is spread over (see plan.processes)."""
    if not fork or options.cluster is not None or options.content_disposition:
        return 1
    if options.limit_rate:
        return 1  # (the network is the bound, by request; a process done early would idle its share)
    if options.per_host is not None:
        # (a host's items all go to one process, with a share of -c by its items: hosts of
        # unlike sizes left some processes' connections idle, 8.7 s became 20.9 s)
        return 1
    from aiotulip.download.plan import processes

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return processes(len(jobs), options.concurrency, options.engine, cores)


def _total_bytes(jobs: Jobs) -> int | None:
    if isinstance(jobs, UrlList):
        return None  # a plain list says nothing of sizes (and is not walked twice for it)
    total = 0
    for job in jobs:
        if job.size is None:
            return None
        total += job.size
    return total


def _reader_gone_with_the_run(log: ResultLog) -> None:
    """Ctrl-C on ``tulip fetch -o - | wc -c`` ends the reader too, and the write it broke may fail
    before the signal is acted on: that item was interrupted, with the run, not failed for a storage
    fault (the summary said "failed: standard output was closed")."""
    from aiotulip.download.store.stdout import READER_GONE

    for index, result in enumerate(log):
        if result is not None and result.status == "failed" and result.error == READER_GONE:
            log[index] = dataclasses.replace(
                result, status="interrupted", error="interrupted", error_kind="interrupted"
            )
