"""Run a program on a real pseudo-terminal and read back what a user would see."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyte

HIDE, SHOW = b"\x1b[?25l", b"\x1b[?25h"


@dataclass
class PtyRun:
    output: bytes
    returncode: int
    columns: int
    rows: int
    resizes: list[tuple[int, int, int]] = field(default_factory=list)  # (offset, rows, columns)

    def screen(self) -> list[str]:
        """Return the terminal's visible lines after replaying the output (and any resize at the
        point of the output it happened), right-stripped."""
        screen = pyte.Screen(self.columns, self.rows)
        stream = pyte.ByteStream(screen)
        # A pty turns "\n" into "\r\n"; pyte needs that too for the program's own output.
        at = 0
        for offset, new_rows, new_columns in self.resizes:
            stream.feed(self.output[at:offset])
            screen.resize(new_rows, new_columns)
            at = offset
        stream.feed(self.output[at:])
        return [line.rstrip() for line in screen.display]

    def text(self) -> str:
        return self.output.decode(errors="replace")


def python_cmd(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def tulip_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiotulip", *args]


def run_on_pty(
    argv: Sequence[str],
    *,
    columns: int = 80,
    rows: int = 24,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    on_output: Callable[[bytes, subprocess.Popen[bytes]], tuple[int, int] | None] | None = None,
    controlling: bool = False,
) -> PtyRun:
    """Run *argv* with stdin, stdout and stderr on a new pty of the given size (*controlling*: as
    its controlling terminal too, the program's process group in the foreground, as a shell's job:
    /dev/tty is this pty, and a background group that reads it is stopped).

    *on_output* is called with everything read so far after each read, so a test can react to the
    screen (send a signal once the spinner shows, for instance); when it returns (rows, columns) the
    terminal is resized to that, and the program gets SIGWINCH, as a user's window would give it.
    """
    resizes: list[tuple[int, int, int]] = []
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", "PYTHONIOENCODING": "utf-8"}
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    proc = subprocess.Popen(
        list(argv), stdin=slave, stdout=slave, stderr=slave, env=full_env, start_new_session=True,
        preexec_fn=_take_the_terminal if controlling else None,
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"{argv} still running after {timeout} s: {b''.join(chunks)!r}")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer of the pty has gone
                    data = b""
                if not data:
                    break
                chunks.append(data)
                if on_output is not None:
                    so_far = b"".join(chunks)
                    size = on_output(so_far, proc)
                    if size is not None:
                        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
                        resizes.append((len(so_far), size[0], size[1]))
                        os.kill(proc.pid, signal.SIGWINCH)
            elif proc.poll() is not None and not _readable(master):
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    return PtyRun(b"".join(chunks), proc.returncode, columns, rows, resizes)


class Shell:
    """An interactive bash on a new pty, with job control, as a user's terminal has one: Ctrl-Z,
    ``bg`` and ``fg`` act on what it runs. Typed to with ``type``; what the pty showed since is the
    answer."""

    def __init__(self, columns: int = 100, rows: int = 24) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "PS1": "PROMPT$ ", "PYTHONIOENCODING": "utf-8"}
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile", "-i"], stdin=slave, stdout=slave, stderr=slave, env=env,
            start_new_session=True, preexec_fn=_take_the_terminal,
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.output = b""
        self.read_for(0.5)

    def read_for(self, seconds: float, until: bytes | None = None) -> bytes:
        """What the pty shows in the next *seconds* (less once *until* has appeared)."""
        start = len(self.output)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until is not None and until in self.output[start:]:
                break
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    break
        return self.output[start:]

    def type(self, keys: str, seconds: float, until: str | None = None) -> bytes:
        os.write(self.master, keys.encode())
        return self.read_for(seconds, until.encode() if until is not None else None)

    def __enter__(self) -> Shell:
        return self

    def __exit__(self, *exc: object) -> None:
        # Every process of the shell's session: a job in the background outlives its shell.
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.getsid(int(entry)) == self.proc.pid:
                        os.kill(int(entry), signal.SIGKILL)
        self.proc.wait(timeout=10)
        os.close(self.master)


def _take_the_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # (after setsid: the new session's terminal is stdin's)


def state_of(pid: int) -> str:
    """A process's state letter (R, S, T for stopped...), "" once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return ""


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(word) for word in children.read().split()]
    except OSError:
        return []


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def signal_once(
    marker: bytes, signum: int = signal.SIGINT
) -> Callable[[bytes, subprocess.Popen[bytes]], None]:
    """Return an on_output callback that sends *signum* once *marker* has appeared."""
    sent = False

    def callback(output: bytes, proc: subprocess.Popen[bytes]) -> None:
        nonlocal sent
        if not sent and marker in output:
            sent = True
            os.kill(proc.pid, signum)

    return callback
