"""Just enough HTTP/1.1 to know where each message of a connection begins and ends; no I/O.

A Reader takes the bytes of one direction as they come and cuts them into Parts: a message's head
(its first line and the headers that decide the framing, parsed), its payload, the framing of a
chunked body (kept apart, so that a toxic can change payload bytes without breaking the framing),
and its end. Every byte fed comes out in exactly one part, in order: what no toxic changes goes on
exactly as it came. What the reader cannot follow (not HTTP/1.x, a head over 64 KiB, a bad chunk
size, a switch of protocols) makes it opaque: from there on the bytes come out as they went in.

Keep-alive, pipelining and chunked bodies are followed; a response's framing needs the method of
its request (a HEAD's answer has no body), which the caller appends to ``methods`` as requests go by.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

__all__ = ["BODY", "END", "FRAMING", "HEAD", "OPAQUE", "Head", "Part", "Reader", "parse_head"]

HEAD, BODY, FRAMING, END, OPAQUE = "head", "body", "framing", "end", "opaque"

MAX_HEAD = 64 * 1024
_MAX_LINE = 4096  # a chunk-size line, a trailer line
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class ParseError(ValueError):
    """The bytes are not HTTP/1.x as this reader follows it."""


@dataclass(frozen=True)
class Head:
    """A parsed head: request ``(method, target, version)`` or response ``(version, status, reason)``."""

    first: tuple[str, str, str]
    headers: tuple[tuple[str, str], ...]  # names in lower case, in order

    def get(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of header *name*, lower case (Connection, Transfer-Encoding)."""
        value = self.get(name)
        return [token.strip().lower() for token in value.split(",") if token.strip()] if value else []

    @property
    def method(self) -> str:
        return self.first[0]

    @property
    def target(self) -> str:
        return self.first[1]

    @property
    def status(self) -> int:
        return int(self.first[1])

    def wants_close(self) -> bool:
        """Whether the request asks for the connection to close after its answer."""
        connection = self.tokens("connection")
        return "close" in connection or (self.first[2] == "HTTP/1.0" and "keep-alive" not in connection)

    def upgrade(self) -> bool:
        """Whether the request asks to leave HTTP/1.1 (Upgrade, or a CONNECT tunnel)."""
        return self.method == "CONNECT" or (
            self.get("upgrade") is not None and "upgrade" in self.tokens("connection")
        )

    def expects_continue(self) -> bool:
        return (self.get("expect") or "").strip().lower() == "100-continue"


class Part:
    """A piece of the stream: *kind* is HEAD (with *head*, and *length*: the payload's length when the
    framing gives it, None for chunked or until-close), BODY, FRAMING, END (no bytes) or OPAQUE."""

    __slots__ = ("data", "head", "kind", "length")

    def __init__(self, kind: str, data: bytes = b"", head: Head | None = None) -> None:
        self.kind = kind
        self.data = data
        self.head = head
        self.length: int | None = 0

    def __repr__(self) -> str:
        return f"Part({self.kind}, {self.data[:40]!r})"


def parse_head(raw: bytes, *, request: bool) -> Head:
    """Parse the head *raw* (up to and including its empty line); raise ParseError."""
    lines = raw.lstrip(b"\r\n").split(b"\n")
    words = lines[0].rstrip(b"\r").split(b" ", 2)
    text = [word.decode("latin-1") for word in words]
    if request:
        if len(text) != 3 or not _TOKEN.fullmatch(words[0]) or not text[2].startswith("HTTP/1."):
            raise ParseError(f"not an HTTP/1.x request line: {lines[0][:80]!r}")
        first = (text[0], text[1], text[2])
    else:
        if (
            len(text) < 2
            or not text[0].startswith("HTTP/1.")
            or not (text[1].isdigit() and len(text[1]) == 3)
        ):
            raise ParseError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        first = (text[0], text[1], text[2] if len(text) == 3 else "")
    headers = []
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):  # obs-fold and spaces before the colon included
            raise ParseError(f"not a header line: {line[:80]!r}")
        headers.append((name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")))
    return Head(first, tuple(headers))


# The reader's states: where the next byte belongs.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _OPAQUE = range(8)


class Reader:
    """The messages of one direction, requests or responses, cut into Parts as bytes come."""

    def __init__(self, *, requests: bool) -> None:
        self.requests = requests
        self.methods: deque[str] = deque()  # (responses) the methods of the requests still unanswered
        self.state = _HEAD
        self.remaining = 0
        self.trailer = 0
        self.pending = b""  # an unfinished head or line, kept until the rest comes

    @property
    def opaque(self) -> bool:
        return self.state == _OPAQUE

    def go_opaque(self) -> None:
        """Stop following: from now on every byte comes out as OPAQUE."""
        self.state = _OPAQUE

    def feed(self, data: bytes) -> list[Part]:
        if self.pending:
            data, self.pending = self.pending + data, b""
        parts: list[Part] = []
        pos = 0
        try:
            while pos < len(data):
                moved = self._step(data, pos, parts)
                if moved < 0:  # needs more bytes than there are: keep the rest for the next feed
                    self.pending = data[pos:]
                    break
                pos = moved
        except ParseError:
            self.state = _OPAQUE
            parts.append(Part(OPAQUE, data[pos:]))
        return parts

    def eof(self) -> list[Part]:
        """The source ended: a body that lasts until the close ends now; a partial head goes as it is."""
        parts = []
        if self.pending:
            parts.append(Part(OPAQUE, self.pending))
            self.pending = b""
        if self.state == _UNTIL_CLOSE:
            parts.append(Part(END))
            self.state = _HEAD
        return parts

    def _step(self, data: bytes, pos: int, parts: list[Part]) -> int:
        """Cut one part from *data* at *pos*; return where the next begins, or -1 for more bytes."""
        state = self.state
        if state == _OPAQUE:
            parts.append(Part(OPAQUE, data[pos:]))
            return len(data)
        if state == _HEAD:
            return self._head(data, pos, parts)
        if state in (_LENGTH, _CHUNK_DATA, _UNTIL_CLOSE):
            end = len(data) if state == _UNTIL_CLOSE else min(len(data), pos + self.remaining)
            parts.append(Part(BODY, data[pos:end]))
            if state != _UNTIL_CLOSE:
                self.remaining -= end - pos
                if not self.remaining:
                    if state == _LENGTH:
                        self._end(parts)
                    else:
                        self.state = _CHUNK_END
            return end
        if state == _CHUNK_END:
            if data.startswith(b"\r\n", pos) or data.startswith(b"\n", pos):
                end = pos + (1 if data[pos] == 0x0A else 2)
                parts.append(Part(FRAMING, data[pos:end]))
                self.state = _CHUNK_SIZE
                return end
            if data[pos:] == b"\r":
                return -1
            raise ParseError("no CRLF after a chunk")
        # _CHUNK_SIZE and _TRAILER: a line at a time.
        newline = data.find(b"\n", pos, pos + _MAX_LINE)
        if newline < 0:
            if len(data) - pos >= _MAX_LINE:
                raise ParseError("a chunk-size or trailer line too long")
            return -1
        line = data[pos : newline + 1]
        if state == _CHUNK_SIZE:
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or not re.fullmatch(rb"[0-9A-Fa-f]+", size_text):
                raise ParseError(f"bad chunk size {line[:40]!r}")
            parts.append(Part(FRAMING, line))
            self.remaining = int(size_text, 16)
            self.state = _CHUNK_DATA if self.remaining else _TRAILER
            self.trailer = 0
        else:
            self.trailer += len(line)
            if self.trailer > MAX_HEAD:
                raise ParseError("trailers too long")
            parts.append(Part(FRAMING, line))
            if not line.strip(b"\r\n"):
                self._end(parts)
        return newline + 1

    def _head(self, data: bytes, pos: int, parts: list[Part]) -> int:
        start = pos
        while data.startswith(b"\r\n", start) or data.startswith(b"\n", start):
            start += 2 if data[start] == 0x0D else 1  # empty lines before a message are allowed
        found = _HEAD_END.search(data, start, start + MAX_HEAD + 4) if start < len(data) else None
        if found is None:
            if len(data) - start > MAX_HEAD:
                raise ParseError("a head over 64 KiB")
            first_end = data.find(b"\n", start)
            if first_end >= 0:  # a whole first line: something else than HTTP shows now, not at the end
                parse_head(data[start : first_end + 1], request=self.requests)
            return -1
        raw = data[pos : found.end()]
        head = parse_head(raw, request=self.requests)
        after: list[Part] = []
        self._frame(head, after)  # first: a bad framing leaves the head to the opaque rest
        part = Part(HEAD, raw, head)
        parts.append(part)
        parts.extend(after)
        if self.state in (_CHUNK_SIZE, _UNTIL_CLOSE):
            part.length = None
        elif self.state == _LENGTH:
            part.length = self.remaining
        return found.end()

    def _frame(self, head: Head, parts: list[Part]) -> None:
        """Set the state for the body that follows *head* (RFC 9112, section 6.3)."""
        if not self.requests:
            status = head.status
            if 100 <= status < 200:
                if status == 101:
                    self.state = _OPAQUE  # another protocol from here on
                return  # an interim answer: the final one follows, for the same request
            method = self.methods.popleft() if self.methods else "GET"
            if method == "HEAD" or status in (204, 304):
                self._end(parts)
                return
            if method == "CONNECT" and 200 <= status < 300:
                self.state = _OPAQUE
                return
        codings = head.tokens("transfer-encoding")
        if codings:
            if codings[-1] == "chunked":
                self.state = _CHUNK_SIZE
            elif self.requests:
                raise ParseError("a request whose body has no length")
            else:
                self.state = _UNTIL_CLOSE
            return
        length = head.get("content-length")
        if length is not None:
            values = {value.strip() for value in length.split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise ParseError(f"bad Content-Length {length!r}")
            self.remaining = int(values.pop())
            if self.remaining:
                self.state = _LENGTH
            else:
                self._end(parts)
            return
        if self.requests:
            self._end(parts)  # a request without Content-Length or chunked has no body
        else:
            self.state = _UNTIL_CLOSE

    def _end(self, parts: list[Part]) -> None:
        parts.append(Part(END))
        self.state = _HEAD
