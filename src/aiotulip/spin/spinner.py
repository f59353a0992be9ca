"""Spinner: show that a program is alive while slow work runs.

The classic "supervisor" pattern in two backends that share every line of rendering:

- ``with Spinner(...)`` draws from a daemon thread that sleeps on a ``threading.Event``; setting the
  event is the only way to stop it, because Python has no API to kill a thread.
- ``async with Spinner(...)`` draws from an ``asyncio`` task on the running loop (no thread); it is
  stopped by cancelling the task, which raises ``CancelledError`` at its ``await asyncio.sleep``.

Being late is information: each backend records how late every frame fired (``max_lag``). In the
asyncio backend that is the event loop's lag, so a coroutine that blocks the loop shows up there.

On a terminal the line is redrawn in place, never wider than the terminal (so it never wraps and can
always be erased), the cursor is hidden while spinning and always shown again. Anywhere else — a pipe,
a file, a CI log, ``TERM=dumb`` — there is no animation and not one control byte: the text once at the
start and the final line at the end.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TextIO, TypeVar, cast

from aiotulip.shared import terminal as term
from aiotulip.spin import above
from aiotulip.spin.clock import Clock, Supervised
from aiotulip.spin.frames import FAIL_MARK, FRAMES, GREEN, OK_MARK, RED, final_line, frame_line
from aiotulip.spin.notebook import WIDTH as _NOTEBOOK_WIDTH
from aiotulip.spin.notebook import Cell, in_kernel

__all__ = ["FRAMES", "Spinner"]


F = TypeVar("F", bound=Callable[..., Any])

# Spinners that have hidden the cursor; at interpreter exit each is stopped so the cursor comes back
# even when the program forgot to stop one.
_running: weakref.WeakSet[Spinner] = weakref.WeakSet()


@atexit.register
def _restore_all() -> None:
    for spinner in list(_running):
        spinner.stop()


class Spinner(Supervised):
    """A terminal activity indicator for threads (``with``) and asyncio (``async with``).

    >>> with Spinner("thinking!") as sp:   # doctest: +SKIP
    ...     answer = slow_function()
    ...     sp.ok(f"answer is {answer}")
    """

    def __init__(
        self,
        text: str = "",
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
        self._options = dict(
            frames=frames, interval=interval, stream=stream, timer=timer,
            disable=disable, interactive=interactive,
        )  # fmt: skip
        self._text = text
        self._frames = self._pick_frames(frames, stream)
        self.interval = interval
        self.timer = timer
        self.disable = disable
        self._stream_arg = stream
        self._interactive_arg = interactive
        self._lock = threading.RLock()
        self._clock = Clock(interval, self._frame, "tulip-spinner")
        self._fixed: TextIO | None = None  # the stream while spinning on a terminal
        self._proxies: list[tuple[str, above.Above]] = []
        self._started_at = 0.0
        self._running = False
        self._live = False  # animating on a terminal or in a notebook; fixed at start
        self._cell: Cell | None = None  # in a Jupyter kernel: the output area the frames replace
        self._log: Cell | None = None  # ... and the one above it that write() fills
        self._color = False

    # -- public state -------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The message beside the frame; assign to it from any thread while spinning."""
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        with self._lock:
            self._text = value

    @property
    def max_lag(self) -> float:
        """The latest a frame has fired after its due time, in seconds (the loop's lag in asyncio)."""
        return self._clock.max_lag

    @property
    def elapsed(self) -> float:
        """Seconds since the spinner started."""
        return time.monotonic() - self._started_at if self._started_at else 0.0

    @property
    def stream(self) -> TextIO:
        # Looked up late so that a test or a caller replacing sys.stderr is honoured; fixed while
        # spinning, when sys.stderr may be our own stand-in (see _above).
        return self._fixed or self._stream_arg or sys.stderr

    @property
    def interactive(self) -> bool:
        """Whether the spinner animates (a terminal) or only prints its text and final line."""
        if self.disable:
            return False
        if self._interactive_arg is not None:
            return self._interactive_arg
        return term.is_interactive(self.stream)

    def __repr__(self) -> str:
        backend = "task" if self._clock.task else "thread" if self._clock.running else "idle"
        return f"<Spinner {self._text!r} {backend} running={self._running}>"

    # -- the clock: a thread for ``with``, a task for ``async with`` (see _clock.Supervised) ----

    def _ticks(self, backend: str) -> bool:
        # The thread only animates; the task also measures the loop's lag, on a terminal or not.
        return self._live or backend == "task"

    # -- shared by both backends --------------------------------------------------------------

    @staticmethod
    def _pick_frames(frames: str | Sequence[str], stream: TextIO | None) -> Sequence[str]:
        chosen = FRAMES.get(frames, frames) if isinstance(frames, str) else frames
        if not chosen:
            raise ValueError("frames must not be empty")
        if not term.can_encode(stream or sys.stderr, "".join(chosen)):
            chosen = FRAMES["line"]
        return list(chosen)

    def _begin(self) -> bool:
        """Mark the spinner running and show its first state; False if already running."""
        with self._lock:
            if self._running:
                return False
            self._running = True
            self._started_at = time.monotonic()
            self._clock.reset()
            notebook = not self.disable and self._interactive_arg is None and in_kernel(self._stream_arg)
            self._live = self.interactive or notebook
            self._color = self._live and not notebook and term.color_enabled(self.stream)
            if notebook:
                self._log, self._cell = Cell(), Cell(self._line(self._started_at, _NOTEBOOK_WIDTH))
            elif self._live:
                _running.add(self)
                self._fixed = self.stream
                self._emit(term.HIDE_CURSOR + self._render(self._started_at))
                # print() meanwhile would glue its text to the frame: whole lines go above it.
                self._proxies = above.redirect(self.write)
            elif not self.disable and self._text:
                self._emit(self._text + "\n")
            return True

    def _frame(self) -> None:
        """Draw the frame the clock calls for."""
        if self._live:
            with self._lock:
                if self._running and self._cell is not None:
                    self._cell.show(self._line(time.monotonic(), _NOTEBOOK_WIDTH))
                elif self._running:
                    self._emit(self._render(time.monotonic()))

    def _render(self, now: float) -> str:
        return term.CLEAR_LINE + self._line(now, term.terminal_width(self.stream))

    def _line(self, now: float, width: int) -> str:
        return frame_line(
            self._frames, self.interval, self._text, now - self._started_at,
            width=width, timer=self.timer, color=self._color, ellipsis=self._ellipsis(),
        )  # fmt: skip

    def _ellipsis(self) -> str:
        return "…" if term.can_encode(self.stream, "…") else "."

    def _emit(self, data: str) -> None:
        term.write_safely(self.stream, data)

    def write(self, line: str, *, file: TextIO | None = None) -> None:
        """Print *line* above the spinner (to *file*, default the spinner's stream)."""
        with self._lock:
            if self._running and self._log is not None and file is None:
                self._log.show(self._log.text + line + "\n")
                return
            animating = self._running and self._live and self._cell is None
            if animating:
                self._emit(term.CLEAR_LINE)
            target = file or self.stream
            try:
                target.write(line + "\n")
                target.flush()
            except (OSError, ValueError):
                pass
            if animating:
                self._emit(self._render(time.monotonic()))

    def ok(self, text: str | None = None) -> None:
        """Stop with a persistent success line (✔, or ``OK`` where ✔ cannot be shown)."""
        self._finish(OK_MARK, GREEN, text)

    def fail(self, text: str | None = None) -> None:
        """Stop with a persistent failure line (✖, or ``FAIL`` where ✖ cannot be shown)."""
        self._finish(FAIL_MARK, RED, text)

    def stop(self) -> None:
        """Stop and erase the spinner line, leaving no final line."""
        self._finish(None, "", None)

    def _end(self, exc: BaseException | None) -> None:
        if exc is None:
            self.stop()
        elif isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "cancelled"
            self.fail(f"{self._text} ({reason})" if self._text else reason)
        else:
            self.fail(self._text or type(exc).__name__)

    def _finish(self, symbols: tuple[str, str] | None, color: str, text: str | None) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._clock.halt()
            final = ""
            if symbols is not None:
                mark = symbols[0] if term.can_encode(self.stream, symbols[0]) else symbols[1]
                final = final_line(
                    mark, self._text if text is None else text,
                    elapsed=self.elapsed if self.timer else None, color=color if self._color else "",
                )  # fmt: skip
            if self._cell is not None:
                self._cell.show(final.rstrip("\n"))
                self._cell = self._log = None
            elif self._live:
                self._emit(term.CLEAR_LINE + final + term.SHOW_CURSOR)
                proxies, self._proxies = self._proxies, []
                above.restore(proxies)
                self._fixed = None
            elif final and not self.disable:
                self._emit(final)
            _running.discard(self)
        self._clock.join()

    # -- decorator ------------------------------------------------------------------------------

    def __call__(self, func: F) -> F:
        """Wrap *func* (plain or ``async def``) so that every call runs under a fresh spinner."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self._copy():
                    return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._copy():
                return func(*args, **kwargs)

        return cast(F, wrapper)

    def _copy(self) -> Spinner:
        return Spinner(self._text, **self._options)  # type: ignore[arg-type]
