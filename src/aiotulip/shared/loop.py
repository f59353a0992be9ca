"""Running a coroutine on the fastest event loop available (uvloop when installed)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiotulip.shared.signals import left_to_main

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Return uvloop's loop factory if uvloop is installed, else None (asyncio's default loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, uvloop: bool = True) -> T:
    """Run *main* to completion, as ``asyncio.run`` does, on uvloop when allowed and installed.

    asyncio.Runner gives Ctrl-C the standard treatment: the first SIGINT cancels the main task so
    its cleanup runs; KeyboardInterrupt is raised once that is done.
    """
    boxed = _boxed(main)
    try:
        with asyncio.Runner(loop_factory=loop_factory() if uvloop else None) as runner:
            # run_in_executor(None) and to_thread: threads that leave the process's signals to the
            # main thread, as every thread tulip starts does (shared.signals.left_to_main)
            runner.get_loop().set_default_executor(
                concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio", initializer=left_to_main)
            )
            return runner.run(boxed).value
    finally:
        # A signal turned into KeyboardInterrupt before the loop began them leaves both never
        # awaited, and Python says so on stderr ("coroutine 'run' was never awaited", from a
        # --workers child Ctrl-C reached at start): closed here, quietly (no-ops once they ran).
        boxed.close()
        main.close()


class _Box:
    """The result, out of sight of repr: asyncio.Runner.run ends with signal.getsignal(SIGINT), which
    formats its handler, with the main task in it, and the task's result with the task — ten thousand
    Results' worth of repr (60 ms) at the end of every run, for nothing."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<result>"


async def _boxed(main: Coroutine[Any, Any, T]) -> _Box:
    from aiotulip.shared import signals as _signals

    # An ignored signal stays ignored (nohup's choice stands).
    signals = tuple(sig for sig in _signals.wanted() if signal.getsignal(sig) is not signal.SIG_IGN)
    if not signals:
        return _Box(await main)
    # SIGTERM and SIGHUP as asyncio treats SIGINT: the main task is cancelled, its cleanup runs. Once:
    # a second one (systemd and `timeout` signal a whole group, a parent may pass it on too) must
    # not cancel the cleanup itself.
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    saved = {sig: signal.getsignal(sig) for sig in signals}

    def terminate(sig: int) -> None:
        if _signals.received() is not None:
            return
        _signals.note(sig)
        if task is not None and not task.done():
            task.cancel()

    for sig in signals:
        loop.add_signal_handler(sig, terminate, sig)
    try:
        return _Box(await main)
    finally:
        for sig, handler in saved.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)  # remove_signal_handler leaves the default behind
