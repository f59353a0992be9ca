"""Transports: the HTTP client behind an engine, one small interface whatever the library.

An engine asks a transport for a response and reads it in pieces; it never sees the library's own
types or exceptions. Each transport maps its library's failures onto tulip's errors (TransportError,
Timeout, FetchError), which is what lets the retry policy and the Report be the same for every engine.

    async with transport.get(url, headers) as response:       # AsyncTransport
        response.status, response.headers
        chunk = await response.read(65536)                     # b"" at the end

Which transport an engine gets is decided once, by ``open_async`` / ``open_sync``: by name
(``auto``, ``lean``, ``aiohttp``; the blocking engines always use urllib3), or any object with those
two methods — ``MockTransport`` in ``mock.py`` is one, for tests without sockets.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tulip._version import __version__

if TYPE_CHECKING:
    from tulip._fetch.options import FetchOptions

__all__ = [
    "USER_AGENT",
    "AsyncResponse",
    "AsyncTransport",
    "SyncResponse",
    "SyncTransport",
    "TransportFactory",
    "TransportOptions",
    "open_async",
    "open_sync",
]


USER_AGENT = f"tulip/{__version__}"

# Bodies are saved exactly as served: asking for "identity" keeps a server from compressing them
# (and a hostile server's gzip bomb from ever being decoded).
BASE_HEADERS = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What every transport honours."""

    concurrency: int = 16  # connections in all
    per_host: int | None = None  # connections per host; None for no limit beyond concurrency
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # the longest silence while waiting for bytes
    max_redirects: int = 10


class AsyncResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self, n: int) -> bytes:
        """Return up to *n* bytes of the body, b"" at its end; raise TransportError or Timeout."""
        ...


class AsyncTransport(Protocol):
    async def __aenter__(self) -> AsyncTransport: ...
    async def __aexit__(self, *exc: object) -> None: ...

    def get(self, url: str, headers: Mapping[str, str]) -> AbstractAsyncContextManager[AsyncResponse]:
        """Send GET *url* and give the response once its headers have arrived."""
        ...


class SyncResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    def read(self, n: int) -> bytes: ...


class SyncTransport(Protocol):
    def __enter__(self) -> SyncTransport: ...
    def __exit__(self, *exc: object) -> None: ...

    def get(self, url: str, headers: Mapping[str, str]) -> AbstractContextManager[SyncResponse]: ...


class TransportFactory(Protocol):
    """Makes the transports of a run: what ``FetchOptions.transport`` may hold instead of a name."""

    def open_sync(self, options: TransportOptions) -> SyncTransport: ...
    def open_async(self, options: TransportOptions) -> AsyncTransport: ...


def transport_options(options: FetchOptions, *, concurrency: int | None = None) -> TransportOptions:
    """Return what the transports need to know of *options*."""
    return TransportOptions(
        concurrency=concurrency or options.concurrency,
        per_host=options.per_host,
        connect_timeout=options.connect_deadline,
        read_timeout=options.timeout,
    )


def open_async(options: FetchOptions) -> AsyncTransport:
    """Return the asyncio engine's transport: lean (httptools) when installed, else aiohttp."""
    choice = options.transport
    if not isinstance(choice, str):
        return choice.open_async(transport_options(options))
    if choice in ("auto", "lean"):
        try:
            from tulip._fetch.transports.lean import LeanTransport
        except ImportError:
            if choice == "lean":
                raise
        else:
            return LeanTransport(transport_options(options))
    from tulip._fetch.transports.aiohttp import AiohttpTransport

    return AiohttpTransport(transport_options(options))


def open_sync(options: FetchOptions, *, concurrency: int | None = None) -> SyncTransport:
    """Return a blocking engine's transport: urllib3, unless *options* name a factory."""
    choice = options.transport
    if not isinstance(choice, str):
        return choice.open_sync(transport_options(options, concurrency=concurrency))
    from tulip._fetch.transports.urllib3 import Urllib3Transport

    return Urllib3Transport(transport_options(options, concurrency=concurrency))
