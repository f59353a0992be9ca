"""Spinner and SpinnerGroup share one display driver (``live.Live``): what one does, the other does.

Each test here runs against both classes; the first two are the drifts the twin drivers had before
they became one.
"""

from __future__ import annotations

import io
import signal
import sys
import threading
import time

import pyte
import pytest

from aiotulip import Spinner, SpinnerGroup


class Ascii(io.StringIO):
    """A stream that can only hold ASCII (a C locale's terminal)."""

    encoding = "ascii"


def _make(kind: str, **options: object) -> Spinner | SpinnerGroup:
    if kind == "spinner":
        return Spinner("busy", **options)  # type: ignore[arg-type]
    return SpinnerGroup(**options)  # type: ignore[arg-type]


def _run(display: Spinner | SpinnerGroup, seconds: float = 0.05) -> None:
    with display:
        if isinstance(display, SpinnerGroup) and not isinstance(display, Spinner):
            display.add("busy")
        time.sleep(seconds)


@pytest.mark.parametrize("kind", ["spinner", "group"])
def test_frames_the_stream_cannot_show_fall_back_to_ascii(kind: str) -> None:
    out = Ascii()
    _run(_make(kind, frames="dots", stream=out, interactive=True, interval=0.01))
    drawn = out.getvalue()
    assert "busy" in drawn and any(f"{frame} busy" in drawn for frame in "|/-\\"), drawn
    drawn.encode("ascii")  # not one character the stream cannot hold


@pytest.mark.parametrize("kind", ["spinner", "group"])
def test_write_without_any_stderr_is_no_crash(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, a daemon with its streams closed
    display = _make(kind, interval=0.01)
    with display:
        display.write("a line with nowhere to go")
    display.write("and one after")


@pytest.mark.parametrize("kind", ["spinner", "group"])
def test_in_a_pipe_the_text_once_and_no_control_byte(kind: str) -> None:
    out = io.StringIO()
    display = _make(kind, stream=out, interval=0.01)
    with display:
        if not isinstance(display, Spinner):
            member = display.add("busy")
        time.sleep(0.05)
        display.write("above")
        (display if isinstance(display, Spinner) else member).ok("done")
    assert out.getvalue() == "busy\nabove\n✔ done\n"


@pytest.mark.parametrize("kind", ["spinner", "group"])
def test_the_task_backend_measures_the_loop_lag_in_a_pipe_too(kind: str) -> None:
    import asyncio

    async def main() -> float:
        display = _make(kind, stream=io.StringIO(), interval=0.01)
        async with display:
            await asyncio.sleep(0.03)
            time.sleep(0.1)  # noqa: ASYNC251  (blocks the loop on purpose: the next frame comes late)
            await asyncio.sleep(0.03)
        return display.max_lag

    assert asyncio.run(main()) >= 0.05


class CtrlCAfter(io.StringIO):
    """A terminal where Ctrl-C comes the moment *text* has been drawn: before the next write lands
    (on a real terminal, while the block is being drawn again below it)."""

    def __init__(self, text: str, times: int = 1, at_once: bool = False) -> None:
        super().__init__()
        self.text = text
        self.times = times  # Ctrl-Cs that come together
        self.at_once = at_once  # as *text* itself is written, not the write after it
        self.armed = False

    def isatty(self) -> bool:
        return True

    def write(self, data: str) -> int:
        if self.at_once and self.text in data:
            self.armed, self.text = True, "\0"  # (once)
        elif self.text in data:
            self.text = "\0"
            written = super().write(data)
            self.armed = True
            return written
        if self.armed:
            self.armed = False
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)  # (Python's handler runs as this call returns)
        return super().write(data)


def test_ctrl_c_while_the_block_is_drawn_again_leaves_the_lines_above_it() -> None:
    # The driver noted the block's height, then a Ctrl-C came before the block reached the screen:
    # the final erase went up over lines that were not the block's and wiped the READY above it.
    # (A group only: a block of one line is erased without moving up, so a Spinner never showed it.)
    out = CtrlCAfter("READY")
    group = SpinnerGroup(stream=out, interactive=True, interval=60.0)
    with pytest.raises(KeyboardInterrupt), group:
        group.add("busy")
        group.add("idle")
        group.write("READY")
        time.sleep(5)  # (not reached: the Ctrl-C ends the block first)
    screen = pyte.Screen(80, 10)
    pyte.Stream(screen).feed(out.getvalue())
    lines = [line.rstrip() for line in screen.display if line.strip()]
    assert lines == ["READY", "✖ busy (interrupted)", "✖ idle (interrupted)"], lines


def test_two_ctrl_cs_during_one_drawing_both_reach_the_program() -> None:
    # Held back while the block was drawn, only the first was handed on: a program that counts
    # them (or asyncio.run, whose second one forces a KeyboardInterrupt) lost the second.
    calls: list[int] = []

    def handler(signum: int, frame: object) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        out = CtrlCAfter("READY", times=2)
        with SpinnerGroup(stream=out, interactive=True, interval=60.0) as group:
            group.add("busy")
            group.write("READY")
            assert calls == [signal.SIGINT, signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is handler  # (the program's own, as it was)
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("kind", ["spinner", "group"])
def test_a_second_ctrl_c_while_the_final_lines_are_drawn_still_gives_the_terminal_back(kind: str) -> None:
    # The first Ctrl-C ends the block; a second one lands as its final line is written. The display
    # used to stay running, its clock thread alive and (a Spinner's) cursor hidden for good.
    from aiotulip.shared import terminal as term

    out = CtrlCAfter("✖", at_once=True)
    display = _make(kind, stream=out, interactive=True, interval=60.0)
    with pytest.raises(KeyboardInterrupt), display:  # (the second comes from the display's exit)
        if not isinstance(display, Spinner):
            display.add("busy")
            display.add("idle")
        raise KeyboardInterrupt  # the first
    assert not display._running and not display._clock.running
    assert out.getvalue().endswith(term.SHOW_CURSOR)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("tulip-spin")]


@pytest.mark.parametrize("kind", ["spinner", "group"])
def test_a_ctrl_c_as_async_with_draws_the_first_frame_gives_the_terminal_back(kind: str) -> None:
    # ``async with`` had no guard that ``with`` has: a Ctrl-C during the first drawing (a loop
    # without asyncio.run's handler, where it is a KeyboardInterrupt) left the display running.
    import asyncio

    from aiotulip.shared import terminal as term

    out = CtrlCAfter(term.HIDE_CURSOR, at_once=True)
    display = _make(kind, stream=out, interactive=True, interval=60.0)

    async def main() -> None:
        async with display:
            await asyncio.sleep(5)  # (not reached)

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(main())
    finally:
        loop.close()
    assert not display._running
    assert out.getvalue().endswith(term.SHOW_CURSOR)
