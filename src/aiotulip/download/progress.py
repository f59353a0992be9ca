"""Feedback while a run goes on: a rich progress bar on a terminal, plain lines elsewhere, or none.

Engines report events (an item started, bytes arrived, an item ended, a retry is coming); they never
format anything. Every method is safe to call from worker threads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from aiotulip.download.models import Job, Report, Result
from aiotulip.shared.terminal import SHOW_CURSOR, forgiving, in_foreground, is_interactive, write_safely
from aiotulip.shared.units import format_bytes

if TYPE_CHECKING:
    from aiotulip.spin.spinner import Spinner

__all__ = ["PlainProgress", "Progress", "RichProgress", "make_progress"]


class Progress:
    """Receives the events of a run; this base class ignores them all (``--quiet``).

    What a display counts is what the Report will: bytes this run brought and kept. *held* (where
    an event gives it) is what the file holds now — a resumed file's part as its body begins, the
    bytes a retry keeps (0 when it starts over): what an attempt brought and the next one does not
    keep is taken back, and a file resumed from an earlier run starts at what it had.
    """

    def start(self, items: int, total_bytes: int | None) -> None: ...
    def advance(self, nbytes: int, job: Job | None = None) -> None: ...
    def done(self, job: Job, result: Result) -> None: ...
    def retrying(
        self, job: Job, attempt: int, error: Exception, delay: float, held: int | None = None
    ) -> None: ...
    def sized(self, job: Job, size: int | None, connections: int = 1, held: int | None = None) -> None: ...
    def close(self, report: Report | None = None) -> None: ...


class _File:
    """One file under way: the bytes it holds, of which *base* it held before this run."""

    __slots__ = ("base", "bytes", "name", "size", "started", "task")

    def __init__(self, name: str, size: int | None, held: int = 0) -> None:
        self.name = name
        self.size = size
        self.bytes = self.base = held
        self.started = time.monotonic()
        self.task: Any = None


class _Tally:
    """The counting both displays share (called under their lock): files under way, and the bytes
    this run brought that are still kept (*bytes*) beside those files held before it (*before*)."""

    def __init__(self) -> None:
        self.active: dict[str, _File] = {}
        self.bytes = 0
        self.before = 0
        self.items = self.done = self.failed = self.stopped = self.retries = 0

    def file(self, job: Job, size: int | None = None) -> _File:
        entry = self.active.get(job.name)
        if entry is None:
            entry = self.active[job.name] = _File(job.name, size if size is not None else job.size)
        return entry

    def hold(self, job: Job, held: int, size: int | None = None) -> _File:
        """*job*'s file holds *held* bytes now (its first word of the run: all from before)."""
        entry = self.active.get(job.name)
        if entry is None:
            entry = self.active[job.name] = _File(job.name, size if size is not None else job.size, held)
            self.before += held
            return entry
        brought = entry.bytes - entry.base
        if held < entry.base:  # what it held before this run is gone too (started over)
            self.before -= entry.base - held
            entry.base = held
        entry.bytes = held
        self.bytes += (entry.bytes - entry.base) - brought
        return entry

    def advance(self, nbytes: int, job: Job | None) -> _File | None:
        self.bytes += nbytes
        if job is None:
            return None
        entry = self.file(job)
        entry.bytes += nbytes
        return entry

    def end(self, job: Job, result: Result) -> _File | None:
        self.done += 1
        status = result.status
        self.failed += status in ("failed", "not_found")
        self.stopped += status == "interrupted"
        entry = self.active.pop(job.name, None)
        if entry is not None:
            self.before -= entry.base
            if status in ("failed", "not_found"):
                self.bytes -= entry.bytes - entry.base  # what a failed file brought is not kept
            elif status == "skipped":
                self.bytes -= entry.bytes - entry.base  # (a look that found it done keeps nothing)
        return entry

    def settle(self, report: Report) -> None:
        """The run is over: the figures are the Report's, whatever was missed on the way."""
        counts = report.counts()
        stopped, never = report.unfinished()
        self.done = len(report.items) - never
        self.failed = counts["failed"] + counts["not_found"]
        self.stopped = stopped
        self.bytes = report.bytes
        self.before = 0
        self.active.clear()

    def text(self, started: float, sep: str = ", ") -> str:
        rate = self.bytes / max(time.monotonic() - started, 1e-9)
        ended = self.done - self.failed - self.stopped
        extra = "".join(
            f"{sep}{n} {what}" for n, what in ((self.failed, "failed"), (self.stopped, "interrupted")) if n
        )
        files = "file" if self.items == 1 else "files"
        return (
            f"{ended}/{self.items} {files}{extra}{sep}{format_bytes(self.bytes)}{sep}{format_bytes(rate)}/s"
        )


class PlainProgress(Progress):
    """A line every *interval* seconds (and one at the end) — for logs, pipes and CI."""

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._lock = threading.Lock()
        self._tally = _Tally()
        self._printed = False
        self._gone = False  # the stream's reader went away (a closed pipe, a hung-up terminal)
        self._started = self._last = time.monotonic()

    def start(self, items: int, total_bytes: int | None) -> None:
        self._tally.items = items
        self._started = self._last = time.monotonic()

    def advance(self, nbytes: int, job: Job | None = None) -> None:
        with self._lock:
            self._tally.advance(nbytes, job)
        self._maybe_print()

    def sized(self, job: Job, size: int | None, connections: int = 1, held: int | None = None) -> None:
        with self._lock:
            if held is not None:
                self._tally.hold(job, held, size)

    def done(self, job: Job, result: Result) -> None:
        with self._lock:
            self._tally.end(job, result)
        self._maybe_print()

    def retrying(
        self, job: Job, attempt: int, error: Exception, delay: float, held: int | None = None
    ) -> None:
        with self._lock:
            self._tally.retries += 1
            if held is not None:
                self._tally.hold(job, held)

    def _maybe_print(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if self._gone or (not force and now - self._last < self.interval):
                return
            self._last = now
            self._printed = True
            tally = self._tally
            line = f"tulip fetch: {tally.text(self._started)}, {tally.retries} retries"
        try:
            print(line, file=self.stream, flush=True)
        except (OSError, ValueError):  # nobody reads the lines any more: the downloads go on
            self._gone = True

    def close(self, report: Report | None = None) -> None:
        if report is not None:
            if not self._printed and len(report.items) <= 1:
                return  # one file: the run's own last line says it all
            with self._lock:
                self._tally.settle(report)
        self._maybe_print(force=True)


class RichProgress(Progress):
    """tulip's Spinner until the first byte arrives (or a resumed body begins), then a rich bar:
    files, bytes, rate, ETA, and below it the largest files under way (as many as fit, *files* at
    most), folded into "+K more".

    The bar follows bytes once a size is known — the total estimated from the sizes known so far
    (a manifest's, or Content-Length as answers arrive), exact once all are — else files. Its
    position counts what files held before the run too (a resumed file is that far along); its text
    counts what this run brought, as the summary does. The last frame shows the Report's figures.

    Ctrl-Z gives the terminal back (the bar stays as it was, the cursor shows) before the process
    stops; continued in the foreground (``fg``) a new bar starts below what the shell printed, and in
    the background (``bg``, or started with ``&``) nothing is drawn until it is in the foreground.
    """

    def __init__(self, stream: TextIO | None = None, files: int = 5) -> None:
        self.stream = stream or sys.stderr
        self.max_files = files
        # Reentrant: Ctrl-Z's handler runs on the main thread between any two bytecodes, and may
        # find this lock taken by the code it interrupted.
        self._lock = threading.RLock()
        self._spinner: Spinner | None = None
        self._bar: Any = None
        self._task: Any = None
        self._slots: list[Any] = []  # the rows for files, filled by _pick_rows
        self._more: Any = None  # the "+K more" row
        self._tally = _Tally()
        self._total_bytes: int | None = None  # exact: every size known
        self._sized: dict[str, int] = {}  # sizes servers announced, while not every size is known
        self._gone = 0  # items that ended without a size known
        self._connections = 0  # extra connections of split downloads now under way
        self._split: dict[str, int] = {}  # ... by item
        self._picked = 0.0  # when the rows were last chosen
        self._started = time.monotonic()
        self._asked = 0.0  # when the terminal was last asked whether the job is in the foreground
        self._ctrl_z: Any = None  # SIGTSTP's handler before ours, while ours is set

    def start(self, items: int, total_bytes: int | None) -> None:
        self._tally.items, self._total_bytes = items, total_bytes
        self._started = time.monotonic()
        from aiotulip.spin.spinner import Spinner  # (only a run that shows progress draws one)

        self._spinner = Spinner(f"connecting ({_items(items)})", stream=self.stream, timer=True).start()
        self._watch_ctrl_z()

    def _watch_ctrl_z(self) -> None:
        # Only where nobody else handles it: the main thread of a program that left it alone.
        if (
            threading.current_thread() is threading.main_thread()
            and is_interactive(self.stream)
            and signal.getsignal(signal.SIGTSTP) is signal.SIG_DFL
        ):
            self._ctrl_z = signal.signal(signal.SIGTSTP, self._suspend)

    def _suspend(self, signum: int, frame: FrameType | None) -> None:
        """Ctrl-Z: the terminal given back, then stopped as SIGTSTP would have (SIGSTOP: the
        handler is ours), until continued."""
        with self._lock:
            bar, self._bar = self._bar, None
            if bar is not None:
                for entry in self._tally.active.values():
                    entry.task = None
                # Its last frame stays as it was: stopped quietly, for rich's stop draws it again,
                # and where tulip is not the process the shell waits for (a script that runs it),
                # that frame landed over the shell's "Stopped" and prompt.
                bar.console.quiet = True
                with contextlib.suppress(OSError, ValueError):
                    bar.stop()
                write_safely(self.stream, SHOW_CURSOR)
            spinner = self._spinner
            with spinner.aside() if spinner is not None else contextlib.nullcontext():
                os.kill(os.getpid(), signal.SIGSTOP)
            from aiotulip.shared import lag

            lag.continued()  # (the time stopped is no loop lag)
            self._asked = 0.0  # continued: in the foreground (fg) or not (bg), asked at the next event

    def _ensure_bar(self) -> Any:
        """The bar, made at the first byte (the spinner gives way to it then), or None while the
        job is in the background (asked of the terminal at most 4 times a second). Called under
        the lock."""
        if self._bar is not None:
            return self._bar
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        now = time.monotonic()
        if now - self._asked < 0.25:
            return None
        self._asked = now
        if not in_foreground(self.stream):
            return None
        from rich.console import Console
        from rich.progress import Progress as Bar
        from rich.progress import TextColumn
        from rich.table import Column

        self._bar = Bar(
            _name_column(self.stream),
            _bar_column(),
            TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
            _eta_column(),
            console=Console(file=forgiving(self.stream)),
            refresh_per_second=8,
        )
        total = self._total()
        by_bytes = total is not None
        self._task = self._bar.add_task(
            "[bold]fetch",
            total=total if by_bytes else self._tally.items,
            completed=self._position() if by_bytes else self._tally.done,
            info=self._info(),
        )
        # Rows made once and filled in place: adding or removing a rich task redraws at once, which
        # a run of thousands of small files cannot afford.
        self._slots = [
            self._bar.add_task("", total=None, info="", visible=False) for _ in range(self.max_files)
        ]
        self._more = self._bar.add_task("", total=None, info="", more=True, visible=False)
        self._bar.start()
        return self._bar

    def _total(self) -> int | None:
        """Bytes the run's files will hold: exact when every size is known, else estimated from
        those known."""
        if self._total_bytes is not None:
            return self._total_bytes
        if not self._sized:
            return None
        known = sum(self._sized.values())
        unknown = max(0, self._tally.items - len(self._sized) - self._gone)
        return known + unknown * known // len(self._sized)

    def _position(self) -> int:
        tally = self._tally
        return tally.bytes + tally.before

    def sized(self, job: Job, size: int | None, connections: int = 1, held: int | None = None) -> None:
        """A server announced *job*'s size (fetched over *connections*); the file holds *held*."""
        with self._lock:
            if connections > 1:
                self._connections += connections - 1 - self._split.get(job.name, 0)
                self._split[job.name] = connections - 1
            tally = self._tally
            entry = tally.hold(job, held, size) if held is not None else tally.file(job, size)
            if size is not None:
                entry.size = size
                if self._total_bytes is None:
                    self._sized[job.name] = size
                    if len(self._sized) + self._gone >= tally.items:
                        self._total_bytes = sum(self._sized.values())
            # A resumed body begins: the bar shows at once how far along it already is.
            bar = self._ensure_bar() if held else self._bar
            if bar is None:
                return
            if entry.task is not None:
                bar.update(entry.task, total=entry.size, completed=entry.bytes)
            if self._by_bytes():
                bar.update(self._task, total=self._total(), completed=self._position(), info=self._info())

    def _info(self) -> str:
        split = f" over {self._connections + 1} connections" if self._connections else ""
        return self._tally.text(self._started, "  ").replace("  ", f"{split}  ", 1)

    def _by_bytes(self) -> bool:
        return self._total_bytes is not None or bool(self._sized)

    def advance(self, nbytes: int, job: Job | None = None) -> None:
        with self._lock:
            entry = self._tally.advance(nbytes, job)
            bar = self._ensure_bar()
            if bar is None:
                return
            if self._by_bytes():
                bar.update(self._task, completed=self._position(), info=self._info())
            else:  # the bar follows files, the text follows bytes
                bar.update(self._task, info=self._info())
            if entry is not None and self.max_files:
                if entry.task is not None:
                    bar.update(
                        entry.task, completed=entry.bytes, info=_file_info(entry), eta=_file_eta(entry)
                    )
                self._pick_rows(bar)

    def retrying(
        self, job: Job, attempt: int, error: Exception, delay: float, held: int | None = None
    ) -> None:
        with self._lock:
            self._tally.retries += 1
            if held is None:
                return
            entry = self._tally.hold(job, held)
            bar = self._bar
            if bar is not None:
                if entry.task is not None:
                    bar.update(entry.task, completed=entry.bytes, info=_file_info(entry))
                if self._by_bytes():
                    bar.update(self._task, completed=self._position(), info=self._info())

    def _pick_rows(self, bar: Any) -> None:
        """Show the largest files under way worth a row, as many as fit (chosen at most 4 times a
        second; a file that will be done in a blink — small, and begun just now — gets none)."""
        now = time.monotonic()
        if now - self._picked < 0.25:
            return
        self._picked = now
        from aiotulip.shared.terminal import terminal_rows

        active = self._tally.active
        room = max(0, min(len(self._slots), terminal_rows(self.stream) - 4))
        worth = [f for f in active.values() if (f.size or 0) >= _WORTH_A_ROW or now - f.started >= 1.0]
        ranked = sorted(worth, key=lambda f: (f.size or f.bytes, f.bytes), reverse=True)
        if len(ranked) > room and room:
            room -= 1  # a row for "+K more"
        shown, hidden = ranked[:room], ranked[room:]
        for entry in active.values():
            entry.task = None
        name_cells = _name_cells(self.stream)
        for slot, entry in zip(self._slots, shown, strict=False):
            entry.task = slot
            bar.reset(slot, total=entry.size, completed=entry.bytes, visible=True,
                      description=f"  {_middle(entry.name, name_cells)}",
                      info=_file_info(entry), eta=_file_eta(entry))  # fmt: skip
        for slot in self._slots[len(shown) :]:
            bar.update(slot, visible=False)
        bar.update(self._more, description=f"  +{len(hidden)} more", visible=bool(hidden))

    def done(self, job: Job, result: Result) -> None:
        with self._lock:
            self._connections -= self._split.pop(job.name, 0)
            entry = self._tally.end(job, result)
            by_bytes = self._by_bytes()
            if by_bytes:
                if job.name not in self._sized and self._total_bytes is None:
                    self._gone += 1
                if self._total_bytes is not None and result.status not in ("ok", "interrupted") and job.size:
                    # A skipped or failed item will not arrive: its share of the total goes.
                    self._total_bytes -= job.size
            bar = self._ensure_bar()
            if bar is None:
                return
            if entry is not None and entry.task is not None:
                bar.update(entry.task, visible=False)  # its row is filled again at the next pick
            if by_bytes:
                bar.update(self._task, total=self._total(), completed=self._position(), info=self._info())
            else:
                bar.update(self._task, completed=self._tally.done, info=self._info())

    def close(self, report: Report | None = None) -> None:
        with self._lock:
            if self._ctrl_z is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTSTP, self._ctrl_z)
                self._ctrl_z = None
            if self._spinner is not None:
                self._spinner.stop()
                self._spinner = None
            bar = self._bar
            if bar is None:
                return
            for slot in (*self._slots, self._more):
                bar.update(slot, visible=False)
            if report is not None:
                self._tally.settle(report)
                if report.ok:  # a run that finished everything has a full bar, whatever it followed
                    total = bar.tasks[0].total or 1
                    bar.update(self._task, completed=total)
                else:  # (ended short: no time is left to tell, and the last estimate stood there)
                    bar.update(self._task, eta="")
            bar.update(self._task, info=self._info())
            with contextlib.suppress(OSError, ValueError):  # a hung-up terminal: nowhere to draw
                bar.stop()


def _items(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _name_cells(stream: TextIO) -> int:
    """Columns for a file's name: a third of the terminal, 10 to 30."""
    from aiotulip.shared.terminal import terminal_width

    return max(10, min(30, terminal_width(stream) // 3))


_WORTH_A_ROW = 1 << 20  # a file this big gets a row at once; a smaller one once it has run a second


def _middle(name: str, cells: int) -> str:
    """*name* cut in the middle to *cells* columns: ``file-0…0003.bin`` keeps what tells files apart."""
    from aiotulip.shared.terminal import cell_width, fit

    if cell_width(name) <= cells:
        return name
    tail = fit(name[::-1], (2 * cells) // 3, "")[::-1]
    return fit(name, cells - cell_width(tail), "…") + tail


def _file_info(entry: _File) -> str:
    return (
        f"{format_bytes(entry.bytes)}{f'/{format_bytes(entry.size)}' if entry.size else ''}  {_rate(entry)}"
    )


def _rate(entry: _File) -> str:
    return f"{format_bytes(entry.bytes / max(time.monotonic() - entry.started, 1e-9))}/s"


def _file_eta(entry: _File) -> str:
    """The file's own ETA from its own rate since it began (rich's needs several samples a file)."""
    elapsed = time.monotonic() - entry.started
    if not entry.size or not entry.bytes or elapsed <= 0:
        return "-:--:--"
    left = max(0.0, (entry.size - entry.bytes) * elapsed / entry.bytes)
    minutes, seconds = divmod(int(left + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _name_column(stream: TextIO) -> Any:
    from rich.progress import TextColumn
    from rich.table import Column

    class _Name(TextColumn):
        # Asked at every render: the width follows a resized terminal, and names are never squeezed
        # below what tells files apart.
        def get_table_column(self) -> Column:
            return Column(no_wrap=True, overflow="ellipsis", min_width=_name_cells(stream) + 2)

    return _Name("{task.description}")


def _bar_column() -> Any:
    from rich.progress import BarColumn
    from rich.text import Text

    class _Bar(BarColumn):
        def render(self, task: Any) -> Any:
            return Text("") if task.fields.get("more") else super().render(task)

    return _Bar()


def _eta_column() -> Any:
    from rich.progress import TimeRemainingColumn
    from rich.text import Text

    class _Eta(TimeRemainingColumn):
        def render(self, task: Any) -> Any:
            if task.fields.get("more"):
                return Text("")
            if "eta" in task.fields:
                return Text(task.fields["eta"], style="progress.remaining")
            return super().render(task)

    return _Eta()


def make_progress(mode: bool | None, stream: TextIO | None = None) -> Progress:
    """Return the progress display: False none, True a bar, None a bar on a terminal else plain lines."""
    stream = stream or sys.stderr
    if mode is False:
        return Progress()
    if mode is True or is_interactive(stream):
        return RichProgress(stream)
    return PlainProgress(stream)
