"""SpinnerGroup: several spinners at once, one line each, redrawn together.

::

    async with SpinnerGroup() as group:          # or: with SpinnerGroup() as group (a thread)
        db, cache = group.add("db"), group.add("cache")
        await connect_db(); db.ok("db ready")    # its ✔ line stays above the live ones
        with group.add("warm cache"):            # ✔ when the block ends, ✖ if it raises
            await warm()

One clock draws the whole block, one write per frame (no per-spinner thread, no flicker): a daemon
thread stopped by an Event for ``with``, an asyncio task stopped by cancel for ``async with``, as the
Spinner does. Lines never wrap (each is fitted to the width, wide characters counted as two cells);
more spinners than the terminal has rows fold into "+N more"; ``group.write()`` prints above the
block. On SIGWINCH the block is drawn at once at the new size (asyncio; the thread backend on its
next frame). In a pipe there is no animation and not one control byte: each text once when added,
each final line when it ends.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import Self, TextIO

from aiotulip.shared import terminal as term
from aiotulip.spin import above, region
from aiotulip.spin.clock import Clock, Supervised, in_loop
from aiotulip.spin.frames import FAIL_MARK, FRAMES, GREEN, OK_MARK, RED, final_line, frame_line
from aiotulip.spin.notebook import WIDTH as _NOTEBOOK_WIDTH
from aiotulip.spin.notebook import Cell, in_kernel

__all__ = ["GroupSpinner", "SpinnerGroup"]


class GroupSpinner:
    """One line of a SpinnerGroup: ``text`` can change from any thread; ``ok``/``fail``/``stop`` end it.

    As a context manager it ends with ✔ (its text) when the block succeeds, ✖ when it raises.
    """

    def __init__(self, group: SpinnerGroup, text: str) -> None:
        self._group = group
        self._text = text
        self.started = time.monotonic()
        self.done = False

    @property
    def text(self) -> str:
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        with self._group._lock:
            self._text = value

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def ok(self, text: str | None = None) -> None:
        self._group._end_member(self, OK_MARK, GREEN, text)

    def fail(self, text: str | None = None) -> None:
        self._group._end_member(self, FAIL_MARK, RED, text)

    def stop(self) -> None:
        """End without a final line."""
        self._group._end_member(self, None, "", None)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.ok()
        else:
            self.fail(f"{self._text} ({_reason(exc)})" if self._text else _reason(exc))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<GroupSpinner {self._text!r} done={self.done}>"


class SpinnerGroup(Supervised):
    """Spinners sharing one block of lines and one clock, for threads (``with``) and asyncio."""

    def __init__(
        self,
        *,
        frames: str | Sequence[str] = "line",
        interval: float = 0.1,
        stream: TextIO | None = None,
        timer: bool = False,
        disable: bool = False,
        interactive: bool | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        chosen = FRAMES.get(frames, frames) if isinstance(frames, str) else frames
        if not chosen:
            raise ValueError("frames must not be empty")
        self._frames = list(chosen)
        self.interval = interval
        self.timer = timer
        self.disable = disable
        self._stream_arg = stream
        self._interactive_arg = interactive
        self._lock = threading.RLock()
        self._live: list[GroupSpinner] = []
        self._drawn = 0  # lines of the block now on the screen
        self._running = False
        self._animating = False
        self._color = False
        self._clock = Clock(interval, self._frame, "tulip-spinners")
        self._loop: asyncio.AbstractEventLoop | None = None  # whose SIGWINCH handler is ours
        self._winch_installed = ""  # "", "signal" or "loop"
        self._cell: Cell | None = None  # in a Jupyter kernel: final lines, then the live ones
        self._log: Cell | None = None  # ... and the output area above it that write() fills
        self._finals: list[str] = []
        self._fixed: TextIO | None = None  # the stream, as it was when the group began
        self._proxies: list[tuple[str, above.Above]] = []

    # -- state ------------------------------------------------------------------------------------

    @property
    def stream(self) -> TextIO:
        # Fixed while running: sys.stderr may be our own proxy then (see _Above).
        return self._fixed or self._stream_arg or sys.stderr

    @property
    def interactive(self) -> bool:
        if self.disable:
            return False
        if self._interactive_arg is not None:
            return self._interactive_arg
        return term.is_interactive(self.stream)

    @property
    def max_lag(self) -> float:
        """The latest a frame has fired after its due time (the loop's lag in asyncio)."""
        return self._clock.max_lag

    @property
    def spinners(self) -> list[GroupSpinner]:
        """The spinners still running, in the order they were added."""
        with self._lock:
            return list(self._live)

    def add(self, text: str = "") -> GroupSpinner:
        """Add a spinner with *text*; it shows at once."""
        member = GroupSpinner(self, text)
        with self._lock:
            self._live.append(member)
            if self._running and self._animating:
                self._draw()
            elif self._running and self._cell is not None:
                self._show()
            elif self._running and text and not self.disable:
                self._emit(term.one_line(text) + "\n")
        return member

    def write(self, line: str, *, file: TextIO | None = None) -> None:
        """Print *line* above the block (to *file*, default the group's stream)."""
        with self._lock:
            if self._running and self._log is not None and file is None:
                self._log.show(self._log.text + line + "\n")
                return
            animating = self._running and self._animating
            if animating:
                self._emit(region.erase(self._drawn))
                self._drawn = 0
            target = file or self.stream
            if animating and (target is self.stream or term.is_interactive(target)):
                # On the terminal: each line on a line of its own, control characters made harmless.
                line = "\n".join(term.one_line(part) for part in line.split("\n"))
            try:
                target.write(line + "\n")
                target.flush()
            except (OSError, ValueError, AttributeError):  # closed, or None (no stderr at all)
                pass
            if animating:
                self._emit(self._block(0))

    # -- the clock: a thread for ``with``, a task for ``async with`` (see _clock.Supervised) ----

    def _ticks(self, backend: str) -> bool:
        return self._animating or self._cell is not None

    def _before_clock(self, backend: str) -> None:
        if backend == "thread":
            self._watch_resize_signal()
        elif self._animating:
            self._watch_resize_loop(asyncio.get_running_loop())

    # -- drawing ----------------------------------------------------------------------------------

    def _begin(self) -> bool:
        with self._lock:
            if self._running:
                return False
            self._running = True
            self._clock.reset()
            self._animating = self.interactive
            self._fixed = self.stream
            self._color = self._animating and term.color_enabled(self.stream)
            if not self.disable and self._interactive_arg is None and in_kernel(self._stream_arg):
                self._log, self._cell = Cell(), Cell()
                self._show()
            elif self._animating:
                self._emit(term.HIDE_CURSOR + self._block(0))
                self._redirect()
            elif not self.disable:
                for member in self._live:
                    if member.text:
                        self._emit(term.one_line(member.text) + "\n")
            return True

    def _frame(self) -> None:
        with self._lock:
            if self._running and self._animating:
                self._draw()
            elif self._running and self._cell is not None:
                self._show()

    def _show(self) -> None:
        """In a notebook: the final lines so far, then a line for each live spinner."""
        assert self._cell is not None
        now = time.monotonic()
        lines = [
            frame_line(self._frames, self.interval, member.text, now - member.started, width=_NOTEBOOK_WIDTH,
                       timer=self.timer)
            for member in self._live
        ]  # fmt: skip
        self._cell.show("\n".join([*self._finals, *lines]))

    def _draw(self) -> None:
        self._emit(self._block(self._drawn))

    def _block(self, drawn: int) -> str:
        """The bytes that replace *drawn* lines with the block as it is now; notes its height."""
        width = term.terminal_width(self.stream)
        now = time.monotonic()
        ellipsis = "…" if term.can_encode(self.stream, "…") else "."
        # Folded before drawn: a frame costs the rows on screen, not the spinners in the group.
        members = region.fold(self._live, term.terminal_rows(self.stream), width, ellipsis)
        lines = [
            member if isinstance(member, str) else
            frame_line(self._frames, self.interval, member.text, now - member.started, width=width,
                       timer=self.timer, color=self._color, ellipsis=ellipsis)
            for member in members
        ]  # fmt: skip
        self._drawn = len(lines)
        return region.redraw(lines, drawn)

    def _end_member(
        self, member: GroupSpinner, symbols: tuple[str, str] | None, color: str, text: str | None
    ) -> None:
        with self._lock:
            if member.done:
                return
            member.done = True
            if member in self._live:
                self._live.remove(member)
            final = ""
            if symbols is not None and not self.disable:
                mark = symbols[0] if term.can_encode(self.stream, symbols[0]) else symbols[1]
                final = final_line(
                    mark, member.text if text is None else text,
                    elapsed=member.elapsed if self.timer else None, color=color if self._color else "",
                )  # fmt: skip
            if self._running and self._cell is not None:
                if final:
                    self._finals.append(final.rstrip("\n"))
                self._show()
            elif self._running and self._animating:
                self._emit(region.erase(self._drawn) + final + self._block(0))
            elif final:
                self._emit(final)

    def _end(self, exc: BaseException | None) -> None:
        """End the group: live spinners are erased (or fail, if *exc*), the cursor comes back."""
        for member in self.spinners:
            if exc is None:
                member.stop()
            else:
                member.fail(f"{member.text} ({_reason(exc)})" if member.text else _reason(exc))
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._clock.halt()
            if self._cell is not None:
                self._cell.show("\n".join(self._finals))
                self._cell = self._log = None
            elif self._animating:
                self._emit(region.erase(self._drawn) + term.SHOW_CURSOR)
                self._drawn = 0
                self._restore()  # after the erase: a line printed without its newline stays
            self._unwatch_resize()
            self._fixed = None
        self._clock.join()

    def _emit(self, data: str) -> None:
        term.write_safely(self.stream, data)

    # -- print() while the block is up ------------------------------------------------------------

    def _redirect(self) -> None:
        # Lines printed straight to the terminal would be erased by the next frame: above it.
        self._proxies = above.redirect(self.write)

    def _restore(self) -> None:
        above.restore(self._proxies)
        self._proxies = []

    # -- SIGWINCH -----------------------------------------------------------------------------------

    def _watch_resize_signal(self) -> None:
        # Only the main thread may set a handler, and only one nobody else has set is replaced.
        winch = getattr(signal, "SIGWINCH", None)
        if winch is None or threading.current_thread() is not threading.main_thread():
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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return type(exc).__name__
