"""Feedback while a run goes on: a rich progress bar on a terminal, plain lines elsewhere, or none.

Engines report events (an item started, bytes arrived, an item ended, a retry is coming); they never
format anything. Every method is safe to call from worker threads.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from tulip._fetch.models import Job, Result
from tulip._terminal import is_interactive
from tulip._units import format_bytes
from tulip.spinner import Spinner

__all__ = ["PlainProgress", "Progress", "RichProgress", "make_progress"]


class Progress:
    """Receives the events of a run; this base class ignores them all (``--quiet``)."""

    def start(self, items: int, total_bytes: int | None) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def done(self, job: Job, result: Result) -> None: ...
    def retrying(self, job: Job, attempt: int, error: Exception, delay: float) -> None: ...
    def sized(self, job: Job, size: int, connections: int = 1) -> None: ...
    def close(self) -> None: ...


class PlainProgress(Progress):
    """A line every *interval* seconds (and one at the end) — for logs, pipes and CI."""

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._lock = threading.Lock()
        self._items = self._done = self._bytes = self._retries = self._failed = 0
        self._started = self._last = time.monotonic()

    def start(self, items: int, total_bytes: int | None) -> None:
        self._items = items
        self._started = self._last = time.monotonic()

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self._bytes += nbytes
        self._maybe_print()

    def done(self, job: Job, result: Result) -> None:
        with self._lock:
            self._done += 1
            self._failed += result.status in ("failed", "not_found")
        self._maybe_print()

    def retrying(self, job: Job, attempt: int, error: Exception, delay: float) -> None:
        with self._lock:
            self._retries += 1

    def _maybe_print(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < self.interval:
                return
            self._last = now
            rate = self._bytes / max(now - self._started, 1e-9)
            # Outcomes, not responses: a file that failed is not a file fetched.
            failed = f", {self._failed} failed" if self._failed else ""
            line = (
                f"tulip fetch: {self._done - self._failed}/{self._items} files{failed}, "
                f"{format_bytes(self._bytes)}, {format_bytes(rate)}/s, {self._retries} retries"
            )
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        self._maybe_print(force=True)


class RichProgress(Progress):
    """tulip's Spinner until the first byte arrives, then a rich bar: files, bytes, rate, ETA.

    The bar follows bytes when the total is known (a manifest gives sizes), else files.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._spinner: Spinner | None = None
        self._bar: Any = None
        self._task: Any = None
        self._items = self._done = self._bytes = self._failed = 0
        self._total_bytes: int | None = None
        self._sized: dict[str, int] = {}  # sizes servers announced, while not every size is known
        self._connections = 0  # extra connections of split downloads now under way
        self._split: dict[str, int] = {}  # ... by item
        self._started = time.monotonic()

    def start(self, items: int, total_bytes: int | None) -> None:
        self._items, self._total_bytes = items, total_bytes
        self._started = time.monotonic()
        self._spinner = Spinner(f"connecting ({items} files)", stream=self.stream, timer=True).start()

    def _ensure_bar(self) -> None:
        # Called under the lock: the spinner gives way to the bar exactly once.
        if self._bar is not None:
            return
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        self._bar = Bar(
            TextColumn("[bold]fetch"),
            BarColumn(),
            TextColumn("{task.fields[files]} files  {task.fields[size]}  {task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            refresh_per_second=8,
        )
        by_bytes = self._total_bytes is not None
        self._task = self._bar.add_task(
            "fetch", total=self._total_bytes if by_bytes else self._items, **self._fields()
        )
        self._bar.start()

    def sized(self, job: Job, size: int, connections: int = 1) -> None:
        """A server announced *job*'s size (fetched over *connections*): once every item's size is
        known (one big file, most often), the bar follows bytes and gains a true ETA."""
        with self._lock:
            if connections > 1:
                self._connections += connections - 1 - self._split.get(job.name, 0)
                self._split[job.name] = connections - 1
            if self._total_bytes is not None:
                return
            self._sized[job.name] = size
            if len(self._sized) == self._items:
                self._total_bytes = sum(self._sized.values())
                if self._bar is not None:
                    self._bar.update(self._task, total=self._total_bytes, completed=self._bytes)

    def _fields(self) -> dict[str, str]:
        rate = self._bytes / max(time.monotonic() - self._started, 1e-9)
        failed = f" ({self._failed} failed)" if self._failed else ""
        split = f" over {self._connections + 1} connections" if self._connections else ""
        return {
            "files": f"{self._done - self._failed}/{self._items}{failed}{split}",
            "size": format_bytes(self._bytes),
            "rate": f"{format_bytes(rate)}/s",
        }

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self._ensure_bar()
            self._bytes += nbytes
            if self._total_bytes is not None:
                self._bar.update(self._task, advance=nbytes, **self._fields())
            else:  # the bar follows files, the text follows bytes
                self._bar.update(self._task, **self._fields())

    def done(self, job: Job, result: Result) -> None:
        with self._lock:
            self._ensure_bar()
            self._connections -= self._split.pop(job.name, 0)
            self._done += 1
            self._failed += result.status in ("failed", "not_found")
            if self._total_bytes is None:
                self._bar.update(self._task, advance=1, **self._fields())
            elif result.status != "ok" and job.size:
                # A skipped or failed item will not arrive: its share of the total goes.
                self._total_bytes -= job.size
                self._bar.update(self._task, total=self._total_bytes, **self._fields())
            else:
                self._bar.update(self._task, **self._fields())

    def close(self) -> None:
        with self._lock:
            if self._spinner is not None:
                self._spinner.stop()
                self._spinner = None
            if self._bar is not None:
                self._bar.update(self._task, **self._fields())
                self._bar.stop()


def make_progress(mode: bool | None, stream: TextIO | None = None) -> Progress:
    """Return the progress display: False none, True a bar, None a bar on a terminal else plain lines."""
    stream = stream or sys.stderr
    if mode is False:
        return Progress()
    if mode is True or is_interactive(stream):
        return RichProgress(stream)
    return PlainProgress(stream)
