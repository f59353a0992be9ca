"""SIGTERM and SIGHUP end a run the way Ctrl-C does: what `timeout`, systemd and a closed terminal
send must leave the same things behind (the summary, the ``--json`` report, the part files, the
cursor) and exit 128+N.

The command line asks for it with ``terminating_as_interrupt()``; the library never installs a
handler of its own accord. Inside, a blocking run sees KeyboardInterrupt (as from Ctrl-C); an asyncio
run, whose loop must not be broken by an exception out of a signal handler, has its main task
cancelled instead — asyncio's own treatment of SIGINT (``aiotulip.shared.loop`` wires it up).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = [
    "deferred",
    "interrupt_on_terminate",
    "late",
    "left_to_main",
    "received",
    "terminating_as_interrupt",
    "unmasked",
    "wanted",
]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _State:
    active = False  # the command line asked for SIGTERM/SIGHUP to interrupt
    received: int | None = None  # the terminating signal that came


_state = _State()


def wanted() -> tuple[int, ...]:
    """The signals a running loop should treat as Ctrl-C (none unless the command line asked)."""
    return _SIGNALS if _state.active else ()


def received() -> int | None:
    """The terminating signal that interrupted the run, if one did."""
    return _state.received


def note(signum: int) -> None:
    _state.received = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    note(signum)
    raise KeyboardInterrupt


def interrupt_on_terminate() -> None:
    """From now on, SIGTERM and SIGHUP interrupt like Ctrl-C, once (a ``--workers`` child: the
    signal may come from its parent and from a group-wide kill both); ignored ones stay ignored."""
    for sig in _SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _raise_once)
    _state.active = True


def _raise_once(signum: int, frame: FrameType | None) -> None:
    if _state.received is not None:
        return
    _raise(signum, frame)


@contextmanager
def terminating_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP interrupt like Ctrl-C (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        if saved[sig] is not signal.SIG_IGN:  # nohup's choice stands
            signal.signal(sig, _raise)
    _state.active = True
    _state.received = None  # (a program may run several commands)
    try:
        yield
    finally:
        _state.active = False
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextmanager
def late() -> Iterator[None]:
    """Within the block, Ctrl-C, SIGTERM and SIGHUP change nothing: the run is over and what is left
    is to say what it did (the report, the summary). A signal then killed a run that had finished
    and before its ``--json`` report was written (about one SIGTERM in ten at the end of a run)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = (signal.SIGINT, *_SIGNALS)
    saved = {sig: signal.getsignal(sig) for sig in wanted}
    for sig in wanted:
        if saved[sig] is not signal.SIG_IGN:
            signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Within the block, Ctrl-C, SIGTERM and SIGHUP wait: blocked, and delivered as it ends (the
    interrupt then comes between two statements, as ever). For imports: a KeyboardInterrupt raised
    while CPython builds an ImportError that a module expects to catch (``ssl`` importing
    ``RAND_egd`` from ``_ssl``, inside ``import asyncio``) came out as a TypeError traceback."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, *_SIGNALS}
    previous = mask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


# What a user, a terminal or a supervisor sends to the whole process. The faults (SIGSEGV, SIGFPE, ...)
# and SIGPIPE belong to the thread that caused them and stay unblocked.
_TO_THE_PROCESS = tuple(
    getattr(signal, name)
    for name in (
        "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGTSTP", "SIGCONT", "SIGWINCH",
        "SIGCHLD", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGTTIN", "SIGTTOU",
    )
    if hasattr(signal, name)
)  # fmt: skip


def left_to_main() -> None:
    """Block, in the calling helper thread, the signals sent to the process, so that the kernel gives
    them to the main thread. CPython runs handlers only there, and a signal the kernel gave to a helper
    does not wake a main thread asleep in ``time.sleep`` or a lock: Ctrl-C on a program whose main
    thread slept beside a Spinner's clock thread was then acted on only when the sleep ended (seen
    once in CI, 30 s late; ``signal.pthread_kill`` on the helper shows it every time). Call it first
    in every thread tulip starts (``initializer=`` for a pool)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is not None and threading.current_thread() is not threading.main_thread():
        mask(signal.SIG_BLOCK, _TO_THE_PROCESS)


@contextmanager
def unmasked() -> Iterator[None]:
    """Within the block, a helper thread takes the process's signals again: for starting a program,
    which begins with the mask of the thread that started it. A hook started from a blocking
    thread could not be stopped by ``timeout`` or ``--hook-timeout``'s SIGTERM, nor catch one."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or threading.current_thread() is threading.main_thread():
        yield
        return
    previous = mask(signal.SIG_UNBLOCK, _TO_THE_PROCESS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)
