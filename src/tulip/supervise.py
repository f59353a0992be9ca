"""Run a command under a spinner: ``tulip spin -- CMD ARGS...``.

The child gets its own process group, so a Ctrl-C at the terminal reaches only tulip, which forwards
it exactly once; the child would otherwise receive it twice (once from the terminal, once from us),
and many programs treat a second Ctrl-C as "abort now". Its output is read through pipes and printed
above the spinner line, and tulip exits with the child's status (128 + N when signal N ended it).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import subprocess
import sys
from typing import BinaryIO, TextIO

from tulip.errors import CommandNotExecutable, CommandNotFound, UsageError
from tulip.spinner import Spinner

__all__ = ["run_command", "spin_command"]

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_CHUNK = 64 * 1024


def spin_command(argv: list[str], *, text: str | None = None, timer: bool = False) -> int:
    """Run *argv* under a spinner and return its exit status (the synchronous entry point)."""
    return asyncio.run(run_command(argv, text=text, timer=timer))


async def run_command(
    argv: list[str], *, text: str | None = None, timer: bool = False, stream: TextIO | None = None
) -> int:
    """Run *argv* under a spinner, relay its output above the spinner, and return its exit status."""
    if not argv:
        raise UsageError("spin needs a command to run, e.g. tulip spin -- sleep 3")
    label = text or shlex.join(argv)
    # A child in a background process group that reads the terminal would be stopped by SIGTTIN.
    stdin = subprocess.DEVNULL if sys.stdin is None or sys.stdin.isatty() else None
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0
        )
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {argv[0]}") from None
    except PermissionError:
        raise CommandNotExecutable(f"permission denied: {argv[0]}") from None

    loop = asyncio.get_running_loop()
    for signum in _FORWARDED:
        loop.add_signal_handler(signum, _forward, proc, signum)
    try:
        async with Spinner(label, timer=timer, stream=stream) as spinner:
            assert proc.stdout is not None and proc.stderr is not None
            await asyncio.gather(
                _relay(proc.stdout, spinner, sys.stdout),
                _relay(proc.stderr, spinner, sys.stderr),
            )
            status = _exit_status(await proc.wait())
            if status == 0:
                spinner.ok(label)
            else:
                spinner.fail(f"{label} ({_describe(proc.returncode)})")
    finally:
        for signum in _FORWARDED:
            loop.remove_signal_handler(signum)
    return status


def _forward(proc: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signum)


async def _relay(source: asyncio.StreamReader, spinner: Spinner, target: TextIO) -> None:
    """Copy *source* to *target* line by line, each line printed above the spinner."""
    if not spinner.interactive:
        # Nothing to draw around: pass the bytes through untouched, whatever their encoding.
        raw: BinaryIO | None = getattr(target, "buffer", None)
        while chunk := await source.read(_CHUNK):
            if raw is not None:
                raw.write(chunk)
                raw.flush()
            else:
                target.write(chunk.decode(errors="replace"))
        return
    pending = b""
    while chunk := await source.read(_CHUNK):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            spinner.write(line.decode(errors="replace"), file=target)
        if len(pending) > _CHUNK:  # a very long line without newline: show it rather than hoard it
            spinner.write(pending.decode(errors="replace"), file=target)
            pending = b""
    if pending:
        spinner.write(pending.decode(errors="replace"), file=target)


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"
