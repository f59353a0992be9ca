"""The lean transport: keep-alive connections as asyncio Protocols around the wire reader.

Why not aiohttp: on many small files the client's own cost per request decides the race, and
aiohttp spends several times more CPU per request than the work needs (see ``PEERS.md``). Here a
request is one formatted write and the response is parsed by ``_wire.Reader`` (httptools); body
bytes wait in the Message for the engine to read. https is TLS from asyncio itself
(``start_tls``), and a proxy is a plain request for http or a CONNECT tunnel for https.

Connections: every address of a host is tried (RFC 8305's way: the next one starts 250 ms after
the last, or at once when it fails), and the one that answered is tried first next time, so
``localhost`` works whichever address ``/etc/hosts`` lists first. At most 256 connection attempts
are in flight at once: ten thousand SYNs at one listener overflow its accept queue and each dropped
one costs a 1 s retransmit; and the connections that complete together are carried on to their
first request in one loop turn (about 0.2 ms each: 512 at once made 100-150 ms loop lags on the
c10k workload, 256 make 30-50 ms, for a 0.25 s longer run).

Limits that keep a hostile server from costing memory or time: headers past 64 KiB, a body buffered
past 1 MiB without being read (reading pauses), a silence past the read timeout.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import ssl
from urllib.parse import urlsplit

from aiotulip.download.http.proxies import Proxy
from aiotulip.download.transports import TransportOptions
from aiotulip.download.transports._errors import builtin_only, connect_error, read_timeout, tls_error
from aiotulip.download.transports._wire import (
    Message,
    Reader,
    ResponseBase,
    check_tunnel,
    connect_request,
    header_lines,
    request_bytes,
    tunnel_open,
)
from aiotulip.errors import FetchError, TransportError

__all__ = ["LeanTransport"]

_HIGH_WATER = 1024 * 1024  # pause reading the socket when this much body waits unread
_CONNECTING = 256
_STAGGER = 0.25  # seconds before the next address is tried alongside (RFC 8305's default)

Key = tuple[str, str, int, Proxy | None]  # scheme, host, port, proxy


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: requests out, bytes in to the wire reader."""

    __slots__ = ("_lost", "_paused", "_waiter", "closed", "live", "loop", "reader", "transport", "watchdog")

    def __init__(self, loop: asyncio.AbstractEventLoop, watchdog: _Watchdog, live: set[_Connection]) -> None:
        self.loop = loop
        self.watchdog = watchdog
        self.transport: asyncio.Transport | None = None
        self.reader = Reader()
        self.closed = False
        self.live = live  # the transport's set of connections not yet lost
        # Made only when somebody waits for the end (a future per connection is 200 bytes times
        # ten thousand connections).
        self._lost: asyncio.Future[None] | None = None
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        if reader.broken:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        else:
            message = reader.message
            if message is not None and message.buffered > _HIGH_WATER:
                self.pause()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reader.closed()
        self._wake()
        self.live.discard(self)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    def lost(self) -> asyncio.Future[None]:
        """A future done once the transport is gone."""
        if self._lost is None:
            self._lost = self.loop.create_future()
            if self not in self.live:  # lost already, or never counted live
                self._lost.set_result(None)
        return self._lost

    # -- used by the transport and the response -----------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, url: str) -> None:
        """Wait for the next bytes (or the end); raise Timeout after a silence of the read timeout."""
        waiter = self.arm()
        try:
            await waiter
        except TimeoutError:
            raise read_timeout(url) from None
        finally:
            self.disarm()

    def arm(self) -> asyncio.Future[None]:
        """Return a future done at the next bytes (or the end), failed after a silence."""
        waiter = self._waiter = self.loop.create_future()
        self.watchdog.watch(self)
        return waiter

    def disarm(self) -> None:
        self.watchdog.forget(self)
        self._waiter = None

    def expire(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())

    def send(self, request: bytes, url: str) -> Message:
        assert self.transport is not None
        message = self.reader.expect(url)
        self.transport.write(request)
        return message

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def reusable(self) -> bool:
        return not self.closed and not self._paused and self.reader.reusable()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Watchdog:
    """One timer for every connection waiting for bytes, rather than one per wait.

    Ten thousand connections waiting at once held ten thousand timer handles (2.5 MB) and made and
    cancelled one on every read. A sweep every eighth of the timeout (at most a second) finds the
    silent ones; a timeout fires up to that much late.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.tick = max(0.005, min(1.0, timeout / 8))
        self.waiting: dict[_Connection, float] = {}  # connection -> when its silence is too long
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, conn: _Connection) -> None:
        self.waiting[conn] = self.loop.time() + self.timeout
        if self._timer is None:
            self._timer = self.loop.call_later(self.tick, self._sweep)

    def forget(self, conn: _Connection) -> None:
        self.waiting.pop(conn, None)

    def _sweep(self) -> None:
        self._timer = None
        now = self.loop.time()
        for conn in [conn for conn, deadline in self.waiting.items() if deadline <= now]:
            del self.waiting[conn]
            conn.expire()
        if self.waiting:
            self._timer = self.loop.call_later(self.tick, self._sweep)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Response(ResponseBase):
    """The engine's view of one response: status, headers, and the body as it arrives."""

    __slots__ = ()
    _conn: _Connection

    async def read(self, n: int) -> bytes:
        """Return up to *n* bytes of the body, b"" at its end."""
        message = self._message
        while message.waiting():
            await self._conn.wait(self.url)
        chunk = message.take(n)
        if message.buffered < _HIGH_WATER // 4:
            self._conn.resume()
        return chunk

    @property
    def complete(self) -> bool:
        return self._message.done


class _Get:
    """``async with transport.get(...) as response``: the request on the way in, the connection
    back to the pool (or closed) on the way out.

    A class rather than an ``asynccontextmanager``: on ten thousand requests in flight the
    generator, its frame and the wrapper cost 600 bytes each, and a little time on every request.
    """

    __slots__ = ("_conn", "_key", "_message", "headers", "proxy", "transport", "url")

    def __init__(self, transport: LeanTransport, url: str, headers: Mapping[str, str], proxy: Proxy | None):
        self.transport = transport
        self.url = url
        self.headers = headers
        self.proxy = proxy

    async def __aenter__(self) -> _Response:
        transport, url, proxy = self.transport, self.url, self.proxy
        try:
            key, target, host = transport._prepare(url, proxy)
            request = transport._request(target, host, self.headers, proxy, key[0])
        except (ValueError, UnicodeEncodeError) as exc:
            raise FetchError(f"invalid URL: {exc}", url=url) from None
        self._key = key
        self._conn, self._message = conn, message = await transport._exchange(key, request, url)
        return _Response(conn, message)

    async def __aexit__(self, kind: object, *exc: object) -> None:
        conn = self._conn
        if kind is not None or not self._message.done:
            conn.close()  # broken off, or the engine stopped early: the rest is not worth reading
        self.transport._release(self._key, conn)


class _Tunnel(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT: a status line and headers, then the tunnel is ours."""

    def __init__(self) -> None:
        self.buffer = b""
        self.answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if tunnel_open(self.buffer) is not None and not self.answered.done():
            self.answered.set_result(self.buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_result(self.buffer)


class LeanTransport:
    """GET over pooled keep-alive connections, http and https, direct or through a proxy."""

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self._idle: dict[Key, list[_Connection]] = collections.defaultdict(list)
        self._addresses: dict[tuple[str, int], asyncio.Future[list[str]]] = {}
        self._preferred: dict[tuple[str, int], str] = {}  # the address of a host that answered last
        self._live: set[_Connection] = set()  # every connection not yet lost, idle or not
        self._netlocs: dict[str, tuple[str, int]] = {}  # "host:port" seen before -> (host, port)
        self._last_headers: Mapping[str, str] | None = None
        self._last_lines = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: _Watchdog | None = None

    async def __aenter__(self) -> LeanTransport:
        self._loop = asyncio.get_running_loop()
        self._watchdog = _Watchdog(self._loop, self.options.read_timeout)
        self._connecting = asyncio.Semaphore(_CONNECTING)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._idle.clear()
        closing = [conn.lost() for conn in self._live]
        for conn in list(self._live):
            if conn.transport is not None:
                # abort, not close: a TLS close waits for the peer's goodbye, and the loop is ending.
                conn.closed = True
                conn.transport.abort()
        if closing:
            await asyncio.wait(closing, timeout=1.0)
        if self._watchdog is not None:
            self._watchdog.close()

    def _prepare(self, url: str, proxy: Proxy | None) -> tuple[Key, str, str]:
        builtin_only(url, proxy, "lean")
        """Return (pool key, request target, Host header) for *url*."""
        if url.startswith("http://"):
            netloc, slash, rest = url[7:].partition("/")
            where = self._netlocs.get(netloc)
            if where is not None and "#" not in rest:  # the usual case, without a full parse
                target = url if proxy is not None else (slash + rest if slash else "/" + rest)
                return ("http", where[0], where[1], proxy), target, netloc
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"unsupported URL: {url[:200]}", url=url)
        host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
        netloc = parts.netloc.rpartition("@")[2]  # never userinfo in a Host header
        if scheme == "http" and netloc == parts.netloc:
            self._netlocs.setdefault(netloc, (host, port))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = url.partition("#")[0] if scheme == "http" and proxy is not None else path
        return (scheme, host, port, proxy), target, netloc

    def _request(
        self, target: str, host: str, headers: Mapping[str, str], proxy: Proxy | None, scheme: str
    ) -> bytes:
        if headers is not self._last_headers:  # most runs send one header set: format it once
            self._last_headers = headers
            self._last_lines = header_lines(headers.items())
        lines = self._last_lines
        if proxy is not None and scheme == "http":  # a plain request through the proxy carries its auth
            lines += header_lines(proxy.headers)
        return request_bytes(target, host, lines)

    def get(self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None) -> _Get:
        return _Get(self, url, headers, proxy)

    async def _exchange(self, key: Key, request: bytes, url: str) -> tuple[_Connection, Message]:
        """Send *request* and wait for the response headers, on a pooled or new connection.

        A pooled connection may have been closed by the server while idle; if it fails before a
        single byte of response, the request goes again on a new connection (safe: it is a GET).
        Written as one coroutine, waits included: every frame here is held by every request in
        flight (10,000 on the c10k workload).
        """
        idle = self._idle[key]
        while True:
            conn = None
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    break
                conn = None
            pooled = conn is not None
            if conn is None:
                conn = await self._connect(key, url)
            message = conn.send(request, url)
            try:
                while not message.status:
                    if message.error is not None:
                        raise message.error
                    waiter = conn.arm()
                    try:
                        await waiter
                    except TimeoutError:
                        raise read_timeout(url) from None
                    finally:
                        conn.disarm()
            except TransportError:
                conn.close()
                if pooled and not conn.reader.received:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            return conn, message

    # -- connecting ---------------------------------------------------------------------------------

    async def _connect(self, key: Key, url: str) -> _Connection:
        scheme, host, port, proxy = key
        loop = self._loop or asyncio.get_running_loop()
        via_host, via_port = (proxy.host, proxy.port) if proxy is not None else (host, port)
        watchdog = self._watchdog
        if watchdog is None or watchdog.loop is not loop:
            watchdog = self._watchdog = _Watchdog(loop, self.options.read_timeout)

        def make() -> _Connection:
            return _Connection(loop, watchdog, self._live)

        try:
            # The timeout starts once our own queue lets the attempt go: waiting behind other
            # attempts is not the server being slow (and ten thousand waiting timeouts cost 4 MB).
            async with self._connecting, asyncio.timeout(self.options.connect_timeout):
                addresses = await self._resolve(loop, via_host, via_port)
                preferred = self._preferred.get((via_host, via_port))
                if preferred is not None and preferred in addresses and addresses[0] != preferred:
                    # The address that answered last time first (a fresh list: others are reading the
                    # cached one).
                    addresses = [preferred, *(a for a in addresses if a != preferred)]
                transport, conn = await self._open(loop, make, via_host, addresses, via_port)
                if not conn.closed:
                    self._live.add(conn)
                if scheme == "https":
                    try:
                        if proxy is not None:
                            await self._tunnel(transport, proxy, host, port, url)
                        conn.transport = await loop.start_tls(
                            transport, conn, self.options.tls.context(), server_hostname=host
                        )
                    except BaseException:
                        transport.abort()  # a tunnel refused, a certificate not trusted: nothing to keep
                        raise
        except FetchError:
            raise
        except TimeoutError:
            proxied = proxy is not None
            raise connect_error(TimeoutError(), via_host, via_port, url=url, proxy=proxied) from None
        except OSError as exc:  # ssl.SSLError included
            if scheme == "https" and not isinstance(exc, socket.gaierror) and _is_tls(exc):
                raise tls_error(cast("ssl.SSLError", exc), url=url) from None
            raise connect_error(exc, via_host, via_port, url=url, proxy=proxy is not None) from None
        return conn

    async def _open(
        self, loop: asyncio.AbstractEventLoop, make: Any, host: str, addresses: list[str], port: int
    ) -> tuple[asyncio.Transport, _Connection]:
        """Connect to the first address that answers, starting the next every 250 ms (RFC 8305)."""
        if len(addresses) == 1:
            return await loop.create_connection(make, addresses[0], port)
        pending: set[asyncio.Task[Any]] = set()
        owners: dict[asyncio.Task[Any], str] = {}
        errors: list[BaseException] = []
        try:
            for index, address in enumerate(addresses):
                task = loop.create_task(loop.create_connection(make, address, port))
                owners[task] = address
                pending.add(task)
                last = index == len(addresses) - 1
                while pending:
                    done, pending = await asyncio.wait(
                        pending, timeout=None if last else _STAGGER, return_when=asyncio.FIRST_COMPLETED
                    )
                    if not done:
                        break  # no answer yet: start the next address beside this one
                    for finished in done:
                        if finished.exception() is None:
                            self._prefer(host, port, owners[finished])
                            return finished.result()
                        errors.append(cast(BaseException, finished.exception()))
                    if not last:
                        break  # this one failed: the next starts at once
            raise errors[0] if errors else OSError("no address to connect to")
        finally:
            for task in pending:
                task.cancel()
            for task in pending:
                try:
                    transport, _ = await task
                except BaseException:  # a loser of the race: its failure is no news
                    continue
                transport.close()

    def _prefer(self, host: str, port: int, address: str) -> None:
        self._preferred[(host, port)] = address

    async def _resolve(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[str]:
        """Return the addresses of *host*: looked up once per host, however many connect at once.

        Ten thousand connections opened together would otherwise ask getaddrinfo (a thread-pool
        call each) ten thousand times before the first answer came back.
        """
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [host]
        lookup = self._addresses.get((host, port))
        if lookup is None:
            lookup = self._addresses[(host, port)] = asyncio.ensure_future(self._lookup(loop, host, port))
        try:
            return await asyncio.shield(lookup)
        except OSError:
            self._addresses.pop((host, port), None)  # let a later connection try again
            raise

    @staticmethod
    async def _lookup(loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[str]:
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except UnicodeError:  # (an empty label, one over 63 characters: no name to look up)
            raise socket.gaierror(socket.EAI_NONAME, "not a valid host name") from None
        found: list[str] = []
        for info in infos:
            address = str(info[4][0])
            if address not in found:
                found.append(address)
        return found

    async def _tunnel(
        self, transport: asyncio.Transport, proxy: Proxy, host: str, port: int, url: str
    ) -> None:
        """Ask the proxy for a tunnel to *host*:*port* (CONNECT) on *transport*."""
        original = transport.get_protocol()
        tunnel = _Tunnel()
        transport.set_protocol(tunnel)
        transport.write(connect_request(host, port, proxy))
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                answer = await tunnel.answered
        except TimeoutError:
            transport.abort()
            raise connect_error(TimeoutError(), proxy.host, proxy.port, url=url, proxy=True) from None
        transport.set_protocol(original)
        if not tunnel_open(answer):
            transport.close()
        check_tunnel(answer, proxy, url)

    def _release(self, key: Key, conn: _Connection) -> None:
        if conn.reusable():
            self._idle[key].append(conn)
        else:
            conn.close()


def _is_tls(exc: OSError) -> bool:
    import ssl

    return isinstance(exc, ssl.SSLError)
