"""Things that start and stop — servers in a thread, in a process, nginx — used with ``with``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from aiotulip.shared.signals import left_to_main

__all__ = ["LoopThread", "Service"]


class Service:
    """A ``with`` block around ``start()`` (which returns the base URL) and ``stop()``."""

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Closable(Protocol):
    url: str

    async def close(self) -> None: ...


R = TypeVar("R", bound=_Closable)


class LoopThread(Service, Generic[R]):
    """A server on an event loop in a daemon thread, for code under test that blocks: ``start()``
    returns once :meth:`_open` has the server listening (or raises what it raised), ``stop()``
    closes the server on its own loop and ends the thread."""

    _thread_name = "tulip-service"

    def __init__(self, new_loop: Callable[[], asyncio.AbstractEventLoop] | None = None) -> None:
        self.url = ""
        self.running: R | None = None
        self._new_loop = new_loop or asyncio.new_event_loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _open(self) -> R:
        raise NotImplementedError

    def start(self) -> str:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            left_to_main()
            loop = self._new_loop()
            self._loop = loop
            try:
                self.running = running = loop.run_until_complete(self._open())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(running.close())
            loop.close()

        self._thread = threading.Thread(target=main, name=self._thread_name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        assert self.running is not None
        self.url = self.running.url
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop = self._thread = None
