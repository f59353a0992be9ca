"""A run as scripts see it: ``--events``, ``--on-complete``/``--on-error`` and ``--save-failed``.

All three hang on one Progress wrapper (a tee): the engines report to it as to any display, it passes
every event on to the display, and it writes the event lines, queues the hooks and, once the Report
is made, writes the list of what failed. Every engine, ``--workers`` (whose children report to the
parent) and ``--cluster`` get them so, with no engine knowing. The wrapper lives in the process that
runs ``fetch``: hooks run and lines are written there, never in a worker.

An item *starts* at its first event (an answer's size, its first bytes, a retry, its end): the
engines report no earlier moment. An item that started and was cut off by Ctrl-C ends ``failed``
with ``error_kind`` ``interrupted`` (the Report's words), gets its end line and its ``--on-error``;
one that never started gets neither, and is in the ``--save-failed`` list.

What a script sees holds no secret: URLs are redacted (``http://***@host/``) and so are URLs in
error messages; the list of failures is the one exception (see ``failed.py``).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiotulip.download.failed import save_failed
from aiotulip.download.http.urls import redact
from aiotulip.download.models import Job, Jobs, Report, Result
from aiotulip.download.progress import Progress
from aiotulip.errors import UsageError

if TYPE_CHECKING:
    from aiotulip.download.events import EventWriter
    from aiotulip.download.hooks import Hooks
    from aiotulip.download.options import FetchOptions

__all__ = ["PROGRESS_EVERY", "Scripted", "Tee", "public_error", "wrap"]

PROGRESS_EVERY = 0.5  # seconds between two progress lines of one item

# A URL in a text (an error message quoting one), to the next space or quote.
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+")


def public_error(text: str | None) -> str | None:
    """Return *text* with the password of any URL in it hidden (errors are written so: a belt)."""
    if text is None or "@" not in text:
        return text
    return _URL.sub(lambda match: redact(match.group(0)), text)


class Tee(Progress):
    """A Progress that passes every event on to *inner* (subclasses look at them on the way)."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner

    def start(self, items: int, total_bytes: int | None) -> None:
        self.inner.start(items, total_bytes)

    def advance(self, nbytes: int, job: Job | None = None) -> None:
        self.inner.advance(nbytes, job)

    def done(self, job: Job, result: Result) -> None:
        self.inner.done(job, result)

    def retrying(
        self, job: Job, attempt: int, error: Exception, delay: float, held: int | None = None
    ) -> None:
        self.inner.retrying(job, attempt, error, delay, held)

    def sized(self, job: Job, size: int | None, connections: int = 1, held: int | None = None) -> None:
        self.inner.sized(job, size, connections, held)

    def close(self, report: Report | None = None) -> None:
        self.inner.close(report)


class _Under:
    """An item under way."""

    __slots__ = ("bytes", "last", "size")

    def __init__(self, size: int | None) -> None:
        self.bytes = 0
        self.size = size
        self.last = time.monotonic()  # when its last line went out (progress waits PROGRESS_EVERY)


class Scripted(Tee):
    """The tee of a run that has events, hooks or a list of failures to save.

    *stdout_busy*: standard output carries the events or the report, so the hooks' output goes to
    stderr. *problems* gathers what could not be written (the command line exits 2 for them)."""

    def __init__(self, inner: Progress, options: FetchOptions, *, stdout_busy: bool = False) -> None:
        super().__init__(inner)
        from aiotulip.shared.output import check_output, is_stdout

        self.problems: list[str] = []
        self.interrupted = False  # Ctrl-C (or SIGTERM) came while the run waited for its hooks
        self._lock = threading.Lock()
        self._under: dict[str, _Under] = {}
        self._where: Callable[[Job], str] = lambda job: job.name
        self._jobs: Jobs | None = None
        self._naming = options.naming()
        self._save = options.save_failed
        self._on_complete: tuple[str, ...] | None = None
        self._on_error: tuple[str, ...] | None = None
        self._events: EventWriter | None = None
        self._hooks: Hooks | None = None
        for path, option in ((options.events, "--events"), (options.save_failed, "--save-failed")):
            if path is not None:
                check_output(path, option)
        self._events_path = options.events
        if options.events is not None:
            stdout_busy = stdout_busy or is_stdout(options.events)
        if options.on_complete or options.on_error:
            from aiotulip.download.hooks import Hooks, check_program, command

            if options.on_complete:
                self._on_complete = command(options.on_complete, "--on-complete")
                check_program(self._on_complete, "--on-complete")
            if options.on_error:
                self._on_error = command(options.on_error, "--on-error")
                check_program(self._on_error, "--on-error")
            self._hooks = Hooks(options.hook_timeout, stdout_busy=stdout_busy)

    def attach(self, jobs: Jobs, where: Callable[[Job], str]) -> None:
        """Learn the run's jobs and where each is written (once they are named and dest is ready);
        refuse (UsageError) --events or --save-failed naming the file of one of them."""
        for path, option in ((self._events_path, "--events"), (self._save, "--save-failed")):
            if path is not None and (target := _download_at(path, jobs, where)) is not None:
                raise UsageError(f"{option} {path} is where this run saves {target}: name another file")
        self._jobs = jobs
        self._where = where

    def start(self, items: int, total_bytes: int | None) -> None:
        """Open the events file: the run begins, and nothing is refused after this."""
        if self._events_path is not None and self._events is None:
            from aiotulip.download.events import EventWriter

            try:
                self._events = EventWriter(self._events_path, self.problems)
            except OSError as exc:
                raise UsageError(f"--events {self._events_path}: {exc.strerror or exc}") from None
        self.inner.start(items, total_bytes)

    # -- what the engines report --------------------------------------------------------------------

    def sized(self, job: Job, size: int | None, connections: int = 1, held: int | None = None) -> None:
        with self._lock:
            under = self._item(job)
            under.size = size
            if held is not None:
                under.bytes = held  # a resumed body: what the part held counts as got
        self.inner.sized(job, size, connections, held)

    def advance(self, nbytes: int, job: Job | None = None) -> None:
        if job is not None:
            now = time.monotonic()
            with self._lock:
                under = self._item(job)
                under.bytes += nbytes
                if self._events is not None and now - under.last >= PROGRESS_EVERY:
                    under.last = now
                    size = {"size": under.size} if under.size is not None else {}
                    self._events.write("progress", {**self._names(job), "bytes": under.bytes, **size})
        self.inner.advance(nbytes, job)

    def retrying(
        self, job: Job, attempt: int, error: Exception, delay: float, held: int | None = None
    ) -> None:
        with self._lock:
            under = self._item(job)
            if held is not None:
                under.bytes = held  # what the failed attempt got beyond the part is not counted
            if self._events is not None:
                self._events.write("retry", {**self._names(job), "attempt": attempt, "delay": round(delay, 3),
                                             "error": public_error(str(error))})  # fmt: skip
        self.inner.retrying(job, attempt, error, delay, held)

    def done(self, job: Job, result: Result) -> None:
        with self._lock:
            self._item(job)
            self._end(job, result)
        self.inner.done(job, result)

    def finished(self, report: Report) -> None:
        """End the items an interruption cut off, and save the list of failures (the Report is made)."""
        log = getattr(report.items, "log", None)
        with self._lock:
            cut = dict(self._under)
        if cut and log is not None:
            for job, result in log.pairs():
                if result is None and job.name in cut:
                    with self._lock:
                        path = self._where(job)
                        self._end(job, Result(redact(job.url), path, "interrupted", error="interrupted",
                                              error_kind="interrupted"))  # fmt: skip
        if self._save is not None and self._jobs is not None:
            if downloaded_there(report, self._save):  # (a server's name for a file: --content-disposition)
                self._refuse("--save-failed", self._save)
                return
            try:
                save_failed(self._save, zip(self._jobs, report.items, strict=True), self._naming)
            except OSError as exc:
                message = f"cannot write --save-failed {self._save}: {exc.strerror or exc}"
                self.problems.append(message)
                print(f"tulip fetch: error: {message}", file=sys.stderr, flush=True)

    def close(self, report: Report | None = None) -> None:
        try:
            self.inner.close(report)
        finally:
            try:
                if self._hooks is not None:
                    self.interrupted = self._hooks.close()
            finally:
                if self._events is not None:
                    keep = report is None or not downloaded_there(report, self._events.path)
                    self._events.close(keep)
                    if not keep:
                        self._refuse("--events", self._events.path)

    def _refuse(self, option: str, path: str) -> None:
        message = f"{option} {path} is a file this run downloaded: it was not written over"
        self.problems.append(message)
        print(f"tulip fetch: error: {message}", file=sys.stderr, flush=True)

    # -- under the lock -----------------------------------------------------------------------------

    def _item(self, job: Job) -> _Under:
        under = self._under.get(job.name)
        if under is None:
            under = self._under[job.name] = _Under(job.size)
            if self._events is not None:
                self._events.write("start", self._names(job))
        return under

    def _names(self, job: Job) -> dict[str, str]:
        return {"url": redact(job.url), "path": self._where(job)}

    def _end(self, job: Job, result: Result) -> None:
        self._under.pop(job.name, None)
        error = public_error(result.error)
        if self._events is not None:
            fields = {"url": redact(result.url), "path": result.path, "status": result.status,
                      "bytes": result.bytes, "sha256": result.sha256, "error": error,
                      "error_kind": result.error_kind, "attempts": result.attempts}  # fmt: skip
            self._events.write("end", fields)
        if self._hooks is None:
            return
        good = result.status in ("ok", "skipped")
        argv = self._on_complete if good else self._on_error
        if not argv:
            return
        from aiotulip.download.hooks import Call

        url = redact(result.url)
        path = os.path.abspath(result.path)  # never read as an option ("-rf" is "/dest/-rf")
        status = "interrupted" if result.error_kind == "interrupted" else result.status
        env = {"TULIP_URL": url, "TULIP_PATH": path, "TULIP_STATUS": status,
               "TULIP_SHA256": result.sha256 or "", "TULIP_BYTES": str(result.bytes),
               "TULIP_ERROR": (error or "").replace("\x00", "")}  # fmt: skip
        option = "--on-complete" if good else "--on-error"
        self._hooks.submit(Call(option, (*argv, path if good else url), env, result.path))


def downloaded_there(report: Report, path: str) -> bool:
    """Whether the file at *path* is one the run saved (or found complete): a report, the events
    or the list of failures written there would replace it."""
    if path == "-":
        return False
    try:
        target = os.stat(path)
    except OSError:
        return False
    name = os.path.basename(os.path.realpath(path))  # (a link's target's name: the file written)
    for saved in report.saved():  # (a name compared first: a stat only where the names agree)
        if saved.rpartition("/")[2] == name:
            try:
                if os.path.samestat(os.stat(saved), target):
                    return True
            except OSError:
                pass
    return False


def _download_at(path: str, jobs: Jobs, where: Callable[[Job], str]) -> str | None:
    """The file of *jobs* that *path* is (None if none). The events and the list of failures
    replace their file whole as the run ends: the download saved there would be gone, reported ok."""
    from aiotulip.shared.output import writes_through

    if path == "-" or writes_through(path):
        return None
    real = os.path.realpath(path)
    name = real.rpartition("/")[2]
    for job in jobs:  # (a name compared first: a realpath only where the names agree)
        target = where(job)
        if target.rpartition("/")[2] == name and os.path.realpath(target) == real:
            return target
    return None


def wrap(display: Progress, options: FetchOptions, jobs: Jobs, where: Callable[[Job], str]) -> Progress:
    """Return *display* wrapped for the scripts *options* ask for (itself when they ask for none)."""
    if isinstance(display, Scripted):
        display.attach(jobs, where)
        return display
    asked = options.on_complete or options.on_error or options.events is not None
    if not asked and options.save_failed is None:
        return display
    scripted = Scripted(display, options)
    scripted.attach(jobs, where)
    return scripted
