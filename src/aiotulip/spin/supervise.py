"""Run a command under a spinner: ``tulip spin -- CMD ARGS...``; several at once under a group:
``tulip spin -- CMD1 ::: CMD2 ::: CMD3`` or ``tulip spin -j N`` with one command a line on stdin.

The child gets its own process group, so a Ctrl-C at the terminal reaches only tulip, which forwards
it exactly once; the child would otherwise receive it twice (once from the terminal, once from us),
and many programs treat a second Ctrl-C as "abort now". Its output is read through pipes and printed
above the spinner line, and tulip exits with the child's status (128 + N when signal N ended it).
Several commands run concurrently, one line each, their output lines tagged ``[N]``; tulip exits with
the worst (highest) status among them.

As a shell would have it: Ctrl-\\ reaches the child too, and Ctrl-Z stops the child with tulip (the
terminal given back, the cursor shown) and ``fg`` goes on with both. A signal forwarded to a stopped
child is followed by SIGCONT, so Ctrl-C ends a command stopped for reading the terminal (which, in a
process group of its own, it may not). When nobody reads tulip's output any more (``| head``), the
child's pipe is closed: its next write ends it with SIGPIPE, as in a pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shlex
import signal
import subprocess
import sys
from typing import BinaryIO, TextIO

from aiotulip.errors import CommandNotExecutable, CommandNotFound, UsageError
from aiotulip.shared import lag
from aiotulip.shared.terminal import is_interactive
from aiotulip.spin.group import SpinnerGroup
from aiotulip.spin.spinner import Spinner

__all__ = ["run_command", "run_commands", "spin_command", "split_commands"]

SEPARATOR = ":::"

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
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
        self.display: Spinner | SpinnerGroup | None = None  # what Ctrl-Z erases (once it is up)

    def forward(self, signum: int) -> None:
        self.signal = self.signal or signum  # queued commands never start once this is set
        for proc in list(self.running):  # each child once: they are in process groups of their own
            _forward(proc, signum)

    def stop(self) -> None:
        """Ctrl-Z: the children stop (SIGTSTP, as the terminal would have sent them), then tulip, the
        terminal given back meanwhile; continued (``fg``, ``bg``), so are they."""
        for proc in list(self.running):
            _signal_group(proc, signal.SIGTSTP)
        display = self.display
        with display.aside() if display is not None else contextlib.nullcontext():
            os.kill(os.getpid(), signal.SIGSTOP)  # (returns once continued)
        lag.continued()  # (the time stopped is no lag)
        for proc in list(self.running):
            _signal_group(proc, signal.SIGCONT)


def _handle_signals(loop: asyncio.AbstractEventLoop, batch: _Batch) -> None:
    for signum in _FORWARDED:
        loop.add_signal_handler(signum, batch.forward, signum)
    loop.add_signal_handler(signal.SIGTSTP, batch.stop)


async def run_commands(
    commands: list[list[str]], *, jobs: int, timer: bool = False, stream: TextIO | None = None
) -> int:
    """Run *commands*, at most *jobs* at a time, one spinner line each; return the worst status
    (128 + N when signal N interrupted the run, whatever the children made of it)."""
    if jobs < 1:
        raise UsageError("-j needs at least 1")
    loop = asyncio.get_running_loop()
    batch = _Batch()
    _handle_signals(loop, batch)
    slots = asyncio.Semaphore(jobs)
    targets = (sys.stdout, sys.stderr)  # as they are: while the group runs they are its proxies
    try:
        async with SpinnerGroup(timer=timer, stream=stream) as group:
            batch.display = group

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
        proc, out, err = await _spawn(argv, subprocess.DEVNULL)
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
        tag = f"[{number}] "
        await asyncio.gather(_relay(out, group, targets[0], tag), _relay(err, group, targets[1], tag))
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
    _handle_signals(loop, batch)
    try:
        try:
            proc, out, err = await _spawn(argv, stdin)
        except FileNotFoundError:
            raise CommandNotFound(f"command not found: {_named(argv[0])}") from None
        except PermissionError:
            if not argv[0]:  # (as a shell says of an empty name)
                raise CommandNotFound("command not found: ''") from None
            raise CommandNotExecutable(f"permission denied: {_named(argv[0])}") from None
    except BaseException:
        _remove_handlers(loop)
        raise
    batch.running.add(proc)
    if batch.signal:  # it came while the child was starting
        _forward(proc, batch.signal)
    targets = (sys.stdout, sys.stderr)  # as they are: while the spinner is up they are its stand-ins
    try:
        async with Spinner(label, timer=timer, stream=stream) as spinner:
            batch.display = spinner
            await asyncio.gather(_relay(out, spinner, targets[0]), _relay(err, spinner, targets[1]))
            status = _exit_status(await proc.wait())
            if status == 0:
                spinner.ok(label)
            else:
                spinner.fail(f"{label} ({_describe(proc.returncode)})")
    finally:
        _remove_handlers(loop)
    return status


def _named(word: str) -> str:
    """A command's name as an error line shows it: escaped where it holds what the terminal would
    act on (an escape sequence in a name reached the terminal as one)."""
    return word if word.isprintable() and word else repr(word)


def _remove_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for signum in (*_FORWARDED, signal.SIGTSTP):
        loop.remove_signal_handler(signum)


async def _spawn(argv: list[str], stdin: int | None) -> tuple[asyncio.subprocess.Process, _Pipe, _Pipe]:
    """Start *argv* in a process group of its own, its stdout and stderr on pipes this process
    owns (and may close: see _relay)."""
    loop = asyncio.get_running_loop()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=stdin, stdout=out_w, stderr=err_w, process_group=0
        )
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    pipes = []
    for fd in (out_r, err_r):
        reader = asyncio.StreamReader(limit=_CHUNK)
        transport, _ = await loop.connect_read_pipe(
            functools.partial(asyncio.StreamReaderProtocol, reader), os.fdopen(fd, "rb", buffering=0)
        )
        pipes.append(_Pipe(reader, transport))
    return proc, pipes[0], pipes[1]


class _Pipe:
    """A child's output: what reads it, and what closes it."""

    def __init__(self, reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
        self.reader = reader
        self.transport = transport


def _forward(proc: asyncio.subprocess.Process, signum: int) -> None:
    """Send *signum* to the child's process group, as the terminal would have: the child and what it
    started (``sh -c 'sleep 9; ...'``) each get it once. Then SIGCONT: a process stopped (for reading
    the terminal, from the background group it is in) would otherwise hold the signal for ever."""
    if proc.returncode is not None:
        return
    _signal_group(proc, signum)
    _signal_group(proc, signal.SIGCONT)


def _signal_group(proc: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)  # process_group=0: the group's id is the child's pid


async def _relay(pipe: _Pipe, above: Spinner | SpinnerGroup, target: TextIO | None, tag: str = "") -> None:
    """Copy a command's output to *target*: on the terminal the animation is drawn on, whole lines
    printed above it (a chunk's lines in one redraw); anywhere else the bytes as they came, each line
    tagged with its command's number when several run. Once *target* can take no more (its reader
    gone: ``| head``), the pipe is closed: the command's next write ends it, as in a pipeline, where
    reading on for nobody kept ``yes`` going for ever."""
    source = pipe.reader
    terminal = above.interactive and target is not None and is_interactive(target)
    prefix = tag.encode()
    pending = b""
    while chunk := await source.read(_CHUNK):
        if not terminal and not prefix:  # nothing to draw around: untouched
            taken = _put_bytes(target, chunk)
        else:
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > _CHUNK:  # a very long line without newline: show it rather than hoard it
                lines.append(pending)
                pending = b""
            taken = _put_lines(lines, above, prefix, target, terminal)
        if not taken:
            pipe.transport.close()
            return
    if pending:
        _put_lines([pending], above, prefix, target, terminal)


def _put_lines(
    lines: list[bytes], above: Spinner | SpinnerGroup, prefix: bytes, target: TextIO | None, terminal: bool
) -> bool:
    if not lines:
        return True
    if terminal:
        above.write("\n".join((prefix + line).decode(errors="replace") for line in lines), file=target)
        return True
    return _put_bytes(target, b"".join(prefix + line + b"\n" for line in lines))


def _put_bytes(target: TextIO | None, data: bytes) -> bool:
    """Write *data* to *target*; False once it can take no more (None, no stream at all, takes
    everything: the command never had one to write to either way)."""
    raw: BinaryIO | None = getattr(target, "buffer", None)
    try:
        if raw is not None:
            raw.write(data)
            raw.flush()
        elif target is not None:
            target.write(data.decode(errors="replace"))
            target.flush()
    except (OSError, ValueError):  # a closed pipe: nobody reads
        return False
    return True


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"
