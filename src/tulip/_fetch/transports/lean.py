"""The lean transport: keep-alive connections as asyncio Protocols, responses parsed by httptools.

Why a second HTTP/1.1 client beside aiohttp: on many small files the client's own cost per request
decides the race, and aiohttp spends several times more CPU per request than the work needs
(see ``PEERS.md``). Here a request is one formatted write; httptools (the C parser uvicorn uses)
turns the bytes that come back into callbacks; body bytes wait in a deque for the engine to read.
What it leaves out, it hands on: ``https`` URLs (and redirects to them) go to the aiohttp transport.

Limits that keep a hostile server from costing memory or time: headers past 64 KiB, or a body
buffered past 1 MiB without being read (reading pauses), or a silence past the read timeout.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import httptools

from tulip._fetch.transports import BASE_HEADERS, TransportOptions
from tulip.errors import FetchError, Timeout, TransportError

__all__ = ["LeanTransport"]

_MAX_HEADER_BYTES = 64 * 1024
_HIGH_WATER = 1024 * 1024  # pause reading the socket when this much body waits unread
_CONNECTING = 512
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_FIXED = "".join(f"{name}: {value}\r\n" for name, value in BASE_HEADERS.items())


class _Headers(dict[str, str]):
    """Response headers under lower-case names, looked up case-insensitively."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key.lower() if isinstance(key, str) else key)


class _Response:
    """One response on a connection: status and headers, then body bytes as they arrive."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_conn",
        "_done",
        "_error",
        "_waiter",
        "body_bytes",
        "header_bytes",
        "headers",
        "status",
        "url",
    )  # fmt: skip

    def __init__(self, conn: _Connection, url: str) -> None:
        self._conn = conn
        self.url = url
        self.status = 0
        self.headers = _Headers()
        self.header_bytes = 0
        self.body_bytes = 0  # received so far, by the parser or past it
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._done = False  # the whole message has been parsed
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- fed by the protocol ----------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _HIGH_WATER:
            self._conn.pause()
        self._wake()

    def finish(self) -> None:
        self._done = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        if not self._done:
            self._error = error
        self._wake()

    # -- read by the engine -----------------------------------------------------------------------

    async def _wait(self, timeout: float) -> None:
        loop = self._conn.loop
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def read(self, n: int) -> bytes:
        """Return up to *n* bytes of the body, b"" at its end."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            try:
                await self._wait(self._conn.read_timeout)
            except TimeoutError:
                raise Timeout("timed out waiting for the server", url=self.url) from None
        chunk = self._chunks.popleft()
        if len(chunk) > n:
            chunk, rest = chunk[:n], chunk[n:]
            self._chunks.appendleft(rest)
        self._buffered -= len(chunk)
        if self._buffered < _HIGH_WATER // 4:
            self._conn.resume()
        return chunk


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: requests out, httptools callbacks in."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self.loop = loop
        self.read_timeout = read_timeout
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: _Response | None = None
        self.headers_ready: asyncio.Future[None] | None = None
        self.closed = False
        self.keep_alive = False
        self.received = False  # any byte of the current response has arrived
        self._paused = False
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._raw_remaining = 0  # body bytes still to come past the parser (0: the parser has them)
        self._raw_keep_alive = False
        self._raw_used = False

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response._done:
            # Bytes nobody asked for (a body longer than its Content-Length, say): the connection
            # can no longer be trusted to frame the next response.
            self._abort(TransportError("the server sent more than it announced", url=self._url()))
            return
        self.received = True
        remaining = self._raw_remaining
        if remaining:
            # The rest of a body of known length: bytes go to the reader as they came off the
            # socket, without the parser making a copy of each chunk (most of a large file's cost).
            if len(data) > remaining:
                self._abort(TransportError("the server sent more than it announced", url=response.url))
                return
            self._raw_remaining = remaining - len(data)
            response.body_bytes += len(data)
            response.feed(data)
            if not self._raw_remaining:
                self.keep_alive = self._raw_keep_alive
                response.finish()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._abort(TransportError("unexpected protocol upgrade", url=self._url()))
        except httptools.HttpParserError as exc:
            self._abort(TransportError(f"bad response: {exc}", url=self._url()))
        except _TooLarge as exc:
            self._abort(TransportError(str(exc), url=self._url()))
            return
        if self.headers_ready is None and not response._done and response.status >= 200:
            length = response.headers.get("content-length")
            if length is not None and length.isdigit() and "transfer-encoding" not in response.headers:
                # Headers are in and the body's length is known: the parser's work is done.
                self._raw_remaining = max(0, int(length) - response.body_bytes)
                self._raw_keep_alive = self.parser.should_keep_alive()
                self._raw_used = self._raw_remaining > 0

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None and not response._done:
            if self.headers_ready is None and self._length_known_or_until_close(response):
                # A body without a length ends when the connection does; one with a length is judged
                # by the engine, which knows how many bytes it got and says so (and resumes).
                response.finish()
            else:
                error = TransportError("server closed the connection", url=response.url)
                response.fail(error)
                self._headers_failed(error)

    # -- httptools callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.response is None or self.response._done:  # a second response in the same bytes
            raise _TooLarge("the server sent more than it announced")

    def on_header(self, name: bytes, value: bytes) -> None:
        response = self.response
        if response is None:
            return
        response.header_bytes += len(name) + len(value) + 4
        if response.header_bytes > _MAX_HEADER_BYTES:
            raise _TooLarge(f"response headers larger than {_MAX_HEADER_BYTES} bytes")
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None:
            return
        response.status = self.parser.get_status_code()
        headers = response.headers
        setitem, contains = dict.__setitem__, dict.__contains__  # keys are lower-case already
        for name, value in self._raw_headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            setitem(
                headers, key, f"{dict.__getitem__(headers, key)}, {text}" if contains(headers, key) else text
            )
        self._raw_headers = []
        waiter, self.headers_ready = self.headers_ready, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response.body_bytes += len(body)
            self.response.feed(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.response is not None:
            self.response.finish()

    # -- used by the transport ------------------------------------------------------------------------

    def send(self, request: bytes, url: str) -> _Response:
        assert self.transport is not None
        self.response = response = _Response(self, url)
        if self._raw_used:  # the last body bypassed the parser, which still expects its bytes
            self.parser = httptools.HttpResponseParser(self)
        self._raw_used = False
        self.headers_ready = self.loop.create_future()
        self.received = False
        self.keep_alive = False
        self.transport.write(request)
        return response

    async def wait_headers(self) -> None:
        waiter = self.headers_ready
        if waiter is None:
            return
        timer = self.loop.call_later(self.read_timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def reusable(self) -> bool:
        response = self.response
        return (
            not self.closed
            and self.keep_alive
            and response is not None
            and response._done
            and not response._chunks
            and not self._paused
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _abort(self, error: TransportError) -> None:
        if self.response is not None:
            self.response.fail(error)
        self._headers_failed(error)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _headers_failed(self, error: BaseException) -> None:
        waiter, self.headers_ready = self.headers_ready, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _length_known_or_until_close(self, response: _Response) -> bool:
        # Only a chunked body cut short cannot be told from a complete one by its length.
        return "chunked" not in response.headers.get("transfer-encoding", "")

    def _url(self) -> str:
        return self.response.url if self.response is not None else ""


class _TooLarge(Exception):
    """The server sent more than a response may hold (headers past the limit, extra bytes)."""


class LeanTransport:
    """GET over pooled keep-alive connections; https goes through the aiohttp transport."""

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self._idle: dict[tuple[str, int], list[_Connection]] = collections.defaultdict(list)
        self._addresses: dict[tuple[str, int], asyncio.Future[Any]] = {}
        self._netlocs: dict[str, tuple[str, int]] = {}  # "host:port" seen before -> (host, port)
        self._fallback: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> LeanTransport:
        self._loop = asyncio.get_running_loop()
        # Connection attempts in flight at once. Ten thousand SYNs at one listener overflow its
        # accept queue (somaxconn is 4096 on Linux), and every dropped SYN costs a 1 s retransmit:
        # pacing the attempts is faster than flooding them.
        self._connecting = asyncio.Semaphore(_CONNECTING)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for connections in self._idle.values():
            for conn in connections:
                conn.close()
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.__aexit__(*exc)
            self._fallback = None

    def _request_head(self, url: str) -> tuple[tuple[str, int], bytes] | None:
        """Return ((host, port), the request's first lines) for an http URL; None for others."""
        netloc, slash, rest = url[7:].partition("/") if url.startswith("http://") else ("", "", "")
        where = self._netlocs.get(netloc)
        if where is None or "#" in rest:
            # Anything unusual (another scheme, userinfo, IPv6, a fragment) takes the full parser.
            parts = urlsplit(url)
            if parts.scheme != "http" or not parts.hostname:
                return None
            netloc = parts.netloc.rsplit("@", 1)[-1]
            where = (parts.hostname, parts.port or 80)
            if "@" not in parts.netloc:  # userinfo must never reach the Host header
                self._netlocs.setdefault(parts.netloc, where)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        else:
            target = slash + rest if slash else "/" + rest
        head = f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\n{_FIXED}".encode("latin-1", "strict")
        return where, head

    @asynccontextmanager
    async def get(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[Any]:
        for _redirect in range(self.options.max_redirects + 1):
            try:
                prepared = self._request_head(url)
            except (ValueError, UnicodeEncodeError) as exc:
                raise FetchError(f"invalid URL: {exc}", url=url) from None
            if prepared is None:
                if urlsplit(url).scheme != "https":
                    raise FetchError(f"unsupported URL scheme: {url[:100]}", url=url)
                async with (await self._https()).get(url, headers) as response:
                    yield response
                return
            key, head = prepared
            extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            request = head + extra.encode("latin-1") + b"\r\n"
            conn, response = await self._exchange(key, request, url)
            try:
                location = response.headers.get("location")
                if response.status in _REDIRECTS and location:
                    url = urljoin(url, location)
                    continue
                yield response
                if not response._done:  # the engine stopped early: the rest is not worth reading
                    conn.close()
            except BaseException:
                conn.close()
                raise
            finally:
                self._release(key, conn)
            return
        raise FetchError("too many redirects", url=url)

    async def _exchange(
        self, key: tuple[str, int], request: bytes, url: str
    ) -> tuple[_Connection, _Response]:
        """Send *request* and wait for the response headers, on a pooled or new connection.

        A pooled connection may have been closed by the server while idle; if it fails before a
        single byte of response, the request goes again on a new connection (safe: it is a GET).
        """
        idle = self._idle[key]
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            try:
                return conn, await self._request(conn, request, url)
            except TransportError:
                if conn.received:
                    raise
        conn = await self._connect(key, url)
        return conn, await self._request(conn, request, url)

    async def _request(self, conn: _Connection, request: bytes, url: str) -> _Response:
        """Send *request* on *conn* and wait for the response headers; close *conn* if that fails."""
        response = conn.send(request, url)
        try:
            await conn.wait_headers()
        except TimeoutError:
            conn.close()
            raise Timeout("timed out waiting for the server", url=url) from None
        except BaseException:
            conn.close()
            raise
        return response

    async def _connect(self, key: tuple[str, int], url: str) -> _Connection:
        loop = self._loop or asyncio.get_running_loop()
        host, port = key
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                address = await self._resolve(loop, host, port)
                async with self._connecting:
                    _transport, conn = await loop.create_connection(
                        lambda: _Connection(loop, self.options.read_timeout), address, port
                    )
        except TimeoutError:
            raise Timeout(f"timed out connecting to {host}:{port}", url=url) from None
        except OSError as exc:
            raise TransportError(f"cannot connect: {exc.strerror or exc}", url=url) from None
        return conn

    async def _resolve(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> str:
        """Return an address for *host*: looked up once per host, however many connect at once.

        Ten thousand connections opened together would otherwise ask getaddrinfo (a thread-pool
        call each) ten thousand times before the first answer came back.
        """
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return host
        lookup = self._addresses.get((host, port))
        if lookup is None:
            lookup = self._addresses[(host, port)] = asyncio.ensure_future(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            )
        try:
            infos = await asyncio.shield(lookup)
        except OSError:
            self._addresses.pop((host, port), None)  # let a later connection try again
            raise
        return str(infos[0][4][0])

    def _release(self, key: tuple[str, int], conn: _Connection) -> None:
        if conn.reusable():
            conn.response = None
            self._idle[key].append(conn)
        else:
            conn.close()

    async def _https(self) -> Any:
        if self._fallback is None:
            from tulip._fetch.transports.aiohttp import AiohttpTransport

            self._fallback = AiohttpTransport(self.options)
            await self._fallback.__aenter__()
        return self._fallback
