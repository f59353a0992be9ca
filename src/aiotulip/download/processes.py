"""``--workers N``: one run over N processes, each running the chosen engine on a shard of the items.

Where the CPU is the bound — ten thousand small files cost about 100 µs of Python each — one process
uses one core. The jobs are named and the disk inspected once, here; then N children are forked (a
fork costs milliseconds: nothing is imported again) and each runs the engine on its share of the
items (dealt by a hash of their place, ``owner``) with its share of the concurrency and of
``--limit-rate``. With ``--per-host``, a host's items all go to one child, so the limit holds
across the run. A plain list stays lazy: the parent takes its jobs by number, each child makes its
own as it takes them. What a child finishes comes back through a pipe,
pickled a batch at a time, to this process's display and Report; the Report is the one a single
process would give.

Ctrl-C reaches the whole process group: the children ignore it and are sent SIGTERM once by the
parent instead (a second signal would break off a child's orderly end), SIGTERM and SIGHUP to the
parent the same. A child that dies leaves its unfinished items failed; a parent that dies takes its
children with it (``PR_SET_PDEATHSIG``). Files are complete or absent, as in any run.
"""

from __future__ import annotations

import array
import contextlib
import os
import pickle
import selectors
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import overload

from aiotulip.download import engines
from aiotulip.download.engines import Outcome, Work
from aiotulip.download.http.urls import redact
from aiotulip.download.models import Job, Jobs, Result, Status
from aiotulip.download.progress import Progress
from aiotulip.download.results import ResultLog
from aiotulip.download.sources import UrlList
from aiotulip.download.stages import Meter
from aiotulip.shared import signals as _signals

__all__ = ["owner", "run_workers", "shards"]

_HEADER = struct.Struct("!I")
_Numbered = Sequence[Job] | UrlList  # jobs taken by number
_FLUSH_EVERY = 0.05  # seconds: how stale the parent's display may get
_FLUSH_COUNT = 256  # ... or events
_STOP_GRACE = 30.0  # seconds a child has to end in order after SIGTERM before SIGKILL
_IMPATIENT = 2.0  # ... after a second signal: how long the killed children have to be reaped


def shards(jobs: Jobs, count: int, by_host: bool) -> list[Sequence[int]]:
    """Return the indices of *jobs* for each of at most *count* children, in order: dealt by a hash
    of each index (``owner``), or (*by_host*) each host's items in one child, the hosts with most
    items first, each to the child with fewest so far (no child left empty). A plain list's (no
    duplicates in it) are arrays: a million lines are 8 MB of numbers, not a million Jobs."""
    if isinstance(jobs, UrlList) and not by_host:
        dealt = [array.array("q") for _ in range(count)]
        appends = [shard.append for shard in dealt]
        for index in range(len(jobs)):
            appends[owner(index, count)](index)
        return [shard for shard in dealt if shard]
    # (a duplicate is fetched as the earlier job; the Report fills it in from that one)
    if not by_host:
        lists: list[list[int]] = [[] for _ in range(count)]
        for index, job in enumerate(jobs):
            if job.duplicate_of is None:
                lists[owner(index, count)].append(index)
        return [shard for shard in lists if shard]
    hosts: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        if job.duplicate_of is None:
            hosts.setdefault(job.host, []).append(index)
    out: list[list[int]] = [[] for _ in range(min(count, len(hosts)))]
    for items in sorted(hosts.values(), key=len, reverse=True):
        min(out, key=len).extend(items)
    return [sorted(shard) for shard in out]


class _Shard(Sequence[Job]):
    """A child's jobs of a plain list, made as the engine takes them: a million-line list stays its
    bytes in every process, not a million Jobs (copied into each child as it touches them)."""

    def __init__(self, jobs: UrlList, indices: Sequence[int]) -> None:
        self.jobs = jobs
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[Job]:
        return self.jobs.lines(self.indices)

    @overload
    def __getitem__(self, position: int) -> Job: ...
    @overload
    def __getitem__(self, position: slice) -> Sequence[Job]: ...

    def __getitem__(self, position: int | slice) -> Job | Sequence[Job]:
        if isinstance(position, slice):
            return [self.jobs[index] for index in self.indices[position]]
        return self.jobs[self.indices[position]]


def owner(index: int, count: int) -> int:
    """The child of *count* that item *index* goes to: Fibonacci hashing (the index times 2**64
    over the golden ratio, its top bits). Every Nth item, as dealt before, gave one child all the
    big files of a list that alternates a file and its checksum, or all of a slow host's items of
    a list that alternates two hosts, and the other child's share of -c sat idle once it was done;
    this spreads every such pattern evenly, item for item."""
    return ((index * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) * count >> 64


def shares(total: int, weights: list[int]) -> list[int]:
    """Split *total* (at least one each, never more than *total* in all when it allows one each)
    in proportion to *weights*, largest remainders first."""
    whole = sum(weights) or 1
    exact = [total * weight / whole for weight in weights]
    out = [max(1, int(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for i in order[: max(0, total - sum(out))]:
        out[i] += 1
    while sum(out) > total and max(out) > 1:  # the ones lifted to 1 are paid for by the largest
        out[out.index(max(out))] -= 1
    return out


@dataclass
class _Child:
    pid: int
    fd: int
    indices: Sequence[int]
    buffer: bytearray = field(default_factory=bytearray)
    ended: bool = False  # its last message arrived
    status: int | None = None  # how it ended, as waitpid says (once reaped)
    interrupted: bool = False
    max_lag: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    signum: int | None = None  # the signal that interrupted it
    stopped: str | None = None  # why it started no more items (a full disk), if it stopped
    # Items under way, by number. Killed (a second Ctrl-C), the child cannot report them; they are
    # interrupted with their parts, not "not started".
    begun: set[int] = field(default_factory=set)


def run_workers(work: Work) -> Outcome:
    """Run *work* on ``options.workers`` child processes; blocking, on the calling thread."""
    # (a plain list stays lazy: the parent takes its jobs by number, the children theirs as they go)
    jobs: _Numbered = work.jobs if isinstance(work.jobs, UrlList) else list(work.jobs)
    options, progress = work.options, work.progress
    results = work.results()
    # No more children than downloads in flight: each must hold at least one.
    count = options.workers if isinstance(options.workers, int) else 1
    groups = shards(jobs, min(count, options.concurrency), by_host=options.per_host is not None)
    if not groups:
        return Outcome(results)
    sizes = [len(group) for group in groups]
    # -c and --limit-rate shared in proportion to each child's items: in all, what was asked.
    concurrency = shares(options.concurrency, sizes)
    rates = shares(options.limit_rate, sizes) if options.limit_rate else [None] * len(groups)
    parent = os.getpid()
    _prepare_death_signal()
    children: list[_Child] = []
    for indices, share, rate in zip(groups, concurrency, rates, strict=True):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_end)
            for other in children:
                os.close(other.fd)
            mine = options.replace(workers=1, concurrency=share, limit_rate=rate)
            _child(write_end, indices, jobs, work, mine, parent)
        os.close(write_end)
        children.append(_Child(pid, read_end, indices))
    interrupted = _gather(children, jobs, results, progress)
    work.rules.halt.reason = next((child.stopped for child in children if child.stopped), None)
    signalled = [child.signum for child in children if child.signum is not None]
    if not interrupted and signalled and _signals.received() is None:
        _signals.note(signalled[0])  # a child was signalled alone: the run says which signal

    def settle(index: int, status: Status, held: int, error: str) -> None:
        """End an item its child could not report (its end event, its --on-error, as any)."""
        if results[index] is None:
            job = jobs[index]
            result = Result(redact(job.url), work.store.path(job), status, held, error=error,
                            error_kind="interrupted")  # fmt: skip
            results[index] = result
            progress.done(job, result)

    for child in children:
        if not child.ended and interrupted:  # killed by a second Ctrl-C: its items under way
            for index in child.begun:
                # What its part keeps, asked of the disk: the child's last events may not have
                # come (they are sent every 50 ms), nor its last write have landed.
                settle(index, "interrupted", work.store.held(jobs[index]), "interrupted")
        elif not child.ended:  # died (or was killed) before its end: its unfinished items failed
            why = _death(child)
            for index in child.indices:
                settle(index, "failed", 0, f"its worker process {why} before it ended")
    lags = [child.max_lag for child in children if child.max_lag is not None]
    stages = {stage: sum(child.stages.get(stage, 0.0) for child in children) for stage in ("sha256", "write")}
    return Outcome(
        results,
        interrupted or any(child.interrupted for child in children),
        max(lags) if lags else None,
        stages,
        processes=len(children),
    )


def _gather(children: list[_Child], jobs: _Numbered, results: ResultLog, progress: Progress) -> bool:
    """Take the children's messages until every pipe is closed; return whether we were interrupted."""
    selector = selectors.DefaultSelector()
    for child in children:
        selector.register(child.fd, selectors.EVENT_READ, child)
    open_pipes = len(children)
    stop_by: float | None = None
    with _Stops() as stops:
        selector.register(stops.fd, selectors.EVENT_READ, None)
        while open_pipes:
            timeout = None if stop_by is None else max(0.0, stop_by - time.monotonic())
            try:
                events = selector.select(timeout)
            except KeyboardInterrupt:  # off the main thread's handlers (a library caller's thread)
                stops.asked = True
                events = []
            if stops.asked and stop_by is None:
                stop_by = time.monotonic() + _STOP_GRACE
                for child in children:
                    _signal(child, signal.SIGTERM)  # once: a second would break off its orderly end
            elif stops.heard > 1 and stop_by is not None and stop_by - time.monotonic() > _IMPATIENT:
                # Asked again (a second Ctrl-C): the orderly end is not waited for. What the
                # children finish now is reported; the rest keep their parts, for the next run.
                for child in children:
                    _signal(child, signal.SIGKILL)
                stop_by = time.monotonic() + _IMPATIENT
            if not events and stop_by is not None and time.monotonic() >= stop_by:
                for child in children:
                    _signal(child, signal.SIGKILL)  # an orderly end that did not come
                stop_by = time.monotonic() + _STOP_GRACE
                continue
            for key, _mask in events:
                child = key.data
                if child is None:
                    stops.drain()
                    continue
                data = os.read(child.fd, 1 << 20)
                if not data:
                    selector.unregister(child.fd)
                    os.close(child.fd)
                    open_pipes -= 1
                    continue
                child.buffer += data
                _take(child, jobs, results, progress)
        interrupted = stops.asked
    selector.close()
    for child in children:
        child.status = _reap(child.pid)
    return interrupted


class _Stops:
    """SIGINT, SIGTERM and SIGHUP, while the parent waits, as a flag and a byte on a pipe: an
    exception could land between taking a batch of results and recording it."""

    def __init__(self) -> None:
        self.asked = False
        self.heard = 0  # signals heard (a second one: stop now)
        self.fd, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._saved: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def __enter__(self) -> _Stops:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous = signal.getsignal(sig)
                if previous is signal.SIG_IGN or (sig != signal.SIGINT and previous is signal.SIG_DFL):
                    continue  # ignored (nohup), or not asked for by the caller: left as it is
                self._saved[sig] = signal.signal(sig, self._heard)
        return self

    def _heard(self, signum: int, frame: object) -> None:
        if signum != signal.SIGINT:
            _signals.note(signum)
        self.asked = True
        self.heard += 1
        with contextlib.suppress(OSError):
            os.write(self._write, b"!")

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self.fd, 512)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        os.close(self.fd)
        os.close(self._write)


def _take(child: _Child, jobs: _Numbered, results: ResultLog, progress: Progress) -> None:
    buffer, begun = child.buffer, child.begun
    while len(buffer) >= _HEADER.size:
        (length,) = _HEADER.unpack_from(buffer)
        if len(buffer) < _HEADER.size + length:
            return
        batch = pickle.loads(bytes(buffer[_HEADER.size : _HEADER.size + length]))
        del buffer[: _HEADER.size + length]
        for event in batch:
            kind = event[0]
            if kind == "done":
                _, index, result = event
                results[index] = result
                begun.discard(index)
                progress.done(jobs[index], result)
            elif kind == "advance":
                index = event[1]
                if index >= 0:
                    begun.add(index)
                progress.advance(event[2], jobs[index] if index >= 0 else None)
            elif kind == "sized":
                index = event[1]
                begun.add(index)
                progress.sized(jobs[index], event[2], event[3], event[4])
            elif kind == "retrying":
                index = event[1]
                begun.add(index)
                progress.retrying(jobs[index], event[2], RuntimeError(event[3]), event[4], event[5])
            elif kind == "end":
                _, child.interrupted, child.max_lag, child.stages, child.signum, child.stopped = event
                child.ended = True


def _signal(child: _Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signum)


def _reap(pid: int) -> int | None:
    with contextlib.suppress(ChildProcessError):
        return os.waitpid(pid, 0)[1]
    return None


def _death(child: _Child) -> str:
    """How a child that sent no end ended, in words (``(pid 12) was killed by SIGKILL``)."""
    status = child.status
    if status is not None and os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"(pid {child.pid}) was killed by {name}"
    if status is not None and os.WIFEXITED(status):
        return f"(pid {child.pid}) exited with status {os.WEXITSTATUS(status)}"
    return f"(pid {child.pid}) ended"


class _Relay(Progress):
    """A child's display: the events, batched and pickled down the pipe to the parent, at least
    every 50 ms (a thread sees to it when no new event comes)."""

    def __init__(self, fd: int, indices: Sequence[int], jobs: Sequence[Job]) -> None:
        self.fd = fd
        self.indices = indices
        # Each job's place in the shard, by the object the engine holds: for a list, all at once;
        # for a _Shard, made as taken, as the engine takes each (``taken``) and forgotten when done.
        self.lazy = isinstance(jobs, _Shard)
        self.position_of: dict[int, int] = {} if self.lazy else {id(job): n for n, job in enumerate(jobs)}
        self.sent = bytearray(len(indices))  # by position: whose result went with a "done" event
        self.meter = Meter()
        self._events: list[tuple[object, ...]] = []
        self._last = time.monotonic()
        self._lock = threading.Lock()  # the threads engine reports from many threads
        self._stop = threading.Event()
        self._gone = False  # the parent stopped reading: nothing more is sent
        self._flusher = threading.Thread(target=self._keep_flushing, name="tulip-relay", daemon=True)
        self._flusher.start()

    def _keep_flushing(self) -> None:
        _signals.left_to_main()
        while not self._stop.wait(_FLUSH_EVERY):
            with self._lock:
                if self._events and time.monotonic() - self._last >= _FLUSH_EVERY:
                    self._flush(time.monotonic())
            if self._gone:
                return

    def taken(self, position: int, job: Job) -> None:
        if self.lazy:
            self.position_of[id(job)] = position

    def _index(self, job: Job | None) -> int:
        position = None if job is None else self.position_of.get(id(job))
        return -1 if position is None else self.indices[position]

    def _add(self, event: tuple[object, ...]) -> None:
        with self._lock:
            self._events.append(event)
            if len(self._events) >= _FLUSH_COUNT:
                self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        if self._events and not self._gone:
            data = pickle.dumps(self._events, pickle.HIGHEST_PROTOCOL)
            self._events = []
            try:
                _write_all(self.fd, _HEADER.pack(len(data)) + data)
            except OSError:
                # The parent is gone (killed): nobody reads; the kernel's death signal ends us.
                self._gone = True
        self._events = [] if self._gone else self._events
        self._last = now

    def done(self, job: Job, result: Result) -> None:
        position = self.position_of.pop(id(job), None) if self.lazy else self.position_of.get(id(job))
        if position is None:
            return  # (not one of ours: nothing to say it of)
        self._add(("done", self.indices[position], result))
        self.sent[position] = 1

    def advance(self, nbytes: int, job: Job | None = None) -> None:
        self._add(("advance", self._index(job), nbytes))

    def sized(self, job: Job, size: int | None, connections: int = 1, held: int | None = None) -> None:
        self._add(("sized", self._index(job), size, connections, held))

    def retrying(
        self, job: Job, attempt: int, error: Exception, delay: float, held: int | None = None
    ) -> None:
        self._add(("retrying", self._index(job), attempt, str(error), delay, held))

    def end(self, outcome: Outcome | None) -> None:
        """Send what is left: every result not sent yet (an interrupt may have cut an event off),
        then the end — or, when the engine broke (*outcome* None), only what was buffered."""
        self._stop.set()
        with self._lock:
            if outcome is not None:
                results, sent = outcome.results, self.sent
                ended = results.ended() if isinstance(results, ResultLog) else range(len(results))
                for position in ended:  # (by number: a shard's jobs are not all made again)
                    if not sent[position] and (result := results[position]) is not None:
                        self._events.append(("done", self.indices[position], result))
                self._events.append(
                    (
                        "end",
                        outcome.interrupted,
                        outcome.max_lag,
                        self.meter.stages(),
                        _signals.received(),
                        outcome.stopped,
                    )
                )
            self._flush(time.monotonic())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _child(
    fd: int, indices: Sequence[int], jobs: _Numbered, work: Work, options: object, parent: int
) -> None:
    """Run the engine on the jobs at *indices* and report through *fd*; exit the process."""
    status = 0
    relay: _Relay | None = None
    outcome: Outcome | None = None
    try:
        _die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent asks us to stop, once
        # Ctrl-Z stops a child as the system would: the handler it inherited is the parent's
        # display's, and each child then drew the parent's finished spinner again on fg.
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        _signals.interrupt_on_terminate()
        shard: Sequence[Job] = (
            _Shard(jobs, indices) if isinstance(jobs, UrlList) else [jobs[index] for index in indices]
        )
        relay = _Relay(fd, indices, shard)
        engine = engines.load(work.options.engine)
        mine = Work(shard, work.store, options, relay, taken=relay.taken)  # type: ignore[arg-type]  # the relay is a Progress by duck typing
        outcome = engine.run_to_end(mine)
        outcome.stopped = mine.rules.halt.reason
    except BaseException:  # a child must end here, whatever happened
        status = 70  # EX_SOFTWARE: the parent fails this child's unfinished items
    finally:
        try:
            for sig in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # the work is over: its report must get through
            if relay is not None:
                relay.end(outcome)
        except BaseException:  # (the parent is gone, most likely)
            status = 70
        os._exit(status)


_prctl: Callable[..., int] | None = None


def _prepare_death_signal() -> None:
    """Load prctl once, in the parent (the children would each pay for importing ctypes)."""
    global _prctl
    if _prctl is None:
        try:
            import ctypes

            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):  # not Linux: children outlive a killed parent
            pass


def _die_with_parent(parent: int) -> None:
    """Have the kernel send us SIGTERM when the parent dies (Linux)."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)
