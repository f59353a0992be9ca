"""One display driver for every spinner (rich's ``Live``): a clock, a block of live lines at the
bottom of the terminal, lines printed above it, and the terminal given back whatever ends it.

A Spinner is a SpinnerGroup of one and a SpinnerGroup is a Live of spinners: what they draw is theirs
(``_lines``: pure, from the time), how it reaches the screen is this class's, so the two cannot
drift apart. The driver

- ticks from a daemon thread stopped by an Event (``with``) or an asyncio task stopped by cancel
  (``async with``), noting how late each frame came (``max_lag``: the loop's lag in asyncio);
- on a terminal, redraws the whole block in one write (``region``), hides the cursor, puts lines
  printed meanwhile (``print``, to stdout or stderr) above it (``above``), follows SIGWINCH, and
  shows the cursor again on every exit, interpreter exit included;
- in a Jupyter kernel, replaces one output area in place (``notebook``);
- anywhere else (a pipe, a file, ``TERM=dumb``), writes each text once and each final line, with
  not one control byte.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import signal
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import TextIO

from aiotulip.shared import terminal as term
from aiotulip.spin import above, region
from aiotulip.spin.clock import Clock, Supervised, in_loop
from aiotulip.spin.frames import FRAMES
from aiotulip.spin.notebook import WIDTH as NOTEBOOK_WIDTH
from aiotulip.spin.notebook import Cell, in_kernel

__all__ = ["NOTEBOOK_WIDTH", "Live", "pick_frames"]

# Displays that have hidden the cursor; at interpreter exit each is ended so the cursor comes back
# even when the program forgot to stop one.
_showing: weakref.WeakSet[Live] = weakref.WeakSet()


@atexit.register
def _restore_all() -> None:
    for live in list(_showing):
        live._end(None)


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C back until the block exits, then handle it as it would have been.

    Python runs a signal's handler between any two bytecodes of the main thread. A Ctrl-C landing
    after the driver noted the block's height and before the block reached the screen (or after an
    erase, before the height was set to 0) left the two disagreeing, and the final erase then wiped
    lines that were not the block's: what was printed above it. Only the main thread runs handlers,
    and only a handler set from Python (KeyboardInterrupt's, asyncio's) can be held back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    caught: list[tuple[int, FrameType | None]] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        # Each one, in order: a second Ctrl-C means something of its own (asyncio.run's forces
        # a KeyboardInterrupt after the first cancelled; a program's handler may count them).
        for signum, frame in caught:
            previous(signum, frame)


def pick_frames(frames: str | Sequence[str], stream: TextIO | None) -> list[str]:
    """Return the frames a name or a sequence gives, or ``line`` (``|/-\\``) where the stream's
    encoding cannot show them (a C locale cannot show braille dots)."""
    chosen = FRAMES.get(frames, frames) if isinstance(frames, str) else frames
    if not chosen:
        raise ValueError("frames must not be empty")
    if not term.can_encode(stream or sys.stderr, "".join(chosen)):
        chosen = FRAMES["line"]
    return list(chosen)


class Live(Supervised):
    """The driver: a subclass says what the live lines are (``_lines``) and what a pipe is told at
    the start (``_plain_start``); ``_above`` puts a finished line above the block."""

    def __init__(
        self,
        *,
        frames: str | Sequence[str],
        interval: float,
        stream: TextIO | None,
        timer: bool,
        disable: bool,
        interactive: bool | None,
        name: str,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._frames = pick_frames(frames, stream)
        self.interval = interval
        self.timer = timer
        self.disable = disable
        self._stream_arg = stream
        self._interactive_arg = interactive
        self._lock = threading.RLock()
        self._clock = Clock(interval, self._frame, name)
        self._running = False
        self._animating = False  # on a terminal, drawing in place; fixed at the start
        self._color = False
        self._drawn = 0  # lines of the block now on the screen
        self._fixed: TextIO | None = None  # the stream, as it was when the display began
        self._proxies: list[tuple[str, above.Above]] = []
        self._cell: Cell | None = None  # in a Jupyter kernel: final lines, then the live ones
        self._log: Cell | None = None  # ... and the output area above it that write() fills
        self._finals: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # whose SIGWINCH handler is ours
        self._winch_installed = ""  # "", "signal" or "loop"
        self._aside = False  # the terminal is given back for a while (see aside)
        self._away = False  # a job in the background: the screen is the shell's (see _frame)

    # -- what a subclass draws -------------------------------------------------------------------

    def _lines(self, now: float, width: int, rows: int, ellipsis: str) -> list[str]:
        """The live lines at *now*, each fitted to *width* cells, at most *rows* of them."""
        raise NotImplementedError

    def _plain_start(self) -> list[str]:
        """What a pipe is told at the start (each spinner's text)."""
        raise NotImplementedError

    def _end_content(self, exc: BaseException | None) -> None:
        """End what is still live (after *exc*, if one ended the block), before the display ends."""

    @contextlib.contextmanager
    def _drawing(self) -> Iterator[None]:
        """The display's lock, with a Ctrl-C held back while the screen and ``_drawn`` change."""
        with self._lock, _ctrl_c_held():
            yield

    # -- state ------------------------------------------------------------------------------------

    @property
    def stream(self) -> TextIO:
        # Looked up late so that a caller replacing sys.stderr is honoured; fixed while running,
        # when sys.stderr may be our own stand-in (see above).
        return self._fixed or self._stream_arg or sys.stderr

    @property
    def interactive(self) -> bool:
        """Whether the display animates (a terminal) or only prints texts and final lines."""
        if self.disable:
            return False
        if self._interactive_arg is not None:
            return self._interactive_arg
        return term.is_interactive(self.stream)

    @property
    def max_lag(self) -> float:
        """The latest a frame has fired after its due time, in seconds (the loop's lag in asyncio)."""
        return self._clock.max_lag

    @property
    def color(self) -> bool:
        return self._color

    def ellipsis(self) -> str:
        return "…" if term.can_encode(self.stream, "…") else "."

    # -- the clock: a thread for ``with``, a task for ``async with`` (see clock.Supervised) --------

    def _ticks(self, backend: str) -> bool:
        # The thread only animates; the task also measures the loop's lag, on a terminal or not.
        return self._animating or self._cell is not None or backend == "task"

    def _before_clock(self, backend: str) -> None:
        if backend == "thread":
            self._watch_resize_signal()
        elif self._animating:
            self._watch_resize_loop(asyncio.get_running_loop())

    def _begin(self) -> bool:
        """Mark the display running and show its first state; False if it was running already."""
        with self._drawing():
            if self._running:
                return False
            self._running = True
            self._clock.reset()
            notebook = not self.disable and self._interactive_arg is None and in_kernel(self._stream_arg)
            self._animating = not notebook and self.interactive
            self._fixed = self.stream
            self._color = self._animating and term.color_enabled(self.stream)
            self._finals = []
            if notebook:
                self._log, self._cell = Cell(), Cell()
                self._show()
            elif self._animating:
                _showing.add(self)
                self._away = not term.in_foreground(self.stream)
                if not self._away:
                    self._emit(term.HIDE_CURSOR + self._block(0))
                # print() meanwhile would be erased by the next frame: whole lines go above it.
                self._proxies = above.redirect(self.write)
            elif not self.disable:
                for text in self._plain_start():
                    self._emit(term.one_line(text) + "\n")
            return True

    def _end(self, exc: BaseException | None) -> None:
        """End the display (after *exc*, if one ended the block) and give the terminal back, even
        where a second Ctrl-C cuts the final lines short."""
        try:
            self._end_content(exc)
        finally:
            self._close()

    def _close(self) -> None:
        with self._drawing():
            if not self._running:
                return
            self._running = False
            self._clock.halt()
            if self._cell is not None:
                self._cell.show("\n".join(self._finals))
                self._cell = self._log = None
            elif self._animating:
                if not self._away:  # (away, the screen is the shell's: nothing of it is ours to erase)
                    self._emit(region.erase(self._drawn) + term.SHOW_CURSOR)
                self._drawn = 0
                above.restore(self._proxies)  # after the erase: a line printed without its newline stays
                self._proxies = []
            _showing.discard(self)
            self._unwatch_resize()
            self._fixed = None
        self._clock.join()

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        """Give the terminal back while the block runs (the job stopped by Ctrl-Z, for instance):
        the cursor shown, then hidden and the block drawn again where the cursor is then.

        The block is left as it was, not erased: where tulip is not the process the shell waits
        for (a script that runs it), the shell's "Stopped" and prompt may be on the screen already,
        and an erase took them away."""
        with self._drawing():
            animating = self._running and self._animating and not self._aside
            if animating:
                if not self._away:
                    self._emit(term.SHOW_CURSOR)
                self._drawn = 0
                self._aside = True
        try:
            yield
        finally:
            with self._drawing():
                if animating:
                    self._aside = False
                    # (continued by `bg`: in the background, where the next frames find it)
                    self._away = not term.in_foreground(self.stream)
                    if self._running and not self._away:
                        self._emit(term.HIDE_CURSOR + self._block(0))

    # -- drawing ----------------------------------------------------------------------------------

    def _frame(self) -> None:
        """Draw the frame the clock calls for."""
        with self._drawing():
            if self._aside:
                return
            if self._running and self._animating:
                if not term.in_foreground(self.stream):
                    # Put in the background (``bg``): the block is left as it was and nothing is
                    # drawn until the job is in the foreground again (``fg``), below what the
                    # shell printed meanwhile.
                    self._away, self._drawn = True, 0
                elif self._away:
                    self._away = False
                    self._emit(term.HIDE_CURSOR + self._block(0))
                else:
                    self._emit(self._block(self._drawn))
            elif self._running and self._cell is not None:
                self._show()

    def refresh(self) -> None:
        """Draw now (a line was added or changed)."""
        self._frame()

    def _on_screen(self) -> bool:
        """Whether the block is drawn: on a terminal, neither set aside nor in the background."""
        return self._running and self._animating and not self._aside and not self._away

    def _block(self, drawn: int) -> str:
        """The bytes that replace *drawn* lines with the block as it is now; notes its height."""
        stream = self.stream
        width, rows = term.terminal_width(stream), term.terminal_rows(stream)
        lines = self._lines(time.monotonic(), width, rows, self.ellipsis())
        self._drawn = len(lines)
        return region.redraw(lines, drawn)

    def _show(self) -> None:
        """In a notebook: the final lines so far, then the live ones."""
        assert self._cell is not None
        lines = self._lines(time.monotonic(), NOTEBOOK_WIDTH, 1000, "…")
        self._cell.show("\n".join([*self._finals, *lines]))

    def _above(self, final: str) -> None:
        """Put *final* (a finished line, with its newline) above the live lines, or print it."""
        with self._drawing():
            if self._running and self._cell is not None:
                if final:
                    self._finals.append(final.rstrip("\n"))
                self._show()
            elif self._on_screen():
                self._emit(region.erase(self._drawn) + final + self._block(0))
            elif final:
                self._emit(final)

    def _plain(self, text: str) -> None:
        """A spinner added while running: where nothing animates, its text is printed once."""
        with self._drawing():
            if self._running and self._animating:
                if self._on_screen():
                    self._emit(self._block(self._drawn))
            elif self._running and self._cell is not None:
                self._show()
            elif self._running and text and not self.disable:
                self._emit(term.one_line(text) + "\n")

    def write(self, line: str, *, file: TextIO | None = None) -> None:
        """Print *line* above the live lines (to *file*, default the display's stream)."""
        with self._drawing():
            if self._running and self._log is not None and file is None:
                self._log.show(self._log.text + line + "\n")
                return
            animating = self._running and self._animating
            on_screen = self._on_screen()
            if on_screen:
                self._emit(region.erase(self._drawn))
                self._drawn = 0
            target = file or self.stream
            if animating and (target is self.stream or term.is_interactive(target)):
                # On the terminal: each line on a line of its own, as the terminal would have shown it
                # (tabs, colours, a \r's progress), nothing that could move the cursor.
                line = "\n".join(term.shown_line(part) for part in line.split("\n"))
            term.write_safely(target, line + "\n")  # closed, or None (no stderr at all): no crash
            if on_screen:
                self._emit(self._block(0))

    def _emit(self, data: str) -> None:
        term.write_safely(self.stream, data)

    # -- SIGWINCH -----------------------------------------------------------------------------------

    def _watch_resize_signal(self) -> None:
        # Only the main thread may set a handler, and only one nobody else has set is replaced.
        winch = getattr(signal, "SIGWINCH", None)
        if not self._animating or winch is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(winch) not in (signal.SIG_DFL, None):
            return

        def resized(signum: int, frame: FrameType | None) -> None:
            self._clock.wake()

        signal.signal(winch, resized)
        self._winch_installed = "signal"

    def _watch_resize_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        winch = getattr(signal, "SIGWINCH", None)
        if winch is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(winch) not in (signal.SIG_DFL, None):
            return
        try:
            loop.add_signal_handler(winch, self._frame)
        except (NotImplementedError, RuntimeError, ValueError):
            return
        self._loop = loop
        self._winch_installed = "loop"

    def _unwatch_resize(self) -> None:
        winch = getattr(signal, "SIGWINCH", None)
        how, self._winch_installed = self._winch_installed, ""
        if winch is None or not how:
            return
        loop, self._loop = self._loop, None
        if how == "loop" and loop is not None:
            if in_loop(loop):
                loop.remove_signal_handler(winch)
            else:
                loop.call_soon_threadsafe(loop.remove_signal_handler, winch)
        elif how == "signal" and threading.current_thread() is threading.main_thread():
            signal.signal(winch, signal.SIG_DFL)
