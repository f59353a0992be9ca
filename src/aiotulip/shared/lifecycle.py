"""Things that start and stop — servers in a thread, in a process, nginx — used with ``with``."""

from __future__ import annotations

from types import TracebackType

__all__ = ["Service"]


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
