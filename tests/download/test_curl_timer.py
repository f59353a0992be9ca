"""libcurl's timer on the event loop: "now" (0 ms) must run at the next turn of the loop, whatever
timer was set before and whichever loop runs it (uvloop's handles are not asyncio's classes: a check
by class once left a resumed transfer waiting for a 10 s timer on uvloop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from aiotulip.download.options import FetchOptions
from aiotulip.download.transports.curl import CurlTransport

LOOPS: list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]] = [("asyncio", asyncio.new_event_loop)]
try:
    import uvloop

    LOOPS.append(("uvloop", uvloop.new_event_loop))
except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
    pass


@pytest.mark.parametrize("factory", [f for _n, f in LOOPS], ids=[n for n, _f in LOOPS])
def test_now_overrides_a_later_timer(factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    async def main() -> list[str]:
        fired: list[str] = []
        async with CurlTransport(FetchOptions().transport_options()) as transport:
            transport._act = lambda fd, what: fired.append("acted")  # type: ignore[method-assign]  # count, not drive
            transport._on_timer(10_000)  # libcurl: call me in 10 s
            transport._on_timer(0)  # ... no: now (a transfer resumed)
            transport._on_timer(0)  # (twice now is still once)
            for _ in range(3):
                await asyncio.sleep(0)
            assert fired == ["acted"]
            transport._on_timer(10_000)
            transport._on_timer(-1)  # cancelled: nothing runs
            for _ in range(3):
                await asyncio.sleep(0)
        return fired

    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(main()) == ["acted"]
