"""``tulip demo``: the two classic supervisors, run with tulip's Spinner."""

from __future__ import annotations

import asyncio
import time

from tulip.spinner import Spinner

__all__ = ["run_demo"]

SLOW_SECONDS = 1.5


def _slow() -> int:
    time.sleep(SLOW_SECONDS)  # releases the GIL, so the spinner thread keeps drawing
    return 42


async def _slow_async() -> int:
    await asyncio.sleep(SLOW_SECONDS)  # yields to the loop, so the spinner task keeps drawing
    return 42


def _thread_supervisor() -> int:
    with Spinner("thinking! (thread)", timer=True) as sp:
        result = _slow()
        sp.ok(f"thread supervisor: Answer: {result}")
    return result


async def _asyncio_supervisor() -> int:
    async with Spinner("thinking! (asyncio task)", timer=True) as sp:
        result = await _slow_async()
        sp.ok(f"asyncio supervisor: Answer: {result} (max loop lag {sp.max_lag * 1000:.1f} ms)")
    return result


def run_demo() -> int:
    """Run the thread supervisor, then the asyncio one; return the exit status."""
    _thread_supervisor()
    asyncio.run(_asyncio_supervisor())
    return 0
