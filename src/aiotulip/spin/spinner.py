"""Spinner: show that a program is alive while slow work runs.

The classic "supervisor" pattern in two backends that share every line of rendering (a Spinner is a
SpinnerGroup of one, drawn by the one display driver, ``live.Live``):

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
import functools
import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO, TypeVar, cast

from aiotulip.spin.frames import FAIL_MARK, FRAMES, GREEN, OK_MARK, RED
from aiotulip.spin.group import GroupSpinner, Spinners, succeeded

__all__ = ["FRAMES", "Spinner"]


F = TypeVar("F", bound=Callable[..., Any])


class Spinner(Spinners):
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
        super().__init__(
            frames=frames, interval=interval, stream=stream, timer=timer, disable=disable,
            interactive=interactive, name="tulip-spinner",
        )  # fmt: skip
        self._arguments = (frames, interval, stream, timer, disable, interactive)
        self._text = text
        self._member: GroupSpinner | None = None  # the one line, while spinning
        self._started_at = 0.0

    # -- public state -------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The message beside the frame; assign to it from any thread while spinning."""
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        with self._lock:
            self._text = value
            if self._member is not None:
                self._member.text = value

    @property
    def elapsed(self) -> float:
        """Seconds since the spinner started."""
        return time.monotonic() - self._started_at if self._started_at else 0.0

    def __repr__(self) -> str:
        backend = "task" if self._clock.task else "thread" if self._clock.running else "idle"
        return f"<Spinner {self._text!r} {backend} running={self._running}>"

    # -- a group of one -----------------------------------------------------------------------

    def _begin(self) -> bool:
        with self._lock:
            if self._running:
                return False
            self._started_at = time.monotonic()
            self._live = []
            self._member = self._add(self._text)
            return super()._begin()

    def ok(self, text: str | None = None) -> None:
        """Stop with a persistent success line (✔, or ``OK`` where ✔ cannot be shown)."""
        self._finish(OK_MARK, GREEN, text)

    def fail(self, text: str | None = None) -> None:
        """Stop with a persistent failure line (✖, or ``FAIL`` where ✖ cannot be shown)."""
        self._finish(FAIL_MARK, RED, text)

    def stop(self) -> None:
        """Stop and erase the spinner line, leaving no final line."""
        self._finish(None, "", None)

    def _finish(self, symbols: tuple[str, str] | None, color: str, text: str | None) -> None:
        try:
            with self._drawing():
                member, self._member = self._member, None
                if member is None or not self._running:
                    return
                self._end_member(member, symbols, color, text)
        finally:
            # (a Ctrl-C held back while the final line was drawn comes as the block above ends:
            # the display is closed anyway, so the cursor comes back)
            super()._close()

    def _end(self, exc: BaseException | None) -> None:
        if exc is None or succeeded(exc):
            self.stop()
        elif isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "cancelled"
            self.fail(f"{self._text} ({reason})" if self._text else reason)
        else:
            self.fail(self._text or type(exc).__name__)

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
        frames, interval, stream, timer, disable, interactive = self._arguments
        return Spinner(
            self._text, frames=frames, interval=interval, stream=stream, timer=timer, disable=disable,
            interactive=interactive,
        )  # fmt: skip
