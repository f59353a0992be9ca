"""Run a command under a spinner: ``tulip spin -- CMD ARGS...``; several at once under a group:
``tulip spin -- CMD1 ::: CMD2 ::: CMD3`` or ``tulip spin -j N`` with one command a line on stdin.

The child gets its own process group, so a Ctrl-C at the terminal reaches only tulip, which forwards
it exactly once; the child would otherwise receive it twice (once from the terminal, once from us),
and many programs treat a second Ctrl-C as "abort now". Its output is read through pipes and printed
above the spinner line, and tulip exits with the child's status (128 + N when signal N ended it).
Several commands run concurrently, one line each, their output lines tagged ``[N]``; tulip exits with
the worst (highest) status among them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import sys
from typing import BinaryIO, TextIO

from aiotulip.errors import CommandNotExecutable, CommandNotFound, UsageError
from aiotulip.shared.terminal import is_interactive
from aiotulip.spin.group import SpinnerGroup
from aiotulip.spin.spinner import Spinner

__all__ = ["run_command", "run_commands", "spin_command", "split_commands"]

SEPARATOR = ":::"

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_CHUNK = 64 * 1024


def spin_command(
    argv: list[str], *, text: str | None = None, timer: bool = False, jobs: int | None = None
) -> int:
    """Run *argv* under a spinner and return its exit status (the synchronous entry point).

    *argv* holding ``:::`` is several commands; *jobs* runs commands read from stdin, N at a time.
    """
    if jobs is not None:
        if argv:
            raise UsageError("-j reads one command a line from stdin; give no command after --")
        if text is not None:
            raise UsageError("--text names one command; several are named by their command lines")
        commands = _read_commands(sys.stdin)
        if not commands:
            raise UsageError("-j found no commands on stdin (one a line)")
        return asyncio.run(run_commands(commands, jobs=jobs, timer=timer))
    commands = split_commands(argv)
    if len(commands) > 1:
        if text is not None:
            raise UsageError("--text names one command; several are named by their command lines")
        return asyncio.run(run_commands(commands, jobs=len(commands), timer=timer))
    return asyncio.run(run_command(argv, text=text, timer=timer))


def _read_commands(source: TextIO | None) -> list[list[str]]:
    """One command a line (shell words), blank lines and ``#`` comments skipped."""
    commands = []
    for number, line in enumerate(source.read().splitlines() if source else [], 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            commands.append(shlex.split(line))
        except ValueError as exc:
            raise UsageError(f"stdin line {number}: {exc}: {line.strip()}") from None
    return commands


def split_commands(argv: list[str]) -> list[list[str]]:
    """Split ``A ::: B ::: C`` into commands; refuse an empty one."""
    commands: list[list[str]] = [[]]
    for word in argv:
        if word == SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(word)
    if len(commands) > 1 and any(not command for command in commands):
        raise UsageError("an empty command between ':::' separators")
    return commands


class _Batch:
    """Several commands' shared state: who runs now, and the signal that ends them all."""

    def __init__(self) -> None:
        self.running: set[asyncio.subprocess.Process] = set()
        self.signal: int | None = None

    def forward(self, signum: int) -> None:
        self.signal = self.signal or signum  # queued commands never start once this is set
        for proc in list(self.running):  # each child once: they are in process groups of their own
            _forward(proc, signum)


async def run_commands(
    commands: list[list[str]], *, jobs: int, timer: bool = False, stream: TextIO | None = None
) -> int:
    """Run *commands*, at most *jobs* at a time, one spinner line each; return the worst status
    (128 + N when signal N interrupted the run, whatever the children made of it)."""
    if jobs < 1:
        raise UsageError("-j needs at least 1")
    loop = asyncio.get_running_loop()
    batch = _Batch()
    for signum in _FORWARDED:
        loop.add_signal_handler(signum, batch.forward, signum)
    slots = asyncio.Semaphore(jobs)
    targets = (sys.stdout, sys.stderr)  # as they are: while the group runs they are its proxies
    try:
        async with SpinnerGroup(timer=timer, stream=stream) as group:

            async def one(number: int, argv: list[str]) -> int:
                async with slots:
                    return await _run_member(group, number, argv, batch, targets)

            statuses = await asyncio.gather(*(one(n, argv) for n, argv in enumerate(commands, 1)))
    finally:
        _remove_handlers(loop)
    worst = max(statuses)
    return max(worst, 128 + batch.signal) if batch.signal else worst


async def _run_member(
    group: SpinnerGroup, number: int, argv: list[str], batch: _Batch, targets: tuple[TextIO, TextIO]
) -> int:
    label = shlex.join(argv)
    if batch.signal:
        group.add(label).fail(f"{label} (not started: interrupted)")
        return 128 + batch.signal
    member = group.add(label)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0
        )
    except FileNotFoundError:
        member.fail(f"{label} (command not found)")
        return CommandNotFound.exit_status
    except PermissionError:
        member.fail(f"{label} (permission denied)")
        return CommandNotExecutable.exit_status
    batch.running.add(proc)
    if batch.signal:  # it came while this one was starting
        _forward(proc, batch.signal)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        tag = f"[{number}] "
        await asyncio.gather(
            _relay(proc.stdout, group, targets[0], tag),
            _relay(proc.stderr, group, targets[1], tag),
        )
        status = _exit_status(await proc.wait())
    finally:
        batch.running.discard(proc)
    if status == 0:
        member.ok(label)
    else:
        member.fail(f"{label} ({_describe(proc.returncode)})")
    return status


async def run_command(
    argv: list[str], *, text: str | None = None, timer: bool = False, stream: TextIO | None = None
) -> int:
    """Run *argv* under a spinner, relay its output above the spinner, and return its exit status."""
    if not argv:
        raise UsageError("spin needs a command to run, e.g. tulip spin -- sleep 3")
    label = text or shlex.join(argv)
    # A child in a background process group that reads the terminal would be stopped by SIGTTIN.
    stdin = subprocess.DEVNULL if sys.stdin is None or sys.stdin.isatty() else None
    # The handlers go in before the child starts: a Ctrl-C the moment it has started must reach it,
    # not kill tulip and leave the child running unsupervised.
    loop = asyncio.get_running_loop()
    batch = _Batch()
    for signum in _FORWARDED:
        loop.add_signal_handler(signum, batch.forward, signum)
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0
            )
        except FileNotFoundError:
            raise CommandNotFound(f"command not found: {argv[0]}") from None
        except PermissionError:
            raise CommandNotExecutable(f"permission denied: {argv[0]}") from None
    except BaseException:
        _remove_handlers(loop)
        raise
    batch.running.add(proc)
    if batch.signal:  # it came while the child was starting
        _forward(proc, batch.signal)
    out, err = sys.stdout, sys.stderr  # as they are: while the spinner is up they are its stand-ins
    try:
        async with Spinner(label, timer=timer, stream=stream) as spinner:
            assert proc.stdout is not None and proc.stderr is not None
            await asyncio.gather(_relay(proc.stdout, spinner, out), _relay(proc.stderr, spinner, err))
            status = _exit_status(await proc.wait())
            if status == 0:
                spinner.ok(label)
            else:
                spinner.fail(f"{label} ({_describe(proc.returncode)})")
    finally:
        _remove_handlers(loop)
    return status


def _remove_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for signum in _FORWARDED:
        loop.remove_signal_handler(signum)


def _forward(proc: asyncio.subprocess.Process, signum: int) -> None:
    """Send *signum* to the child's process group, as the terminal would have: the child and what it
    started (``sh -c 'sleep 9; ...'``) each get it once."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)  # process_group=0: the group's id is the child's pid


async def _relay(
    source: asyncio.StreamReader, above: Spinner | SpinnerGroup, target: TextIO | None, tag: str = ""
) -> None:
    """Copy a command's output to *target*: on the terminal the animation is drawn on, whole lines
    printed above it (a chunk's lines in one redraw); anywhere else the bytes as they came, each line
    tagged with its command's number when several run."""
    terminal = above.interactive and target is not None and is_interactive(target)
    prefix = tag.encode()
    if not terminal and not prefix:
        while chunk := await source.read(_CHUNK):  # nothing to draw around: untouched
            _put_bytes(target, chunk)
        return
    pending = b""
    while chunk := await source.read(_CHUNK):
        *lines, pending = (pending + chunk).split(b"\n")
        if len(pending) > _CHUNK:  # a very long line without newline: show it rather than hoard it
            lines.append(pending)
            pending = b""
        _put_lines(lines, above, prefix, target, terminal)
    if pending:
        _put_lines([pending], above, prefix, target, terminal)


def _put_lines(
    lines: list[bytes], above: Spinner | SpinnerGroup, prefix: bytes, target: TextIO | None, terminal: bool
) -> None:
    if not lines:
        return
    if terminal:
        above.write("\n".join((prefix + line).decode(errors="replace") for line in lines), file=target)
    else:
        _put_bytes(target, b"".join(prefix + line + b"\n" for line in lines))


def _put_bytes(target: TextIO | None, data: bytes) -> None:
    raw: BinaryIO | None = getattr(target, "buffer", None)
    try:
        if raw is not None:
            raw.write(data)
            raw.flush()
        elif target is not None:
            target.write(data.decode(errors="replace"))
            target.flush()
    except (OSError, ValueError):  # a closed pipe: nobody reads, the commands go on
        pass


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"
