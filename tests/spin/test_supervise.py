"""tulip spin: exit statuses, signal forwarding, output above the spinner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.terminal import SHOW, children_of, python_cmd, run_on_pty, signal_once, state_of, tulip_cmd

# A child that counts the SIGINTs it receives within half a second of the first, and exits 10 + count.
COUNT_SIGINTS = """
import signal, sys, time
seen = []
signal.signal(signal.SIGINT, lambda *_: seen.append(1))
print("ready", flush=True)
while not seen:
    time.sleep(0.01)
time.sleep(0.5)
sys.exit(10 + len(seen))
"""


@pytest.mark.parametrize("status", [0, 3, 42])
def test_exit_status_passes_through(status: int) -> None:
    proc = subprocess.run(
        tulip_cmd("spin", "--", sys.executable, "-c", f"raise SystemExit({status})"),
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == status


def test_missing_command_is_127_with_one_line() -> None:
    proc = subprocess.run(tulip_cmd("spin", "--", "no-such-program-xyz"), capture_output=True, timeout=30)
    assert proc.returncode == 127
    assert proc.stderr.decode().splitlines() == ["tulip spin: error: command not found: no-such-program-xyz"]


@pytest.mark.parametrize(
    ("name", "said"),
    [("evil\x1b]0;pwned\x07\x1b[2Jcmd", "'evil\\x1b]0;pwned\\x07\\x1b[2Jcmd'"), ("", "''")],
)
def test_a_command_name_is_shown_escaped_and_an_empty_one_is_not_found(name: str, said: str) -> None:
    """An escape sequence in the name reached the terminal; an empty name was "permission denied", 126."""
    proc = subprocess.run(tulip_cmd("spin", "--", name), capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stderr) == (127, f"tulip spin: error: command not found: {said}\n")


def test_not_executable_is_126(tmp_path: os.PathLike[str]) -> None:
    script = os.path.join(tmp_path, "script.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    proc = subprocess.run(tulip_cmd("spin", "--", script), capture_output=True, timeout=30)
    assert proc.returncode == 126
    assert b"Traceback" not in proc.stderr


def test_no_command_is_usage_error() -> None:
    proc = subprocess.run(tulip_cmd("spin"), capture_output=True, timeout=30)
    assert proc.returncode == 2
    assert len(proc.stderr.decode().splitlines()) == 1


def test_sigint_is_forwarded_once_and_status_is_130() -> None:
    with subprocess.Popen(
        tulip_cmd("spin", "--", "sleep", "30"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stderr is not None
        assert proc.stderr.readline() == b"sleep 30\n"  # the spinner's text: the child is running
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == -signal.SIGINT
        assert "killed by SIGINT" in proc.stderr.read().decode()


def test_sigquit_is_forwarded_too() -> None:
    """Ctrl-\\ killed tulip alone (SIGQUIT's default), leaving the command running unsupervised."""
    with subprocess.Popen(
        tulip_cmd("spin", "--", "sleep", "30"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stderr is not None
        assert proc.stderr.readline() == b"sleep 30\n"
        time.sleep(0.1)
        proc.send_signal(signal.SIGQUIT)
        assert proc.wait(timeout=10) == 128 + signal.SIGQUIT
        assert "killed by SIGQUIT" in proc.stderr.read().decode()


def _when_stopped(marker: bytes, then: int) -> Callable[[bytes, subprocess.Popen[bytes]], None]:
    """Once *marker* is on the screen and tulip's command has stopped, send tulip *then*."""
    sent = False

    def callback(output: bytes, proc: subprocess.Popen[bytes]) -> None:
        nonlocal sent
        if sent or marker not in output:
            return
        sent = True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(state_of(pid) == "T" for pid in children_of(proc.pid)):
            time.sleep(0.02)
        assert any(state_of(pid) == "T" for pid in children_of(proc.pid)), "the command never stopped"
        os.kill(proc.pid, then)

    return callback


def test_ctrl_c_ends_a_command_stopped_for_reading_the_terminal() -> None:
    """A command in its own process group that reads /dev/tty (sudo, ssh, git asking a password) is
    stopped by SIGTTIN; the Ctrl-C tulip passed on stayed pending in it, and nothing could end the
    run. The SIGCONT that follows each forwarded signal lets it act on it."""
    run = run_on_pty(
        tulip_cmd("spin", "--", "sh", "-c", "echo asking; read x < /dev/tty"),
        controlling=True,
        on_output=_when_stopped(b"asking", signal.SIGINT),
        timeout=30,
    )
    assert run.returncode == -signal.SIGINT, run.text()
    assert run.output.rstrip().endswith(SHOW), run.text()


TICKS = """
import sys, time
for n in range(12):
    print("tick", n, flush=True)
    time.sleep(0.1)
"""


def test_ctrl_z_stops_the_command_with_tulip_and_fg_continues_both() -> None:
    """Ctrl-Z stopped tulip and left its command running (writing while "suspended"), the cursor
    hidden at the shell's prompt."""
    seen: dict[str, str] = {}

    def ctrl_z_then_fg(output: bytes, proc: subprocess.Popen[bytes]) -> None:
        if seen or b"tick 2" not in output:
            return
        (child,) = children_of(proc.pid)
        os.kill(proc.pid, signal.SIGTSTP)  # (the terminal's Ctrl-Z, to tulip's process group)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (state_of(proc.pid), state_of(child)) != ("T", "T"):
            time.sleep(0.02)
        seen.update(tulip=state_of(proc.pid), child=state_of(child))
        os.kill(proc.pid, signal.SIGCONT)  # fg

    run = run_on_pty(tulip_cmd("spin", "--", *python_cmd(TICKS)), on_output=ctrl_z_then_fg, timeout=60)
    assert seen == {"tulip": "T", "child": "T"}, seen
    assert run.returncode == 0, run.text()
    assert "tick 11" in run.text()
    stopped_at = run.output.index(b"tick 2")
    assert SHOW in run.output[stopped_at : -len(SHOW) - 4], (
        run.text()
    )  # shown while stopped, not only at the end


def test_a_reader_gone_ends_the_command_as_a_pipeline_would() -> None:
    """`tulip spin -- yes | head -1`: tulip read on for nobody, and yes ran for ever."""
    with subprocess.Popen(
        tulip_cmd("spin", "--", "yes"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            assert proc.stdout.readline() == b"y\n"
            proc.stdout.close()
            assert proc.wait(timeout=20) == 128 + signal.SIGPIPE
        finally:
            if proc.poll() is None:  # (the test fails rather than hangs, and leaves no yes running)
                for child in children_of(proc.pid):
                    os.kill(child, signal.SIGKILL)
                proc.kill()
                proc.wait(timeout=10)
        assert "yes (killed by SIGPIPE)" in proc.stderr.read().decode()


def test_sigint_on_terminal_reaches_child_exactly_once() -> None:
    run = run_on_pty(tulip_cmd("spin", "--", *python_cmd(COUNT_SIGINTS)), on_output=signal_once(b"ready"))
    assert run.returncode == 11, run.text()


def test_output_shows_above_spinner_on_terminal() -> None:
    run = run_on_pty(
        tulip_cmd(
            "spin", "--text", "building", "--timer", "--", "sh", "-c", "echo one; sleep 0.3; echo two >&2"
        ),
        columns=60,
    )
    assert run.returncode == 0, run.text()
    screen = run.screen()
    assert screen[0] == "one"
    assert screen[1] == "two"
    assert screen[2].startswith("✔ building (0.")
    assert screen[3] == ""


def test_output_above_the_spinner_looks_as_without_it() -> None:
    """Tabs became one space, colours literal "[31m" text, and a progress line's "50%\\r100%" both at
    once; an escape that clears the screen is still dropped."""
    script = r'printf "a\tb\tc\n\033[31mred\033[0m\n50%%\r100%%\n\033[2Jgone?\n"; sleep 0.2'
    run = run_on_pty(tulip_cmd("spin", "--", "sh", "-c", script), columns=60)
    assert run.returncode == 0, run.text()
    assert run.screen()[:4] == ["a       b       c", "red", "100%", "gone?"]
    assert b"\x1b[31mred" in run.output and b"\x1b[2J" not in run.output


def test_output_passes_through_a_pipe_byte_for_byte() -> None:
    payload = bytes(range(256)) * 4
    proc = subprocess.run(
        tulip_cmd(
            "spin", "--", sys.executable, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"
        ),
        input=payload,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0
    assert proc.stdout == payload


# -- several commands under one group -------------------------------------------------------------------


def test_several_commands_one_line_each_exit_with_the_worst() -> None:
    py = sys.executable
    three = "import time; time.sleep(0.3); raise SystemExit(3)"
    argv = tulip_cmd(
        "spin", "--", py, "-c", "print('from one')", ":::", py, "-c", three,
        ":::", "no-such-program-xyz", ":::", py, "-c", "import time; time.sleep(0.2)",
    )  # fmt: skip
    run = run_on_pty(argv, columns=120)
    assert run.returncode == 127  # the worst: a command that was not found
    lines = [line for line in run.screen() if line]
    assert "[1] from one" in lines
    finals = sorted(line for line in lines if line[:1] in "✔✖")
    assert len(finals) == 4
    assert any(line.startswith("✖ no-such-program-xyz (command not found)") for line in finals)
    assert any(line.startswith("✖") and line.endswith("(exit 3)") for line in finals)
    assert sum(line.startswith("✔") for line in finals) == 2
    assert not any(line[:1] in "|/-\\" for line in lines)  # no frame left behind


def test_ctrl_c_reaches_each_of_several_commands_once() -> None:
    argv = tulip_cmd("spin", "--", *python_cmd(COUNT_SIGINTS), ":::", *python_cmd(COUNT_SIGINTS))
    ready = []

    def on_output(output: bytes, proc: subprocess.Popen[bytes]) -> None:
        if output.count(b"] ready") >= 2 and not ready:  # the tagged lines, not the labels
            ready.append(True)
            os.kill(proc.pid, signal.SIGINT)

    run = run_on_pty(argv, on_output=on_output, columns=400)
    assert run.returncode == -signal.SIGINT, run.text()  # interrupted, whatever the children made of it
    assert run.text().count("(exit 11)") == 2  # each child saw exactly one SIGINT (10 + 1)


def test_jobs_from_stdin_run_n_at_a_time_and_a_pipe_gets_no_control_bytes() -> None:
    slow = f"{sys.executable} -c \"import time; time.sleep(0.4); print('A')\""
    fast = f"{sys.executable} -c \"print('B')\""
    for jobs, order in (("1", ["[1] A", "[2] B"]), ("2", ["[2] B", "[1] A"])):
        done = subprocess.run(
            tulip_cmd("spin", "-j", jobs),
            input=f"{slow}\n\n{fast}\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == order
        assert "\x1b" not in done.stderr + done.stdout
        assert sum(line.startswith("✔") for line in done.stderr.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["--", "echo", "x", ":::"], "", "empty command"),
        (["-j", "2", "--", "echo"], "", "-j reads"),
        (["-j", "2"], "\n\n", "no commands"),
        (["--text", "t", "--", "echo", ":::", "echo"], "", "--text names one command"),
    ],
)
def test_bad_multi_command_usage_is_one_line(args: list[str], stdin: str, words: str) -> None:
    done = subprocess.run(tulip_cmd("spin", *args), input=stdin, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_ctrl_c_while_the_command_line_is_read_is_a_quiet_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before tulip's first line runs, a Ctrl-C is the interpreter's (its own traceback); from the
    # first line of main() on it is tulip's: 130 and no traceback, as during a run.
    import aiotulip.cli

    def interrupted(command: str | None = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(aiotulip.cli, "_build_parser", interrupted)
    monkeypatch.setattr(aiotulip.cli, "_ignore_late_interrupts", lambda: None)
    assert aiotulip.cli.main(["fetch", "http://x.test/"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_importing_tulip_imports_no_asyncio_nor_aiohttp() -> None:
    code = (
        "import sys, aiotulip; print(sorted(m for m in ('asyncio', 'aiohttp', 'typing') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "[]", done.stdout
    names = "import aiotulip; print(aiotulip.Spinner.__name__, aiotulip.fetch.__name__)"
    lazy = subprocess.run([sys.executable, "-c", names], capture_output=True, text=True, timeout=30)
    assert lazy.stdout.split() == ["Spinner", "fetch"]


def test_ctrl_c_stops_queued_commands_too() -> None:
    slow = f"{sys.executable} -c \"import time; print('started', flush=True); time.sleep(20)\""
    argv = tulip_cmd("spin", "-j", "1")
    with subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(f"{slow}\n{slow}\n{slow}\n".encode())
        proc.stdin.close()
        assert proc.stdout.readline() == b"[1] started\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(30)
    assert proc.returncode == -signal.SIGINT
    assert out == b""  # the queued two never started
    assert err.decode().count("not started: interrupted") == 2


def test_output_to_a_file_keeps_its_bytes_but_the_tag(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.buffer.write(b'a\\tb\\x1b[1mX\\r\\n\\xff\\xfe\\n')"
    out = tmp_path / "out"
    with out.open("wb") as sink:
        run = subprocess.run(
            tulip_cmd("spin", "--", sys.executable, "-c", script, ":::", "true"),
            stdout=sink, stderr=subprocess.PIPE, timeout=60,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == b"[1] a\tb\x1b[1mX\r\n[1] \xff\xfe\n"


def test_a_bad_line_on_stdin_is_one_line_and_comments_are_skipped() -> None:
    unbalanced = "echo 'unbalanced\n"
    bad = subprocess.run(
        tulip_cmd("spin", "-j", "2"), input=unbalanced, capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 2 and "stdin line 1" in bad.stderr and "Traceback" not in bad.stderr
    ok = subprocess.run(tulip_cmd("spin", "-j", "2"), input="# a comment\necho hi\n", capture_output=True,
                        text=True, timeout=30)  # fmt: skip
    assert ok.returncode == 0 and ok.stdout == "[1] hi\n"


def test_no_stderr_at_all_still_runs_the_commands(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = (
        "import os, subprocess, sys; os.close(2); "
        f"sys.exit(subprocess.call({tulip_cmd('spin', '--', 'echo', 'hi', ':::', 'echo', 'there')!r}, "
        f"stdout=open({str(out)!r}, 'w'), stderr=subprocess.DEVNULL if False else None))"
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert done.returncode == 0
    assert sorted(out.read_text().splitlines()) == ["[1] hi", "[2] there"]


@pytest.mark.parametrize("several", [False, True])
def test_ctrl_c_reaches_what_the_command_started_too(several: bool) -> None:
    # sh waits for its sleep: unless the sleep gets the Ctrl-C as well, nothing ends for 60 s.
    command = ["sh", "-c", "echo started; sleep 60; echo never"]
    argv = tulip_cmd("spin", "--", *command, *([":::", "true"] if several else []))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        assert b"started" in proc.stdout.readline()
        # Not before the sleep runs: a Ctrl-C that reaches sh between its echo and its fork is held
        # by sh until the sleep ends (as in a terminal); that race is the shell's, not tulip's.
        _wait_for_descendant(proc.pid, b"sleep")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == -signal.SIGINT
        assert b"never" not in proc.stdout.read()


def _wait_for_descendant(pid: int, name: bytes, timeout: float = 10.0) -> None:
    def descendants(parent: int) -> list[int]:
        try:
            found = [
                int(child) for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
            ]
        except OSError:
            return []
        return found + [grandchild for child in found for grandchild in descendants(child)]

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in descendants(pid):
            try:
                if Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0] == name:
                    return
            except OSError:
                continue
        time.sleep(0.01)
    raise AssertionError(f"no {name.decode()} under {pid} after {timeout} s")
