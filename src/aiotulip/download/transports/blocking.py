"""The blocking transport: the lean transport's wire reader over plain sockets, for threads.

The threads and sequential engines use it; it frames responses with the same ``_wire.Reader`` as
the asyncio engine's lean transport, so all three engines read a strange server the same way.
Connections are kept alive in a pool shared by the threads (a lock guards the lists, never a
socket: a connection belongs to one thread from checkout to release). ``socket.create_connection``
tries every address of a host in turn; TLS is the standard library's, through the run's one
SSLContext; a proxy gets absolute URLs for http and a CONNECT tunnel for https.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

from aiotulip.download.http.proxies import Proxy
from aiotulip.download.transports import TransportOptions
from aiotulip.download.transports._errors import builtin_only, connect_error, read_timeout, tls_error
from aiotulip.download.transports._wire import (
    MAX_HEADER_BYTES,
    Message,
    Reader,
    ResponseBase,
    check_tunnel,
    connect_request,
    header_lines,
    request_bytes,
)
from aiotulip.errors import FetchError, TransportError

__all__ = ["BlockingTransport"]

_RECV = 256 * 1024

Key = tuple[str, str, int, Proxy | None]


class _Connection:
    """One keep-alive connection, used by one thread at a time."""

    __slots__ = ("closed", "interrupted", "reader", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = Reader()
        self.closed = False
        self.interrupted = False  # the run was: the end of the stream that follows is not the body's

    def interrupt(self) -> None:
        """Wake the thread blocked reading this connection (the run is interrupted)."""
        self.interrupted = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def send(self, request: bytes, url: str) -> Message:
        message = self.reader.expect(url)
        try:
            self.sock.sendall(request)
        except OSError as exc:
            self.close()
            message.error = TransportError(f"cannot send the request: {exc.strerror or exc}", url=url)
        return message

    def pump(self, url: str) -> None:
        """Read once from the socket into the reader (the end of the connection included)."""
        try:
            data = self.sock.recv(_RECV)
            if self.interrupted:
                raise ConnectionAbortedError("interrupted")
        except TimeoutError:
            self.close()
            raise read_timeout(url) from None
        except ssl.SSLError as exc:
            self.close()
            raise tls_error(exc, url=url) from None
        except OSError as exc:
            data = b""
            if not self.interrupted:  # (an end made by interrupt() would close a body of no length)
                self.reader.closed()
            self.close()
            message = self.reader.message
            if message is not None and message.error is None and not message.done:
                message.error = TransportError(f"connection lost: {exc.strerror or exc}", url=url)
            return
        if data:
            self.reader.feed(data)
            if self.reader.broken:
                self.close()
        else:
            self.reader.closed()
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()


class _Response(ResponseBase):
    __slots__ = ()
    _conn: _Connection

    def read(self, n: int) -> bytes:
        message = self._message
        while message.waiting():
            self._conn.pump(self.url)
        return message.take(n)


class BlockingTransport:
    """GET over pooled keep-alive sockets, http and https, direct or through a proxy."""

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self._idle: dict[Key, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._deadline = threading.local()  # the item deadline of the request this thread is making
        self._live: set[_Connection] = set()  # connections a thread is using (interrupt() wakes them)
        self._interrupted = False

    def __enter__(self) -> BlockingTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()

    @contextmanager
    def get(
        self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None, deadline: float | None = None
    ) -> Iterator[_Response]:
        """GET *url*; with a *deadline* (``time.monotonic``), no wait outlasts it (the item's total)."""
        try:
            key, request = self._prepare(url, headers, proxy)
        except (ValueError, UnicodeEncodeError) as exc:
            raise FetchError(f"invalid URL: {exc}", url=url) from None
        self._deadline.value = deadline
        conn, message = self._exchange(key, request, url)
        try:
            yield _Response(conn, message)
            if not message.done:  # the engine stopped early: the rest is not worth reading
                conn.close()
        except BaseException:
            conn.close()
            raise
        finally:
            self._release(key, conn)

    def interrupt(self) -> None:
        """End every exchange under way, waking its reader (the run is interrupted): a reader of a
        server that had stopped sending waited out the read timeout before Ctrl-C could end the run."""
        with self._lock:
            self._interrupted = True
            live = list(self._live)
        for conn in live:
            conn.interrupt()

    def _prepare(self, url: str, headers: Mapping[str, str], proxy: Proxy | None) -> tuple[Key, bytes]:
        builtin_only(url, proxy, "lean")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"unsupported URL: {url[:200]}", url=url)
        host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
        lines = header_lines(headers.items())
        if proxy is not None and scheme == "http":
            target = url.partition("#")[0]
            lines += header_lines(proxy.headers)
        else:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return (scheme, host, port, proxy), request_bytes(target, parts.netloc.rpartition("@")[2], lines)

    def _exchange(self, key: Key, request: bytes, url: str) -> tuple[_Connection, Message]:
        """Send *request* and wait for the final response's headers, on a pooled or new connection.

        A pooled connection the server closed while idle fails before a single byte of response;
        the request then goes again on a new connection (safe: it is a GET).
        """
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                break
            try:
                return conn, self._headers(conn, request, url)
            except TransportError:
                if conn.reader.received:
                    raise
        conn = self._connect(key, url)
        return conn, self._headers(conn, request, url)

    def _bounded(self, seconds: float) -> float:
        """*seconds*, or what is left before this thread's item deadline if that is sooner."""
        deadline = getattr(self._deadline, "value", None)
        if deadline is None:
            return seconds
        return max(0.001, min(seconds, deadline - time.monotonic()))

    def _headers(self, conn: _Connection, request: bytes, url: str) -> Message:
        with self._lock:
            if self._interrupted:
                conn.close()
                raise TransportError("the run was interrupted", url=url)
            self._live.add(conn)
        conn.sock.settimeout(self._bounded(self.options.read_timeout))  # a pooled one kept the last value
        message = conn.send(request, url)
        try:
            while not message.status:
                if message.error is not None:
                    raise message.error
                conn.pump(url)
        except BaseException:
            conn.close()
            with self._lock:
                self._live.discard(conn)
            raise
        return message

    def _connect(self, key: Key, url: str) -> _Connection:
        scheme, host, port, proxy = key
        via_host, via_port = (proxy.host, proxy.port) if proxy is not None else (host, port)
        try:
            sock = socket.create_connection(
                (via_host, via_port), timeout=self._bounded(self.options.connect_timeout)
            )
        except UnicodeError:  # (an empty label, one over 63 characters: no name to look up)
            error = socket.gaierror(socket.EAI_NONAME, "not a valid host name")
            raise connect_error(error, via_host, via_port, url=url, proxy=proxy is not None) from None
        except OSError as exc:
            raise connect_error(exc, via_host, via_port, url=url, proxy=proxy is not None) from None
        tunnelling = False
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if proxy is not None:
                    tunnelling = True
                    self._tunnel(sock, proxy, host, port, url)
                    tunnelling = False
                sock = self.options.tls.context().wrap_socket(sock, server_hostname=host)
            sock.settimeout(self._bounded(self.options.read_timeout))
        except ssl.SSLError as exc:
            sock.close()
            raise tls_error(exc, url=url) from None
        except OSError as exc:  # a timeout included: the proxy's silence, or the server's
            sock.close()
            failure = TimeoutError() if isinstance(exc, TimeoutError) else exc
            if tunnelling:
                raise connect_error(failure, via_host, via_port, url=url, proxy=True) from None
            raise connect_error(failure, host, port, url=url) from None
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    @staticmethod
    def _tunnel(sock: socket.socket, proxy: Proxy, host: str, port: int, url: str) -> None:
        sock.sendall(connect_request(host, port, proxy))
        answer = b""
        while b"\r\n\r\n" not in answer and len(answer) <= MAX_HEADER_BYTES:
            # One byte at a time past the first read would be slow; the proxy's answer is small and
            # nothing follows it until our TLS hello, so reading what is there is safe.
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        check_tunnel(answer, proxy, url)

    def _release(self, key: Key, conn: _Connection) -> None:
        with self._lock:
            self._live.discard(conn)
            if not (conn.closed or not conn.reader.reusable()):
                self._idle.setdefault(key, []).append(conn)
                return
        conn.close()
