"""``--on-complete CMD`` and ``--on-error CMD``: a program run for each item that ends.

The command is a program and its arguments (``shlex.split`` of what the user wrote), never a shell's
line unless the user writes the shell (``sh -c '...'``): a file name a server chose cannot become a
command. The final path (or the URL, when no file was written) is its last argument, always absolute
or a full URL so it can never be read as an option; the environment says the rest (``TULIP_URL``,
``TULIP_PATH``, ``TULIP_STATUS``, ``TULIP_SHA256``, ``TULIP_BYTES``, ``TULIP_ERROR``), URLs redacted.

The engines never wait for a hook: a hook is queued (at most ``QUEUE`` waiting; past that one is
dropped and counted) and a few runner threads start them. A hook that fails, or outlives its
``timeout`` (killed then, with its process group), is reported on stderr — the first few each in a
line, the rest counted — and changes nothing in the item's status. At the end the run waits for the
hooks still queued or running, about ``timeout`` seconds at most, then kills what is left.

Hooks start in a session of their own, so the terminal's Ctrl-C reaches tulip, not them: tulip ends
its run in order (interrupted items get their ``--on-error`` too) and a second Ctrl-C kills them.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiotulip.errors import UsageError
from aiotulip.shared.signals import left_to_main, unmasked

__all__ = ["QUEUE", "RUNNERS", "Call", "Hooks", "command"]

RUNNERS = 4  # hooks running at once
QUEUE = 65536  # hooks waiting at most (about 30 MB); later ones are dropped, and counted
_SHOWN = 5  # hook failures reported line by line; the rest are counted at the end
_TERM_GRACE = 1.0  # seconds between SIGTERM and SIGKILL for a hook that outlived its time


def command(value: str | Sequence[str], option: str) -> tuple[str, ...]:
    """Return *value* as a program and its arguments (a string is split as a POSIX shell splits
    words, without running one); UsageError for an empty or unbalanced one."""
    import shlex

    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise UsageError(f"{option}: cannot split {value[:80]!r} into words: {exc}") from None
    elif isinstance(value, Sequence) and all(isinstance(word, str) for word in value):
        words = list(value)
    else:
        raise UsageError(f"{option} must be a command line or a list of strings")
    if not words or not words[0]:
        raise UsageError(f"{option} needs a program to run")
    if any("\x00" in word for word in words):
        raise UsageError(f"{option}: a word cannot hold NUL")
    return tuple(words)


def check_program(argv: Sequence[str], option: str) -> None:
    """Refuse (UsageError) a program that cannot be run: better now than once an item."""
    import shutil

    program = argv[0]
    if os.sep in program:
        if not os.path.isfile(program) or not os.access(program, os.X_OK):
            reason = "no such file" if not os.path.exists(program) else "not an executable file"
            raise UsageError(f"{option} {program}: {reason}")
    elif shutil.which(program) is None:
        raise UsageError(f"{option} {program}: no such program on PATH")


@dataclass(frozen=True, slots=True)
class Call:
    """One hook to run: which option asked (for messages), the command, its last argument and
    environment (already public: no secret in either)."""

    option: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    item: str  # the item's name in messages


class Hooks:
    """Run Calls on a few threads; ``close`` waits for them (bounded)."""

    def __init__(self, timeout: float, *, stdout_busy: bool) -> None:
        self.timeout = timeout
        # With events or the report on standard output, a hook's output would land in that stream.
        self._stdout = sys.stderr.fileno() if stdout_busy else None
        self._lock = threading.Lock()
        self._more = threading.Condition(self._lock)
        self._queue: collections.deque[Call] = collections.deque()
        self._running: dict[int, subprocess.Popen[bytes]] = {}  # pid -> process
        self._threads: list[threading.Thread] = []
        self._busy = 0  # runners with a call in hand
        self._closing = False
        self._dropped = 0
        self._failed = 0

    def submit(self, call: Call) -> None:
        """Queue *call*; never waits."""
        with self._lock:
            if self._closing:
                return
            if len(self._queue) >= QUEUE:
                self._dropped += 1
                return
            self._queue.append(call)
            if len(self._threads) < RUNNERS and self._busy + len(self._queue) > len(self._threads):
                # Started as hooks come (not at the start: --workers forks its children first).
                thread = threading.Thread(target=self._run, name="tulip-hook", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._more.notify()

    def close(self) -> bool:
        """Wait for the hooks queued and running (about ``timeout`` seconds in all), then kill the
        rest; return whether Ctrl-C (or SIGTERM) cut the wait short."""
        # (a hook begun just now gets its own timeout, and its kill, before the end cuts it short)
        deadline = time.monotonic() + self.timeout + _TERM_GRACE + 0.5
        interrupted = False
        try:
            with self._lock:
                while (self._queue or self._busy) and (left := deadline - time.monotonic()) > 0:
                    self._more.wait(min(left, 0.5))
        except KeyboardInterrupt:  # the user will not wait: the hooks go, the run still ends in order
            interrupted = True
        finally:
            with self._lock:
                self._closing = True
                left_over = len(self._queue)
                self._queue.clear()
                running = list(self._running.values())
                self._more.notify_all()
            for process in running:
                _kill(process, signal.SIGKILL)
            for thread in self._threads:
                thread.join(timeout=5)
        lines = []
        if self._failed > _SHOWN:
            lines.append(f"{self._failed - _SHOWN} more hooks failed")
        if self._dropped:
            lines.append(f"{self._dropped} hooks not run: more than {QUEUE} were waiting")
        if interrupted:
            lines.append(f"{left_over + len(running)} hooks not run or cut short: interrupted")
        elif left_over or running:
            lines.append(f"{left_over + len(running)} hooks not run or cut short: the run waits "
                         f"{self.timeout:g} s for hooks at its end (--hook-timeout)")  # fmt: skip
        for line in lines:  # (said, not counted against the run: an item's status is its own)
            print(f"tulip fetch: {line}", file=sys.stderr, flush=True)
        return interrupted

    # -- the runners --------------------------------------------------------------------------------

    def _run(self) -> None:
        left_to_main()
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._more.wait()
                if self._closing:
                    return
                call = self._queue.popleft()
                self._busy += 1
            try:
                problem = self._call(call)
            except Exception as exc:  # a runner must outlive any one hook
                problem = f"could not run: {exc}"
            with self._lock:
                self._busy -= 1
                self._more.notify_all()
                if problem is not None and self._closing:
                    problem = None  # cut short by the end: counted there
                if problem is not None:
                    self._failed += 1
                    shown = self._failed <= _SHOWN
            if problem is not None and shown:
                line = f"tulip fetch: {call.option} hook for {call.item}: {problem}"
                print(line, file=sys.stderr, flush=True)

    def _call(self, call: Call) -> str | None:
        """Run one hook to its end (or its timeout); return what went wrong, or None."""
        try:
            with unmasked():  # (the hook's own signals: this thread leaves them to the main one)
                process = subprocess.Popen(
                    call.argv,
                    env={**os.environ, **call.env},
                    stdin=subprocess.DEVNULL,
                    stdout=self._stdout,
                    close_fds=True,
                    start_new_session=True,
                )
        except OSError as exc:
            return f"cannot run {call.argv[0]}: {exc.strerror or exc}"
        with self._lock:
            if self._closing:  # the end came while it started
                _kill(process, signal.SIGKILL)
            self._running[process.pid] = process
        try:
            status = process.wait(self.timeout)
        except subprocess.TimeoutExpired:
            _kill(process, signal.SIGTERM)
            try:
                process.wait(_TERM_GRACE)
            except subprocess.TimeoutExpired:
                _kill(process, signal.SIGKILL)
                process.wait()
            return f"killed after {self.timeout:g} s (--hook-timeout)"
        finally:
            with self._lock:
                self._running.pop(process.pid, None)
        if status < 0:
            return f"killed by signal {-status}"
        return f"exited with status {status}" if status else None


def _kill(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the hook's whole process group (``sh -c`` and what it started)."""
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signum)
