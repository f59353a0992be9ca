"""Transports: the HTTP client behind an engine, one small interface whatever moves the bytes.

An engine asks a transport for the response to exactly one request — the Item has decided its
URL, headers and proxy, and follows redirects itself — and reads the body in pieces; it never sees a
library's own types or exceptions. Each transport maps its failures onto tulip's errors, in the same
words (``_errors``), which is what lets the retry policy and the Report be the same for every engine.

    async with transport.get(url, headers, proxy) as response:     # AsyncTransport
        response.status, response.headers
        chunk = await response.read(65536)                          # b"" at the end

- ``curl``: libcurl through pycurl, every engine's default: a multi handle driven by the asyncio
  loop (``CurlTransport``), or by one thread for the blocking engines (``CurlSyncTransport``);
  ``_curl_errors`` maps libcurl's codes onto tulip's errors, ``_curl_sockets`` watches its sockets.
- ``lean``: tulip's own HTTP/1.1 client, asyncio Protocols around the wire reader (``_wire``,
  httptools), TLS by asyncio: ``--transport lean``, a little faster than libcurl on many small
  files over plain HTTP/1.1.
- ``blocking``: the same wire reader over plain sockets, ``lean`` for the threads and sequential
  engines.
- ``mock``: canned answers, no sockets, for tests.

Which one an engine gets is decided once, by ``open_async`` / ``open_sync``: by name, or any object
with those two methods (a TransportFactory, such as ``MockTransport``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiotulip.download.http.proxies import Proxy
from aiotulip.download.http.tls import Tls

__all__ = [
    "AsyncResponse",
    "AsyncTransport",
    "SyncResponse",
    "SyncTransport",
    "TransportFactory",
    "TransportOptions",
    "chunk_reader",
    "open_async",
    "open_sync",
]


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What every transport honours."""

    concurrency: int = 16  # connections in all
    per_host: int | None = None  # connections per host; None for no limit beyond concurrency
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # the longest silence while waiting for bytes
    tls: Tls = field(default_factory=Tls)
    buffer_size: int = 64 * 1024  # bytes a transport reads at a time (libcurl's receive buffer)
    http_version: str = "2"  # "1.1", "2" (over TLS by ALPN), "2-prior-knowledge" (h2c), "3", "3-only"
    http_auth: str = "basic"  # how credentials are offered: "basic" (at once), "digest", "any", "ntlm"
    ssh_key: str | None = None  # sftp: the private key (--ssh-key)
    key_passphrase: str | None = field(default=None, repr=False)  # ... and its passphrase (--pass)
    known_hosts: str | None = None  # sftp: the known_hosts file a host key must be in


class AsyncResponse(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read(self, n: int) -> bytes:
        """Return up to *n* bytes of the body, b"" at its end; raise TransportError or Timeout."""
        ...


class AsyncTransport(Protocol):
    async def __aenter__(self) -> AsyncTransport: ...
    async def __aexit__(self, *exc: object) -> None: ...

    def get(
        self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None
    ) -> AbstractAsyncContextManager[AsyncResponse, Any]:
        """Send GET *url* and give the response once its (final) headers have arrived."""
        ...


class SyncResponse(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...

    def read(self, n: int) -> bytes: ...


class SyncTransport(Protocol):
    def __enter__(self) -> SyncTransport: ...
    def __exit__(self, *exc: object) -> None: ...

    def get(
        self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None, deadline: float | None = None
    ) -> AbstractContextManager[SyncResponse, Any]:
        """As AsyncTransport.get; with a *deadline* (time.monotonic) that no wait may outlast."""
        ...


class TransportFactory(Protocol):
    """Makes the transports of a run: what ``FetchOptions.transport`` may hold instead of a name."""

    def open_sync(self, options: TransportOptions) -> SyncTransport: ...
    def open_async(self, options: TransportOptions) -> AsyncTransport: ...


def chunk_reader(response: AsyncResponse) -> Callable[[int], Awaitable[list[bytes]]]:
    """Read *response*'s body a list of pieces at a time, at most *n* bytes in all (an empty list at
    its end): a transport's own ``read_chunks`` where it has one, else ``read``. For a reader that
    writes the pieces together: libcurl's 16 KB pieces then go to the writer's thread unjoined."""
    read_chunks: Callable[[int], Awaitable[list[bytes]]] | None = getattr(response, "read_chunks", None)
    if read_chunks is not None:
        return read_chunks

    async def one(n: int) -> list[bytes]:
        chunk = await response.read(n)
        return [chunk] if chunk else []

    return one


def open_async(choice: str | TransportFactory, options: TransportOptions) -> AsyncTransport:
    """Return the asyncio engine's transport: libcurl's unless *choice* names another or is a factory."""
    if not isinstance(choice, str):
        return choice.open_async(options)
    if choice == "lean":
        from aiotulip.download.transports.lean import LeanTransport

        return LeanTransport(options)
    from aiotulip.download.transports.curl import CurlTransport

    return CurlTransport(options)


def open_sync(choice: str | TransportFactory, options: TransportOptions) -> SyncTransport:
    """Return a blocking engine's transport: libcurl's, the built-in one (``lean``), or a factory's."""
    if not isinstance(choice, str):
        return choice.open_sync(options)
    if choice == "lean":
        from aiotulip.download.transports.blocking import BlockingTransport

        return BlockingTransport(options)
    from aiotulip.download.transports.curl import CurlSyncTransport

    return CurlSyncTransport(options)
