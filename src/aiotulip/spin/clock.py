"""The frame clock a Spinner and a SpinnerGroup share: a daemon thread stopped by an Event, or an asyncio
task stopped by cancel — the two supervisors of *Fluent Python*'s chapter — calling ``frame()`` every
interval and noting how late each call came (``max_lag``: in asyncio, the event loop's lag).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiotulip.shared.lag import Cadence
from aiotulip.shared.signals import left_to_main

__all__ = ["Clock", "Supervised", "in_loop"]


class Clock:
    """Call *frame* every *interval* seconds from a thread (``start_thread``) or a task (``start_task``)."""

    def __init__(self, interval: float, frame: Callable[[], None], name: str) -> None:
        self.interval = interval
        self._frame = frame
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.cadence = Cadence(time.monotonic(), interval)

    @property
    def max_lag(self) -> float:
        return self.cadence.max_lag

    @property
    def running(self) -> bool:
        return self._thread is not None or self.task is not None

    def reset(self) -> None:
        """Start counting from now (a new run of the same spinner)."""
        self.cadence = Cadence(time.monotonic(), self.interval)

    def start_thread(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_thread, name=self._name, daemon=True)
        self._thread.start()

    def _run_thread(self) -> None:
        left_to_main()
        cadence = self.cadence
        # Event.wait is the stop signal and the frame clock at once: no flag to poll.
        while not self._stop.wait(max(0.0, cadence.due - time.monotonic())):
            cadence.tick(time.monotonic())
            self._frame()

    def start_task(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.task = self._loop.create_task(self._run_task(), name=self._name)

    async def _run_task(self) -> None:
        loop = asyncio.get_running_loop()
        # The loop's clock, not time.monotonic: a late frame here is the loop's lag.
        cadence = self.cadence = Cadence(loop.time(), self.interval)
        while True:
            await asyncio.sleep(max(0.0, cadence.due - loop.time()))
            cadence.tick(loop.time())
            self._frame()

    def wake(self) -> None:
        """Make the thread's next frame due now (safe in a signal handler: no lock taken)."""
        self.cadence.due = time.monotonic()

    def halt(self) -> None:
        """Stop the thread's waits and cancel the task (from any thread); ``join`` then waits for the
        thread — apart, so that a caller holding a lock the frame takes can let go first."""
        self._stop.set()
        task, loop, self.task, self._loop = self.task, self._loop, None, None
        if task is not None and loop is not None:
            if in_loop(loop):
                task.cancel()
            else:  # ok()/fail() from another thread: the task belongs to its loop's thread
                loop.call_soon_threadsafe(task.cancel)

    def join(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()


def in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Supervised:
    """``with`` (a thread) and ``async with`` (a task) around a Clock: what Spinner and SpinnerGroup
    share. A subclass says how it begins and ends, and whether a backend needs the clock at all."""

    _clock: Clock

    def _begin(self) -> bool:
        """Mark it running and show its first state; False if it was running already."""
        raise NotImplementedError

    def _end(self, exc: BaseException | None) -> None:
        """End it (after *exc*, if one ended the block) and give the terminal back."""
        raise NotImplementedError

    def _ticks(self, backend: str) -> bool:
        """Whether the *backend* ("thread" or "task") needs the clock once begun."""
        return True

    def _before_clock(self, backend: str) -> None:
        """Called just before the clock starts (a subclass watches SIGWINCH here)."""

    def start(self) -> Self:
        """Start in a background thread (what ``with`` does)."""
        try:
            if self._begin() and self._ticks("thread"):
                self._before_clock("thread")
                self._clock.start_thread()
        except BaseException as exc:  # Ctrl-C before __enter__ returned: __exit__ will not run
            self._end(exc)
            raise
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._end(exc)

    async def __aenter__(self) -> Self:
        try:
            if self._begin() and self._ticks("task"):
                self._before_clock("task")
                self._clock.start_task()
        except BaseException as exc:  # as in start(): __aexit__ will not run
            self._end(exc)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task = self._clock.task
        self._end(exc)
        if task is not None:
            # Waiting (rather than awaiting the task) lets our own cancellation propagate while
            # the clock's CancelledError stays inside its task.
            await asyncio.wait([task])
