"""SpinnerGroup on a real pty, replayed with pyte: several lines at once, final lines above, wide text,
"+N more", output above, resizes, Ctrl-C, pipes — in the thread and the asyncio backend."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from aiotulip.shared import terminal as term
from aiotulip.spin import region
from tests.terminal import HIDE, SHOW, python_cmd, run_on_pty, signal_once

BACKENDS = ["thread", "asyncio"]


def program(body: str, backend: str, *, interval: float = 0.05, rows_hint: str = "") -> list[str]:
    """A script running *body* inside a group of the given backend (``group`` in scope; ``pause(s)``)."""
    indented = textwrap.indent(textwrap.dedent(body), "        ")
    if backend == "thread":
        code = f"""
import os, sys, time, threading
from aiotulip.spin.group import SpinnerGroup
def pause(s): time.sleep(s)
def main():
    with SpinnerGroup(interval={interval}) as group:
{indented}
try:
    main()
except KeyboardInterrupt:
    sys.exit(130)
"""
    else:
        code = f"""
import asyncio, os, sys, time, threading
from aiotulip.spin.group import SpinnerGroup
async def main():
    async def pause(s): await asyncio.sleep(s)
    async with SpinnerGroup(interval={interval}) as group:
        assert threading.active_count() == 1  # no thread: one task draws the block
{indented.replace("pause(", "await pause(")}
try:
    asyncio.run(main())
except KeyboardInterrupt:
    sys.exit(130)
"""
    return python_cmd(code)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("columns", [20, 40, 80])
def test_lines_end_above_the_live_ones_and_leave_nothing_behind(backend: str, columns: int) -> None:
    body = """
    a, b, c = group.add("alpha"), group.add("数据库连接中"), group.add("gamma " * 30)
    pause(0.3)
    group.write("output above")
    a.ok("alpha done")
    pause(0.2)
    b.fail("数据库坏了")
    pause(0.2)
    """
    run = run_on_pty(program(body, backend), columns=columns)
    assert run.returncode == 0, run.text()
    screen = [line for line in run.screen() if line]
    assert screen == ["output above", "✔ alpha done", "✖ 数据库坏了"]  # c stopped: erased, no line
    assert run.output.count(HIDE) == 1 and run.output.rstrip().endswith(SHOW)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("columns", [20, 40, 80])
def test_the_live_block_has_one_fitted_line_per_spinner(backend: str, columns: int) -> None:
    # os._exit freezes the screen as the block last drew it.
    body = """
    for text in ("one", "二二二二二二二二二二二二二二二二二二二二二二二二", "three " * 30):
        group.add(text)
    pause(0.3)
    group.write("above")
    pause(0.2)
    sys.stderr.flush(); os._exit(0)
    """
    screen = run_on_pty(program(body, backend), columns=columns).screen()
    lines = [line for line in screen if line]
    assert lines[0] == "above" and len(lines) == 4, screen
    assert lines[1][2:] == "one" and lines[1][0] in "|/-\\"
    for line in lines[1:]:
        assert term.cell_width(line) <= columns - 1  # never the last column, never wrapped
    assert lines[2][2:].startswith("二二") and lines[3][2:].startswith("three three")


@pytest.mark.parametrize("backend", BACKENDS)
def test_more_spinners_than_rows_fold_into_more(backend: str) -> None:
    body = """
    for i in range(10):
        group.add(f"task {i}")
    pause(0.3)
    sys.stderr.flush(); os._exit(0)
    """
    screen = run_on_pty(program(body, backend), columns=40, rows=6).screen()
    lines = [line[2:] if line[:1] in "|/-\\" else line for line in screen if line]
    assert lines == ["task 0", "task 1", "task 2", "task 3", "+6 more"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_fails_each_live_line_once_and_restores_the_cursor(backend: str) -> None:
    body = """
    group.add("db"); group.add("cache")
    group.write("READY")
    pause(30)
    """
    run = run_on_pty(program(body, backend), on_output=signal_once(b"READY", signal.SIGINT))
    assert run.returncode == 130, run.text()
    lines = [line for line in run.screen() if line]
    assert lines[0] == "READY"
    assert sorted(lines[1:]) == ["✖ cache (interrupted)", "✖ db (interrupted)"] or sorted(lines[1:]) == [
        "✖ cache (cancelled)",
        "✖ db (cancelled)",
    ]
    assert run.output.rstrip().endswith(SHOW)


def test_resize_redraws_at_the_new_width_with_no_wrapped_leftovers() -> None:
    # asyncio: SIGWINCH redraws at once; frames are 2 s apart, so the redraw after "RESIZE" is that.
    body = """
    group.add("long text " * 12); group.add("宽字符" * 20)
    group.write("RESIZE")
    pause(1.0)
    sys.stderr.flush(); os._exit(0)
    """
    resized = []

    def on_output(output: bytes, proc: subprocess.Popen[bytes]) -> tuple[int, int] | None:
        # Once the block drawn after RESIZE is all here (both lines cut with "…"), not half-way.
        if b"RESIZE" in output and output.split(b"RESIZE")[1].count("…".encode()) == 2 and not resized:
            resized.append(True)
            return (24, 30)
        return None

    run = run_on_pty(program(body, "asyncio", interval=2.0), columns=80, on_output=on_output)
    assert run.resizes and run.resizes[0][2] == 30
    lines = [line for line in run.screen() if line]
    assert len(lines) == 3 and lines[0] == "RESIZE", lines
    for line in lines[1:]:
        assert term.cell_width(line) <= 29
    assert lines[1][2:].startswith("long text") and lines[2][2:].startswith("宽字符")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_pipe_gets_each_text_once_and_each_final_line_without_control_bytes(backend: str) -> None:
    body = """
    a = group.add("alpha"); b = group.add("beta")
    pause(0.2)
    a.ok(); b.fail("beta broke")
    with group.add("gamma"):
        pass
    """
    done = subprocess.run(program(body, backend), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["alpha", "beta", "✔ alpha", "✖ beta broke", "gamma", "✔ gamma"]
    assert "\x1b" not in done.stderr and "\r" not in done.stderr


def test_region_arithmetic() -> None:
    assert region.erase(0) == "" and region.erase(1) == "\r\x1b[J" and region.erase(3) == "\r\x1b[2A\x1b[J"
    assert region.redraw(["a", "b"], 0) == "\ra\nb"
    assert region.redraw(["a"], 2) == "\r\x1b[1A\x1b[Ja"
    assert region.fold(["a", "b", "c"], 4, 80) == ["a", "b", "c"]
    assert region.fold(["a", "b", "c", "d"], 4, 80) == ["a", "b", "+2 more"]
    assert region.fold(["a", "b"], 1, 80) == ["+2 more"]


def test_python_versions_and_bad_options() -> None:
    from aiotulip.spin.group import SpinnerGroup

    assert sys.version_info >= (3, 11)
    with pytest.raises(ValueError):
        SpinnerGroup(interval=0)
    with pytest.raises(ValueError):
        SpinnerGroup(frames=[])


@pytest.mark.parametrize("backend", BACKENDS)
def test_print_and_a_spinner_inside_the_group_go_above_the_block(backend: str) -> None:
    body = """
    group.add("one"); group.add("two"); group.add("three")
    pause(0.2)
    print("printed to stdout")
    print("printed to stderr", file=sys.stderr)
    from aiotulip import Spinner
    with Spinner("inner") as inner:
        pause(0.2)
        inner.ok("inner done")
    pause(0.2)
    print("no newline at the end", end="")
    """
    run = run_on_pty(program(body, backend), columns=60)
    assert run.returncode == 0, run.text()
    lines = [line for line in run.screen() if line]
    assert lines == [
        "printed to stdout",
        "printed to stderr",
        "inner",
        "✔ inner done",
        "no newline at the end",
    ]
