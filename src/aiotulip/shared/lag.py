"""How late a clock's ticks come: the measure of a blocked event loop (or a starved thread).

``Cadence`` is the arithmetic, shared by the Spinner's two backends and the probe: ticks are due at a
fixed interval; each tick notes how late it came, and ticks missed while blocked are skipped rather
than fired in a burst. ``LagProbe`` runs a Cadence as a task on the running loop: a coroutine that
blocks the loop shows up as its ``max_lag``.
"""

from __future__ import annotations

import asyncio
from typing import Self

__all__ = ["Cadence", "LagProbe", "continued"]

# How many times this process was stopped and continued (Ctrl-Z, then fg or bg): a tick that waited
# across a stop came late because nobody ran, not because anything blocked.
_continued = 0


def continued() -> None:
    """Say that the process was stopped and has just been continued."""
    global _continued
    _continued += 1


class Cadence:
    """Ticks due every *interval* seconds from *start*; ``max_lag`` is the latest one came."""

    __slots__ = ("_seen", "due", "interval", "max_lag")

    def __init__(self, start: float, interval: float) -> None:
        self.interval = interval
        self.due = start + interval
        self.max_lag = 0.0
        self._seen = _continued

    def tick(self, now: float) -> float:
        """Record a tick at *now*; return when the next is due."""
        lag = now - self.due
        if self._seen != _continued:  # (stopped meanwhile: the time stopped is no lag)
            self._seen, lag = _continued, 0.0
        if lag > self.max_lag:
            self.max_lag = lag
        due = self.due + self.interval
        self.due = due if due > now else now + self.interval  # skip ticks missed while blocked
        return self.due


class LagProbe:
    """``async with LagProbe() as probe:`` measures the running loop's worst lag meanwhile."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self._cadence: Cadence | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def max_lag(self) -> float:
        return self._cadence.max_lag if self._cadence is not None else 0.0

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._cadence = Cadence(loop.time(), self.interval)
        self._task = loop.create_task(self._run(loop, self._cadence), name="tulip-lag-probe")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            # wait(), not await: the probe's CancelledError stays in the probe, ours propagates.
            await asyncio.wait([self._task])
            self._task = None

    @staticmethod
    async def _run(loop: asyncio.AbstractEventLoop, cadence: Cadence) -> None:
        while True:
            await asyncio.sleep(max(0.0, cadence.due - loop.time()))
            cadence.tick(loop.time())
