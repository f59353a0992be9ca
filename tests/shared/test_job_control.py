"""A shell's job control, on a real pty under a real interactive bash: Ctrl-Z gives the terminal
back (the cursor shown, nothing drawn over the prompt), a job in the background draws nothing,
and one brought back to the foreground draws again."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from tests.download.conformance.scripted import Pause, Scripted, response
from tests.terminal import HIDE, SHOW, Shell

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

TULIP = shlex.join([sys.executable, "-m", "aiotulip"])
BODY = bytes(range(256)) * 1200  # 300 KiB


FRAME = " busy\r\x1b[J"  # (a spinner's frame; the typed command line is echoed too)


def _last_cursor_control(data: bytes) -> bytes | None:
    shown, hidden = data.rfind(SHOW), data.rfind(HIDE)
    return None if shown == hidden == -1 else (SHOW if shown > hidden else HIDE)


@pytest.mark.parametrize("through", ["directly", "a script"])
def test_fetch_gives_the_terminal_back_on_ctrl_z_and_draws_only_in_the_foreground(
    tmp_path: Path, through: str
) -> None:
    """Ctrl-Z left the cursor hidden at the shell's prompt, and `bg` drew the bar over it. Run by
    a script, the shell's "Stopped" and prompt came first, and the bar's last frame then landed
    over them."""
    slow = [response("200 OK", b"", f"Content-Length: {len(BODY)}", length=None), BODY[:100_000], Pause(8),
            BODY[100_000:]]  # fmt: skip
    with Scripted({"/f.bin": lambda r: slow}) as server, Shell() as shell:
        command = f"{TULIP} fetch {server.base}/f.bin -d {tmp_path / 'out'} --json {tmp_path / 'r.json'}"
        if through == "a script":
            command = f"sh -c {shlex.quote(command + '; true')}"
        shown = shell.type(command + "\n", 6, until="KiB/s")
        assert b"KiB/s" in shown, shown  # the bar, with the first 100 KB (told as they came)
        stopped = shell.type("\x1a", 5, until="Stopped") + shell.read_for(1.0)
        assert b"Stopped" in stopped, stopped
        assert _last_cursor_control(stopped) == SHOW, stopped
        after = stopped.rpartition(b"PROMPT$ ")[2]  # nothing drawn over the prompt
        assert b"KiB/s" not in after and b"\x1b[1A" not in after and b"\x1b[2K" not in after, stopped
        in_background = shell.type("bg\n", 1.5)  # (after a second stopped: no loop lag, below)
        assert b"&" in in_background, in_background  # ([1]+ ... &: running in the background)
        assert HIDE not in in_background and b"KiB/s" not in in_background, in_background
        finished = shell.type("fg\n", 20, until="saved")
        assert b"saved" in finished, finished
        assert HIDE in finished and b"KiB/s" in finished, finished  # drawn again in the foreground
        assert _last_cursor_control(finished) == SHOW, finished
    assert (tmp_path / "out" / "f.bin").read_bytes() == BODY
    # The time it was stopped is no event-loop lag (it said 2,510 ms).
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["max_loop_lag_ms"] < 500


def test_spin_draws_nothing_in_the_background_and_again_in_the_foreground() -> None:
    with Shell() as shell:
        shown = shell.type(f"{TULIP} spin --text busy -- sh -c 'sleep 4; echo done'\n", 5, until=FRAME)
        assert FRAME.encode() in shown, shown
        stopped = shell.type("\x1a", 5, until="Stopped")
        assert b"Stopped" in stopped and _last_cursor_control(stopped) == SHOW, stopped
        in_background = shell.type("bg\n", 1.5)
        assert b"&" in in_background, in_background
        assert HIDE not in in_background and b"busy" not in in_background.split(b"&", 1)[1], in_background
        finished = shell.type("fg\n", 15, until="PROMPT$")
        assert HIDE in finished and b"done" in finished, finished
        assert "\u2714\x1b[0m busy".encode() in finished and _last_cursor_control(finished) == SHOW, finished


def test_fetch_with_worker_processes_draws_only_the_bar_after_fg(tmp_path: Path) -> None:
    """Each worker process had inherited the parent's Ctrl-Z handler, and drew the parent's long
    finished "connecting" spinner again on fg, twice, the bar then wrapped after it."""
    slow = [response("200 OK", b"", f"Content-Length: {len(BODY)}", length=None), BODY[:100_000], Pause(6),
            BODY[100_000:]]  # fmt: skip
    with Scripted({"/a.bin": lambda r: slow, "/b.bin": lambda r: slow}) as server, Shell() as shell:
        command = f"{TULIP} fetch --workers 2 {server.base}/a.bin {server.base}/b.bin -d {tmp_path}"
        assert b"KiB/s" in shell.type(command + "\n", 8, until="KiB/s")
        assert b"Stopped" in shell.type("\x1a", 5, until="PROMPT$")  # (Stopped, then the prompt)
        resumed = shell.type("fg\n", 20, until="PROMPT$")
        assert b"connecting" not in resumed and b"KiB/s" in resumed, resumed
    assert (tmp_path / "a.bin").read_bytes() == BODY == (tmp_path / "b.bin").read_bytes()


def test_ctrl_c_stops_a_script_that_runs_tulip(tmp_path: Path) -> None:
    """tulip exited 130 after a Ctrl-C: bash took it that tulip had handled the signal, and the
    script went on (a loop over three downloads took three Ctrl-Cs). It ends by the signal now."""
    slow = [response("200 OK", b"", f"Content-Length: {len(BODY)}", length=None), BODY[:1000], Pause(10),
            BODY[1000:]]  # fmt: skip
    with Scripted({"/f.bin": lambda r: slow}) as server, Shell() as shell:
        script = tmp_path / "loop.sh"
        script.write_text(f"for i in 1 2 3; do {TULIP} fetch -q {server.base}/f.bin -d {tmp_path}/$i; "
                          "echo AFTER $i; done\n")  # fmt: skip
        started = shell.type(f"bash {script}\n", 2.5)  # (tulip under way: its first bytes came)
        ended = shell.type("\x03", 10, until="PROMPT$")
        assert b"PROMPT$" in ended, started + ended
        assert b"AFTER" not in ended, ended
