"""The request journal: what the server was asked, kept in memory for ``GET /__admin/requests``,
``find``, ``count``, ``unmatched`` and the near misses. No I/O.

While a request is served its ``Entry`` gathers what answered it; once answered, the journal keeps a
tuple of plain values (the raw header lines aiohttp parsed, the URL, the status, the answering stub's
id). The JSON WireMock's clients read is made only when asked for. Plain tuples matter: the garbage
collector stops tracking a tuple of strings and bytes, while 10,000 kept objects that it tracks cost
a file server some 15% of its requests a second. At most ``limit`` requests and 64 MiB of bodies are
kept, the oldest going first.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from multidict import CIMultiDict

from aiotulip.serve.stubs.match import Headers, Incoming, RequestPattern
from aiotulip.serve.stubs.model import Stub

__all__ = ["Entry", "Journal"]

_BODY_BUDGET = 64 * 1024 * 1024
RawHeaders = tuple[tuple[bytes, bytes], ...]
#: (sequence, time, method, URL, raw headers, client, status, stub id, body)
Row = tuple[int, float, str, str, RawHeaders, str, int, str | None, bytes]


class Entry:
    """One request: what arrived, and what answered it."""

    __slots__ = (
        "body",
        "body_read",
        "id",
        "method",
        "raw_headers",
        "remote",
        "scheme",
        "seq",
        "status",
        "stub",
        "url",
        "when",
    )

    def __init__(
        self, seq: int, when: float, method: str, url: str, raw_headers: RawHeaders, remote: str
    ) -> None:
        self.seq = seq
        self.when = when
        self.method = method
        self.url = url
        self.raw_headers = raw_headers
        self.remote = remote
        self.body = b""
        self.body_read = False  # the body was read (to match it): the stream behind it is spent
        self.stub: Stub | None = None
        self.status = 0
        self.scheme = "http"
        self.id = ""

    @property
    def headers(self) -> Headers:
        """The request's headers, made from the raw lines when asked for."""
        return CIMultiDict(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
            for name, value in self.raw_headers
        )

    @property
    def matched(self) -> bool:
        """Whether something answered it: a stub, or the files and proxy behind them (not a 404)."""
        return self.stub is not None or (self.status != 404 and self.status != 0)

    def incoming(self) -> Incoming:
        return Incoming(self.method, self.url, self.headers, self.body)

    def request_json(self) -> dict[str, Any]:
        """Return the request as WireMock logs it."""
        raw = self.headers
        host = next(iter(raw.getall("Host", [])), "localhost")
        headers: dict[str, Any] = {}
        for name, value in raw.items():
            if name in headers:
                previous = headers[name]
                headers[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                headers[name] = value
        incoming = Incoming(self.method, self.url, raw, self.body)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.when))
        query = parse_qs(self.url.partition("?")[2], keep_blank_values=True)
        return {
            "url": self.url,
            "absoluteUrl": f"{self.scheme}://{host}{self.url}",
            "method": self.method,
            "clientIp": self.remote,
            "headers": headers,
            "cookies": {name: values[0] for name, values in incoming.cookies.items()},
            "browserProxyRequest": False,
            "loggedDate": int(self.when * 1000),
            "bodyAsBase64": base64.b64encode(self.body).decode(),
            "body": incoming.shown,  # (the bytes exactly: bodyAsBase64)
            "scheme": self.scheme,
            "loggedDateString": stamp,
            "queryParams": {name: {"key": name, "values": values} for name, values in query.items()},
        }

    def event_json(self) -> dict[str, Any]:
        """Return the serve event (request, what answered it) as ``GET /__admin/requests`` lists it."""
        event: dict[str, Any] = {
            "id": self.id,
            "request": self.request_json(),
            "responseDefinition": {"status": self.status}
            if self.stub is None
            else self.stub.source.get("response", {"status": 200}),
            "response": {"status": self.status},
            "wasMatched": self.matched,
        }
        if self.stub is not None:
            event["stubMapping"] = self.stub.to_json()
        return event


class Journal:
    """The last *limit* requests (0: none are kept, as WireMock's ``--no-request-journal``)."""

    def __init__(self, limit: int = 10_000, scheme: str = "http") -> None:
        self.limit = limit
        self.scheme = scheme
        self.rows: deque[Row] = deque(maxlen=limit)  # the oldest goes as the newest comes
        self._bytes = 0
        self._seq = 0
        self._prefix = uuid.uuid4().int  # ids are this, xor the sequence: UUIDs made without a draw each
        self._stubs: dict[str, Stub] = {}  # the stubs that answered kept requests, even once removed

    @property
    def disabled(self) -> bool:
        return self.limit == 0

    def start(self, method: str, url: str, raw_headers: RawHeaders, remote: str) -> Entry:
        """Begin the entry of a request as it arrives."""
        self._seq += 1
        return Entry(self._seq, time.time(), method, url, raw_headers, remote)

    def keep(self, entry: Entry) -> None:
        """The request was answered: keep it (unless the journal is off)."""
        if not self.limit:
            return
        stub = entry.stub
        if stub is not None:
            self._stubs[stub.id] = stub
        self._append((entry.seq, entry.when, entry.method, entry.url, entry.raw_headers, entry.remote,
                      entry.status, None if stub is None else stub.id, entry.body))  # fmt: skip

    def note(self, method: str, url: str, raw_headers: RawHeaders, remote: str, status: int) -> None:
        """Keep a request answered on the fast path (a quiet small file), in one step."""
        if self.limit:
            rows = self.rows
            if self._bytes and len(rows) == self.limit:
                self._bytes -= len(rows[0][8])  # the row the append pushes out
            self._seq = seq = self._seq + 1
            rows.append((seq, time.time(), method, url, raw_headers, remote, status, None, b""))

    def _append(self, row: Row) -> None:
        rows = self.rows
        if self._bytes and len(rows) == self.limit:
            self._bytes -= len(rows[0][8])
        rows.append(row)
        if row[8]:
            self._bytes += len(row[8])
            while self._bytes > _BODY_BUDGET and len(rows) > 1:
                self._bytes -= len(rows.popleft()[8])

    def _entry(self, row: Row) -> Entry:
        entry = Entry(row[0], row[1], row[2], row[3], row[4], row[5])
        entry.status, entry.body, entry.scheme = row[6], row[8], self.scheme
        entry.stub = None if row[7] is None else self._stubs.get(row[7])
        entry.id = str(uuid.UUID(int=self._prefix ^ row[0]))
        return entry

    @property
    def entries(self) -> list[Entry]:
        """Every request kept, oldest first."""
        return [self._entry(row) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def reset(self) -> None:
        self.rows.clear()
        self._bytes = 0
        self._stubs.clear()

    def get(self, entry_id: str) -> Entry | None:
        try:
            seq = uuid.UUID(entry_id).int ^ self._prefix
        except ValueError:
            return None
        return next((self._entry(row) for row in self.rows if row[0] == seq), None)

    def remove(self, keep: Callable[[Entry], bool]) -> list[Entry]:
        """Drop the entries *keep* refuses; return them."""
        kept: list[Row] = []
        gone: list[Row] = []
        for row in self.rows:
            (kept if keep(self._entry(row)) else gone).append(row)
        if gone:
            self.rows = deque(kept, maxlen=self.limit)
            self._bytes = sum(len(row[8]) for row in kept)
        return [self._entry(row) for row in gone]

    def find(self, pattern: RequestPattern) -> list[Entry]:
        """Return the entries *pattern* matches, oldest first."""
        return [entry for entry in self.entries if pattern.matches(entry.incoming())]

    def unmatched(self) -> list[Entry]:
        return [entry for entry in self.entries if not entry.matched]

    def newest_first(self) -> Iterable[Entry]:
        return reversed(self.entries)
