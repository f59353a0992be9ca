"""Spinner: on a real pty, through a pipe, in threads and on the event loop."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from aiotulip import Spinner, SpinnerGroup
from aiotulip.shared.terminal import cell_width, fit
from tests.terminal import HIDE, SHOW, python_cmd, run_on_pty, signal_once

CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")  # anything but "\n"


def spin_script(body: str) -> list[str]:
    return python_cmd("import time\nfrom aiotulip import Spinner\n" + textwrap.dedent(body))


# -- on a terminal ------------------------------------------------------------------------------


def test_frames_animate_in_place_and_line_is_erased() -> None:
    run = run_on_pty(
        spin_script("""
            with Spinner("thinking!", interval=0.05):
                time.sleep(0.6)
            print("after")
        """)
    )
    assert run.returncode == 0, run.text()
    # Each frame replaces the line in place: back to its start, erase, the new frame.
    frames = set(re.findall(rb"\r(?:\x1b\[J)?(?:\x1b\[36m)?([|/\\-])", run.output))
    assert frames == {b"|", b"/", b"-", b"\\"}
    assert run.output.startswith(HIDE)
    # The last thing before the program's own output is: erase the line, show the cursor.
    assert run.output.index(b"\r\x1b[J" + SHOW) < run.output.index(b"after")
    assert run.screen()[:2] == ["after", ""]


def test_ok_leaves_one_final_line_and_restores_cursor() -> None:
    run = run_on_pty(
        spin_script("""
            with Spinner("working", interval=0.05) as sp:
                time.sleep(0.2)
                sp.ok("all done")
        """)
    )
    assert run.returncode == 0
    assert run.screen()[:2] == ["✔ all done", ""]
    assert run.output.rindex(SHOW) > run.output.rindex(HIDE)


def test_exception_ends_with_fail_line_and_reraises() -> None:
    run = run_on_pty(
        spin_script("""
            try:
                with Spinner("parsing", interval=0.05):
                    time.sleep(0.1)
                    raise ValueError("boom")
            except ValueError:
                print("caught")
        """)
    )
    assert run.returncode == 0
    assert run.screen()[:2] == ["✖ parsing", "caught"]
    assert run.output.rindex(SHOW) > run.output.rindex(HIDE)


def test_cursor_is_restored_after_sigint_mid_spin() -> None:
    run = run_on_pty(
        spin_script("""
            with Spinner("waiting", interval=0.05):
                time.sleep(30)
        """),
        on_output=signal_once(b"/\x1b[0m waiting"),  # the second frame: well inside the block
    )
    assert run.returncode != 0  # KeyboardInterrupt propagated
    assert run.output.rindex(SHOW) > run.output.rindex(HIDE)
    assert "✖ waiting (interrupted)" in run.screen()


def test_cursor_is_restored_at_interpreter_exit_when_never_stopped() -> None:
    run = run_on_pty(
        spin_script("""
            Spinner("forgotten", interval=0.05).start()
            time.sleep(0.2)
        """)
    )
    assert run.returncode == 0
    assert run.output.rindex(SHOW) > run.output.rindex(HIDE)


@pytest.mark.parametrize(
    "text",
    ["思考中" * 10, "a" * 100, "混合 mixed テキスト " * 5, "tab\tand\nnewline " * 8],
    ids=["cjk", "ascii", "mixed", "controls"],
)
def test_long_and_wide_text_never_wraps(text: str) -> None:
    run = run_on_pty(
        spin_script(f"""
            with Spinner({text!r}, interval=0.05, timer=True):
                time.sleep(0.3)
            print("END")
        """),
        columns=30,
    )
    assert run.returncode == 0
    # Every frame fits in 29 cells, so it never reaches the last column and never wraps ...
    for frame in re.findall(rb"\r\x1b\[K((?:[^\r\x1b]|\x1b\[[0-9;]*m)+)", run.output):
        visible = re.sub(r"\x1b\[[0-9;]*m", "", frame.decode())
        assert cell_width(visible) <= 29, visible
    # ... and the screen holds nothing but what the program printed afterwards.
    assert run.screen()[:2] == ["END", ""]


def test_dumb_terminal_gets_no_control_bytes() -> None:
    run = run_on_pty(
        spin_script("""
            with Spinner("plain", interval=0.05) as sp:
                time.sleep(0.3)
                sp.ok("fine")
        """),
        env={"TERM": "dumb"},
    )
    assert run.returncode == 0
    assert run.output.replace(b"\r\n", b"\n") == "plain\n✔ fine\n".encode()


def test_no_color_keeps_animation_but_drops_colour() -> None:
    script = spin_script("""
        with Spinner("hue", interval=0.05) as sp:
            time.sleep(0.2)
            sp.ok()
    """)
    coloured = run_on_pty(script)
    plain = run_on_pty(script, env={"NO_COLOR": "1"})
    assert b"\x1b[32m" in coloured.output
    assert b"\x1b[3" not in plain.output
    assert HIDE in plain.output and SHOW in plain.output


def test_ascii_fallback_when_terminal_cannot_encode_marks() -> None:
    run = run_on_pty(
        spin_script("""
            with Spinner("old", frames="dots", interval=0.05) as sp:
                time.sleep(0.2)
                sp.fail("broken")
        """),
        env={"PYTHONIOENCODING": "ascii"},
    )
    assert run.returncode == 0
    assert run.screen()[0] == "FAIL broken"
    assert max(run.output) < 0x80


# -- not a terminal -------------------------------------------------------------------------------


def test_pipe_gets_text_and_final_line_without_control_bytes() -> None:
    proc = subprocess.run(
        spin_script("""
            with Spinner("thinking!", interval=0.02, timer=True) as sp:
                time.sleep(0.3)
                sp.write("a line from the work")
                sp.text = "still thinking"
                time.sleep(0.1)
                sp.ok("answer 42")
        """),
        capture_output=True,
        timeout=30,
        env={"PYTHONIOENCODING": "utf-8", "PATH": ""},
    )
    assert proc.returncode == 0
    err = proc.stderr.decode()
    assert err.splitlines()[0] == "thinking!"
    assert err.splitlines()[1] == "a line from the work"
    assert re.fullmatch(r"✔ answer 42 \(0\.\ds\)", err.splitlines()[2])
    assert len(err.splitlines()) == 3
    assert CONTROL.search(proc.stderr) is None
    assert proc.stdout == b""  # stdout stays clean for pipes


def test_disabled_spinner_prints_nothing() -> None:
    out = io.StringIO()
    with Spinner("quiet", stream=out, disable=True) as sp:
        sp.ok("done")
    assert out.getvalue() == ""


# -- the thread backend ------------------------------------------------------------------------------


def test_thread_backend_runs_one_thread_and_stops_it() -> None:
    out = io.StringIO()
    before = threading.active_count()
    with Spinner("t", stream=out, interactive=True, interval=0.01):
        time.sleep(0.05)
        assert [t.name for t in threading.enumerate()].count("tulip-spinner") == 1
    assert threading.active_count() == before


def test_text_changes_from_another_thread_are_drawn() -> None:
    out = io.StringIO()
    with Spinner("first", stream=out, interactive=True, interval=0.01) as sp:
        worker = threading.Thread(target=lambda: setattr(sp, "text", "second"))
        worker.start()
        worker.join()
        time.sleep(0.1)
    drawn = out.getvalue()
    assert "| first" in drawn or "/ first" in drawn
    assert re.search(r"[|/\\-] second", drawn)


def test_write_prints_above_and_redraws() -> None:
    out = io.StringIO()
    with Spinner("busy", stream=out, interactive=True, interval=10) as sp:
        sp.write("hello")
    assert "\r\x1b[Jhello\n\r| busy" in out.getvalue()


def test_decorator_on_plain_function() -> None:
    out = io.StringIO()

    @Spinner("computing", stream=out)
    def compute(x: int) -> int:
        return x * 2

    assert compute(21) == 42
    assert compute(1) == 2
    assert out.getvalue() == "computing\ncomputing\n"


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        Spinner(interval=0)
    with pytest.raises(ValueError):
        Spinner(frames=[])


# -- the asyncio backend -------------------------------------------------------------------------------


def test_asyncio_backend_starts_no_thread_and_stops_within_an_interval() -> None:
    async def main() -> tuple[int, float, bool]:
        async with Spinner("async", stream=io.StringIO(), interactive=True, interval=0.5) as sp:
            threads = threading.active_count()
            await asyncio.sleep(0.05)
            task = sp._clock.task
            started = time.monotonic()
        assert task is not None
        return threads, time.monotonic() - started, task.done()

    before = threading.active_count()
    threads, stop_time, done = asyncio.run(main())
    assert threads == before
    assert done
    assert stop_time < 0.5


def test_asyncio_backend_reports_blocked_loop_as_lag() -> None:
    async def main(block: bool) -> float:
        async with Spinner("lag", stream=io.StringIO(), interval=0.02) as sp:
            await asyncio.sleep(0.05)
            if block:
                time.sleep(0.3)  # noqa: ASYNC251 - blocks the loop on purpose
            await asyncio.sleep(0.1)
        return sp.max_lag

    assert asyncio.run(main(block=True)) >= 0.25
    assert asyncio.run(main(block=False)) < 0.1


def test_asyncio_decorator_and_cancellation_propagate() -> None:
    out = io.StringIO()

    @Spinner("fetching", stream=out)
    async def fetch() -> str:
        await asyncio.sleep(0.01)
        return "body"

    async def cancelled() -> None:
        async with Spinner("doomed", stream=out):
            await asyncio.sleep(10)

    async def main() -> str:
        task = asyncio.create_task(cancelled())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await fetch()

    assert asyncio.run(main()) == "body"
    assert out.getvalue() == "doomed\n✖ doomed (cancelled)\nfetching\n"


@pytest.mark.parametrize(("code", "final"), [(0, ""), (None, ""), (3, "✖ leaving\n"), ("bye", "✖ leaving\n")])
def test_sys_exit_inside_ends_as_its_code_says(code: object, final: str) -> None:
    """sys.exit() or sys.exit(0) inside a spinner is success: it ended with a ✖ line."""
    out = io.StringIO()
    with pytest.raises(SystemExit), Spinner("leaving", stream=out):
        sys.exit(code)  # type: ignore[arg-type]
    group = io.StringIO()
    with pytest.raises(SystemExit), SpinnerGroup(stream=group) as spinners:
        spinners.add("leaving")
        sys.exit(code)  # type: ignore[arg-type]
    assert out.getvalue() == "leaving\n" + final
    assert group.getvalue() == "leaving\n" + final.replace("leaving", "leaving (SystemExit)")


# -- pure helpers -----------------------------------------------------------------------------------


def test_fit_counts_wide_characters_as_two_cells() -> None:
    assert cell_width("思考") == 4
    assert fit("思考中思考", 7) == "思考中…"
    assert cell_width(fit("思考中思考", 6)) <= 6
    assert fit("short", 10) == "short"


def test_python_is_supported() -> None:
    assert sys.version_info >= (3, 11)


def test_asyncio_backend_can_be_finished_from_another_thread() -> None:
    out = io.StringIO()

    async def main() -> None:
        async with Spinner("crossing", stream=out, interactive=True, interval=0.01) as sp:
            await asyncio.to_thread(sp.ok, "done from a worker thread")
            await asyncio.sleep(0.05)
            assert sp._clock.task is None

    asyncio.run(main())
    assert out.getvalue().endswith("✔ done from a worker thread\n\x1b[?25h")


def test_frame_line_is_a_function_of_elapsed_time() -> None:
    from aiotulip.spin.frames import final_line, frame_line

    frames = "abcd"
    assert [frame_line(frames, 0.1, "go", t, width=80) for t in (0.0, 0.05, 0.1, 0.25, 0.4)] == [
        "a go", "a go", "b go", "c go", "a go",
    ]  # fmt: skip
    assert frame_line(frames, 0.1, "x" * 50, 0, width=12) == "a xxxxxxxx…"  # width - 1 cells
    assert frame_line(frames, 0.1, "中文中文中文", 0, width=8) == "a 中文…"  # wide characters count two
    assert frame_line(frames, 0.1, "a\nb\x1b[31m", 0, width=80) == "a a b [31m"  # no control byte survives
    assert frame_line(frames, 0.1, "", 65.0, width=80, timer=True) == "c 1m05s"
    assert frame_line(frames, 0.1, "go", 0, width=80, color=True) == "\x1b[36ma\x1b[0m go"
    assert final_line("✔", "done", elapsed=1.25) == "✔ done (1.2s)\n"
    assert final_line("OK", "") == "OK\n"


def test_print_while_spinning_goes_above_the_frame() -> None:
    code = """
import sys, time
from aiotulip import Spinner, SpinnerGroup
with Spinner("working") as sp:
    time.sleep(0.2)
    print("from print")
    print("to stderr", file=sys.stderr)
    time.sleep(0.2)
    sp.ok("done")
print("after")
"""
    run = run_on_pty(python_cmd(code), columns=60)
    assert run.returncode == 0, run.text()
    assert [line for line in run.screen() if line] == ["from print", "to stderr", "✔ done", "after"]
