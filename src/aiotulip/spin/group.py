"""SpinnerGroup: several spinners at once, one line each, redrawn together.

::

    async with SpinnerGroup() as group:          # or: with SpinnerGroup() as group (a thread)
        db, cache = group.add("db"), group.add("cache")
        await connect_db(); db.ok("db ready")    # its ✔ line stays above the live ones
        with group.add("warm cache"):            # ✔ when the block ends, ✖ if it raises
            await warm()

One clock draws the whole block, one write per frame (no per-spinner thread, no flicker): the driver
is ``live.Live``, the one a Spinner (a group of one) uses too. Lines never wrap (each is fitted to
the width, wide characters counted as two cells); more spinners than the terminal has rows fold into
"+N more"; ``group.write()`` prints above the block. On SIGWINCH the block is drawn at once at the new
size (asyncio; the thread backend on its next frame). In a pipe there is no animation and not one
control byte: each text once when added, each final line when it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self, TextIO

from aiotulip.shared import terminal as term
from aiotulip.spin import region
from aiotulip.spin.frames import FAIL_MARK, GREEN, OK_MARK, RED, final_line, frame_line
from aiotulip.spin.live import Live

__all__ = ["GroupSpinner", "SpinnerGroup", "Spinners", "succeeded"]


class GroupSpinner:
    """One line of a SpinnerGroup: ``text`` can change from any thread; ``ok``/``fail``/``stop`` end it.

    As a context manager it ends with ✔ (its text) when the block succeeds, ✖ when it raises.
    """

    def __init__(self, group: Spinners, text: str) -> None:
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


class Spinners(Live):
    """Spinner lines on the one display driver: what a SpinnerGroup and a Spinner (a group of one)
    draw, and how a line ends."""

    def __init__(
        self,
        *,
        frames: str | Sequence[str] = "line",
        interval: float = 0.1,
        stream: TextIO | None = None,
        timer: bool = False,
        disable: bool = False,
        interactive: bool | None = None,
        name: str = "tulip-spinners",
    ) -> None:
        super().__init__(
            frames=frames, interval=interval, stream=stream, timer=timer, disable=disable,
            interactive=interactive, name=name,
        )  # fmt: skip
        self._live: list[GroupSpinner] = []

    def _add(self, text: str) -> GroupSpinner:
        member = GroupSpinner(self, text)
        with self._drawing():
            self._live.append(member)
            self._plain(text)
        return member

    # -- what the driver draws (pure, from the time) ----------------------------------------------

    def _lines(self, now: float, width: int, rows: int, ellipsis: str) -> list[str]:
        # Folded before drawn: a frame costs the rows on screen, not the spinners in the group.
        return [
            member if isinstance(member, str) else
            frame_line(self._frames, self.interval, member.text, now - member.started, width=width,
                       timer=self.timer, color=self._color, ellipsis=ellipsis)
            for member in region.fold(self._live, rows, width, ellipsis)
        ]  # fmt: skip

    def _plain_start(self) -> list[str]:
        return [member.text for member in self._live if member.text]

    def _end_member(
        self, member: GroupSpinner, symbols: tuple[str, str] | None, color: str, text: str | None
    ) -> None:
        with self._drawing():
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
            self._above(final)

    def _end_content(self, exc: BaseException | None) -> None:
        """Live spinners are erased (or fail, if *exc*)."""
        with self._lock:
            live = list(self._live)
        for member in live:
            if exc is None or succeeded(exc):
                member.stop()
            else:
                member.fail(f"{member.text} ({_reason(exc)})" if member.text else _reason(exc))


class SpinnerGroup(Spinners):
    """Spinners sharing one block of lines and one clock, for threads (``with``) and asyncio."""

    @property
    def spinners(self) -> list[GroupSpinner]:
        """The spinners still running, in the order they were added."""
        with self._lock:
            return list(self._live)

    def add(self, text: str = "") -> GroupSpinner:
        """Add a spinner with *text*; it shows at once."""
        return self._add(text)


def succeeded(exc: BaseException) -> bool:
    """Whether *exc* ends a block as success: ``sys.exit()`` or ``sys.exit(0)`` inside it."""
    return isinstance(exc, SystemExit) and exc.code in (0, None)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return type(exc).__name__
