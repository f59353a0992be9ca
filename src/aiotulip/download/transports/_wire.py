"""HTTP/1.1 on the wire, with no I/O: requests as bytes out, responses from bytes fed in.

The lean (asyncio) and blocking transports are two I/O shells around this one reader, so they frame
every response the same way — which is most of what "identical Reports" means on a strange server.
httptools (llhttp, the parser of Node.js) does the parsing; this module adds what a downloader
needs on top of it:

- interim responses (``100 Continue``, ``103 Early Hints``) are skipped, the final one is the answer;
- the parser is strict, and its complaints become a ProtocolError: a Content-Length that is not one
  plain number (``-1``, ``abc``, ``5000, 100``, or given twice), one beside Transfer-Encoding, a bad
  chunk, a bad status line — never guessed at;
- headers past 64 KiB, bytes after the end of a response, or a protocol upgrade end the connection;
- a body of known length bypasses the parser once the headers are in (no copy per chunk);
- the end of the connection ends a body without a length, and is an error for a chunked one; a body
  with a length that ends early is handed on short, for the Item to judge (and resume).
"""

from __future__ import annotations

from collections.abc import Iterable

import httptools

from aiotulip.download.http.headers import MAX_HEADER_BYTES, Headers, add_header, framing_error
from aiotulip.download.http.proxies import Proxy, proxy_refused, sends_credentials
from aiotulip.errors import FetchError, ProtocolError, ProxyError, TransportError

__all__ = [
    "MAX_HEADER_BYTES",
    "Headers",
    "Message",
    "Reader",
    "check_tunnel",
    "connect_request",
    "header_lines",
    "request_bytes",
    "tunnel_open",
]


def header_lines(headers: Iterable[tuple[str, str]]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers)


def request_bytes(target: str, host: str, lines: str) -> bytes:
    """Return a GET for *target* (a path, or an absolute URL through a proxy) with header *lines*.

    UTF-8, as curl and aiohttp send a header value the user typed in it (the target and the Host
    are ASCII by now: the policy encoded them); a validator echoed back keeps its bytes
    (``http.ranges.echo``)."""
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{lines}\r\n".encode("utf-8", "surrogateescape")


def connect_request(host: str, port: int, proxy: Proxy) -> bytes:
    """Return the CONNECT that asks *proxy* for a tunnel to *host*:*port*."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = header_lines(proxy.headers)
    return f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{lines}\r\n".encode("latin-1")


def tunnel_open(answer: bytes) -> bool | None:
    """Whether the proxy's *answer* so far opens the tunnel: None while its head is incomplete."""
    if b"\r\n\r\n" not in answer:
        return None if len(answer) <= MAX_HEADER_BYTES else False
    return _tunnel_status(answer) == 200


def check_tunnel(answer: bytes, proxy: Proxy, url: str) -> None:
    """Raise the ProxyError that a proxy's refusal (or silence) of a CONNECT means."""
    if tunnel_open(answer):
        return
    status = _tunnel_status(answer) if b"\r\n\r\n" in answer else 0
    if status == 0:
        raise ProxyError(f"the proxy {proxy.address} closed the tunnel before answering", url=url)
    raise proxy_refused(proxy.address, status, url=url, credentials=sends_credentials(proxy))


def _tunnel_status(answer: bytes) -> int:
    head = answer.partition(b"\r\n")[0].split()
    return int(head[1]) if len(head) > 1 and head[1].isdigit() else 0


class Message:
    """One response as it arrives: status and headers, then body bytes waiting to be read."""

    __slots__ = (
        "body_bytes", "buffered", "chunks", "done", "error", "header_bytes", "headers", "status", "url",
        "version",
    )  # fmt: skip

    def __init__(self, url: str) -> None:
        self.url = url
        self.status = 0  # 0 until the final response's headers are in
        self.version = "1.1"
        self.headers = Headers()
        self.header_bytes = 0
        self.body_bytes = 0  # received so far
        self.chunks: list[bytes] = []  # a few at most (reading pauses): a deque would cost 600 bytes
        self.buffered = 0  # bytes in chunks, not yet taken
        self.done = False  # the whole body has arrived
        self.error: FetchError | None = None

    def waiting(self) -> bool:
        """Whether a reader must wait for more: not when a chunk is here or the body has ended.
        The exchange's error is raised once nothing is left to take before it."""
        if self.chunks:
            return False
        if self.error is not None:
            raise self.error
        return not self.done

    def take(self, n: int) -> bytes:
        """Return up to *n* bytes from those waiting (b"" if none wait)."""
        chunks = self.chunks
        if not chunks:
            return b""
        chunk = chunks.pop(0)
        if len(chunk) > n:
            chunk, rest = chunk[:n], chunk[n:]
            chunks.insert(0, rest)
        self.buffered -= len(chunk)
        return chunk


class ResponseBase:
    """What the engine reads of a response before its body, the same in both transports: each
    subclass adds ``read`` in its own way of waiting (blocking or awaited)."""

    __slots__ = ("_conn", "_message", "headers", "http_version", "status", "url")

    def __init__(self, conn: object, message: Message) -> None:
        self._conn = conn
        self._message = message
        self.status = message.status
        self.headers = message.headers
        self.url = message.url
        self.http_version = message.version


class Reader:
    """Turns the bytes of one connection into Messages, one request at a time."""

    __slots__ = (
        "_head_bytes",
        "_raw_headers",
        "_raw_keep_alive",
        "_raw_remaining",
        "_raw_used",
        "broken",
        "keep_alive",
        "message",
        "parser",
        "received",
    )  # fmt: skip

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.message: Message | None = None
        self.keep_alive = False  # the last complete response allows another request
        self.received = False  # any byte of the current response has arrived
        self.broken = False  # the connection can no longer be trusted
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._raw_remaining = 0  # body bytes still to come past the parser (0: the parser has them)
        self._raw_keep_alive = False
        self._raw_used = False
        self._head_bytes = 0  # bytes fed before the final response's headers were complete

    def expect(self, url: str) -> Message:
        """A request has gone out: return the Message its response will fill."""
        if self._raw_used:  # the last body bypassed the parser, which still expects its bytes
            self.parser = httptools.HttpResponseParser(self)
            self._raw_used = False
        self.message = message = Message(url)
        self._head_bytes = 0
        self.received = False
        self.keep_alive = False
        return message

    def feed(self, data: bytes) -> None:
        """Take bytes from the connection; problems are recorded in the Message (and ``broken``)."""
        message = self.message
        if message is None or message.done:
            # Bytes nobody asked for (a body longer than its Content-Length, say): the connection
            # can no longer be trusted to frame the next response.
            self._fail(ProtocolError("the server sent more than it announced", url=self._url()))
            return
        self.received = True
        if not message.status:
            self._head_bytes += len(data)
        remaining = self._raw_remaining
        if remaining:
            # The rest of a body of known length: bytes go to the reader as they came off the
            # socket, without the parser making a copy of each chunk (most of a large file's cost).
            extra = len(data) > remaining
            if extra:  # the announced bytes are the body; what follows cannot be trusted
                data = data[:remaining]
            self._raw_remaining = remaining - len(data)
            message.body_bytes += len(data)
            message.chunks.append(data)
            message.buffered += len(data)
            if not self._raw_remaining:
                self.keep_alive = self._raw_keep_alive
                message.done = True
            if extra:
                self._fail(ProtocolError("the server sent more than it announced", url=message.url))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("unexpected protocol upgrade", url=message.url))
            return
        except httptools.HttpParserError as exc:
            # A refusal raised in a callback arrives wrapped; its own words say more.
            cause = exc.__context__ if isinstance(exc.__context__, _Refused) else None
            reason = str(cause) if cause is not None else f"bad response: {_reason(exc)}"
            self._fail(ProtocolError(reason, url=message.url))
            return
        if not message.status and self._head_bytes > MAX_HEADER_BYTES:
            # Counted as they arrive: a header line that never ends is not buffered until it does.
            self._fail(
                ProtocolError(f"response headers larger than {MAX_HEADER_BYTES} bytes", url=message.url)
            )
            return
        if message.status and not message.done and not self._raw_remaining and not self._raw_used:
            length = message.headers.get("content-length")
            if length is not None and length.isdigit() and "transfer-encoding" not in message.headers:
                # Headers are in and the body's length is known: the parser's work is done.
                self._raw_remaining = max(0, int(length) - message.body_bytes)
                self._raw_keep_alive = self.parser.should_keep_alive()
                self._raw_used = self._raw_remaining > 0

    def closed(self) -> None:
        """The connection has ended (by the server, or under us)."""
        self.broken = True
        message = self.message
        if message is None or message.done or message.error is not None:
            return
        if message.status and "chunked" not in message.headers.get("transfer-encoding", ""):
            # A body without a length ends when the connection does; one with a length is judged
            # by the Item, which knows how many bytes it got and says so (and resumes).
            message.done = True
        else:
            message.error = TransportError("server closed the connection", url=message.url)

    def reusable(self) -> bool:
        message = self.message
        if self.broken or not self.keep_alive or message is None:
            return False
        return message.done and not message.chunks

    def _fail(self, error: FetchError) -> None:
        """The connection can no longer be trusted; the response in hand fails unless complete."""
        self.broken = True
        message = self.message
        if message is not None and message.error is None and not message.done:
            message.error = error

    def _url(self) -> str:
        return self.message.url if self.message is not None else ""

    # -- httptools callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        message = self.message
        if message is None or message.done:  # a second response in the same bytes
            raise _Refused("the server sent more than it announced")

    def on_header(self, name: bytes, value: bytes) -> None:
        message = self.message
        if message is None:
            return
        message.header_bytes += len(name) + len(value) + 4
        if message.header_bytes > MAX_HEADER_BYTES:
            raise _Refused(f"response headers larger than {MAX_HEADER_BYTES} bytes")
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        message = self.message
        if message is None:
            return
        status = self.parser.get_status_code()
        raw, self._raw_headers = self._raw_headers, []
        if 100 <= status < 200:
            if status == 101:
                raise _Refused("unexpected protocol upgrade")
            return  # an interim response: the final one follows on the same connection
        headers = message.headers
        seen: dict[str, int] = {}
        for name, value in raw:
            add_header(headers, name.decode("latin-1"), value.decode("latin-1"), seen)
        if seen.get("location", 0) > 1:
            raise _Refused(framing_error(headers, seen) or "bad response")
        message.version = self.parser.get_http_version()
        message.status = status

    def on_body(self, body: bytes) -> None:
        message = self.message
        if message is not None:
            message.body_bytes += len(body)
            message.chunks.append(body)
            message.buffered += len(body)

    def on_message_complete(self) -> None:
        message = self.message
        if message is None or not message.status:  # the end of an interim response
            return
        self.keep_alive = self.parser.should_keep_alive()
        message.done = True


class _Refused(Exception):
    """Raised inside a parser callback: the response breaks a limit."""


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
