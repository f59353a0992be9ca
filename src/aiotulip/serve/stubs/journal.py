"""The request journal: what the server was asked, kept in memory for ``GET /__admin/requests``,
``find``, ``count``, ``unmatched`` and the near misses. No I/O.

An entry is a few references taken as the request arrives (the headers object aiohttp already
made, the body if one was read); the JSON WireMock's clients read is built only when asked for. The
journal keeps at most ``limit`` entries and 64 MiB of bodies, the oldest going first.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from aiotulip.serve.stubs.match import Headers, Incoming, RequestPattern
from aiotulip.serve.stubs.model import Stub

__all__ = ["Entry", "Journal"]

_BODY_BUDGET = 64 * 1024 * 1024


class Entry:
    """One request as it arrived, and what answered it."""

    __slots__ = ("_id", "body", "headers", "method", "remote", "scheme", "status", "stub", "url", "when")

    def __init__(self, method: str, url: str, headers: Headers, remote: str, scheme: str) -> None:
        self.when = time.time()
        self.method = method
        self.url = url
        self.headers = headers
        self.remote = remote
        self.scheme = scheme
        self.body = b""
        self.stub: Stub | None = None
        self.status = 0
        self._id: str | None = None

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = str(uuid.uuid4())  # made when first shown: a request nobody looks at costs none
        return self._id

    @property
    def matched(self) -> bool:
        """Whether something answered it: a stub, or the files and proxy behind them (not a 404)."""
        return self.stub is not None or (self.status != 404 and self.status != 0)

    def incoming(self) -> Incoming:
        return Incoming(self.method, self.url, self.headers, self.body)

    def request_json(self) -> dict[str, Any]:
        """Return the request as WireMock logs it."""
        host = next(iter(self.headers.getall("Host", [])), "localhost")
        headers: dict[str, Any] = {}
        for name, value in self.headers.items():
            if name in headers:
                previous = headers[name]
                headers[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                headers[name] = value
        incoming = self.incoming()
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
            "body": incoming.text,
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

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.entries: deque[Entry] = deque()
        self._bytes = 0

    @property
    def disabled(self) -> bool:
        return self.limit == 0

    def log(self, method: str, url: str, headers: Headers, remote: str, scheme: str) -> Entry:
        """Note a request as it arrives and return its entry (kept unless the journal is off)."""
        entry = Entry(method, url, headers, remote, scheme)
        if self.limit:
            entries = self.entries
            entries.append(entry)
            if len(entries) > self.limit:
                self._bytes -= len(entries.popleft().body)
        return entry

    def kept_body(self, entry: Entry, body: bytes) -> None:
        """Keep the body read for *entry*, within the journal's budget for bodies."""
        entry.body = body
        if self.limit and body:
            self._bytes += len(body)
            while self._bytes > _BODY_BUDGET and self.entries:
                self._bytes -= len(self.entries.popleft().body)

    def reset(self) -> None:
        self.entries.clear()
        self._bytes = 0

    def get(self, entry_id: str) -> Entry | None:
        return next((entry for entry in self.entries if entry._id == entry_id), None)

    def remove(self, keep: Callable[[Entry], bool]) -> list[Entry]:
        """Drop the entries *keep* refuses; return them."""
        gone = [entry for entry in self.entries if not keep(entry)]
        if gone:
            self.entries = deque(entry for entry in self.entries if keep(entry))
            self._bytes = sum(len(entry.body) for entry in self.entries)
        return gone

    def find(self, pattern: RequestPattern) -> list[Entry]:
        """Return the entries *pattern* matches, oldest first."""
        return [entry for entry in self.entries if pattern.matches(entry.incoming())]

    def unmatched(self) -> list[Entry]:
        return [entry for entry in self.entries if not entry.matched]

    def newest_first(self) -> Iterable[Entry]:
        return reversed(self.entries)
