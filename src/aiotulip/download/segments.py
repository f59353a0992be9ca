"""The segments of one split download (``--split``): which byte ranges are done, which connection
fetches which, when an idle connection takes the back half of another's, what each request asks
for and whether its answer can be used. No I/O: engines run the connections and report to it.

A file of known size is cut into spans, up to four a connection and none under ``min_size``
(aria2c's ``--min-split-size``: no range shorter than twice it is split). A connection whose span is
done takes the earliest free one, else half of the largest span still in flight (it ends where the
other now stops), so fast connections do the work of slow ones and the file fills from the front.
What is done is kept beside the .part (``encode``), so an interrupted download resumes every span
where it stopped.

    segments = Segments(total, validator, connections=8, min_size=20 << 20, policy=policy)
    fetch = segments.connection()           # one per connection the engine runs
    step = fetch.begin()                    # Request | None (nothing left for it)
    ... step = fetch.response(status, headers) -> Read span | Retry | Changed | Failed
    ... keep = fetch.take(n); write keep bytes at fetch.span.pos; fetch.advance(keep)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiotulip.download.http.ranges import parse_content_range, resume_headers, validator_changed, validator_of
from aiotulip.download.retry import RetryPolicy, parse_retry_after
from aiotulip.errors import FetchError, HTTPStatusError, TransportError

__all__ = [
    "Changed",
    "Connection",
    "Failed",
    "Fetch",
    "Retry",
    "Segments",
    "Source",
    "Sources",
    "Span",
    "decode_map",
]

_MAP_VERSION = 1
_WAVES = 4  # spans a connection takes in turn (where each is still at least the minimum)


@dataclass(slots=True)
class Span:
    """Bytes [start, end) of the file; those before *pos* are written, *ahead* more are being
    written. *end* can move down when an idle connection takes the back half."""

    start: int
    pos: int
    end: int
    busy: bool = False
    ahead: int = 0

    @property
    def left(self) -> int:
        """Bytes not yet received (written or on their way to the disk)."""
        return self.end - self.pos - self.ahead


@dataclass(slots=True)
class Fetch:
    """Send a GET for the span's remaining bytes with these *headers* (Range, If-Range), to the
    file's URL number *source* (0: the first; then its mirrors)."""

    headers: dict[str, str]
    source: int = 0


@dataclass(slots=True)
class Retry:
    """Wait *seconds*, then ``begin`` again (the span is free for any connection meanwhile)."""

    seconds: float
    error: FetchError


@dataclass(slots=True)
class Changed:
    """The file changed on the server (or the server stopped honouring ranges): every span must
    start over, as one download of the new file."""

    reason: str


@dataclass(slots=True)
class Failed:
    """A span cannot be fetched: the download fails (the .part and its map are kept to resume)."""

    error: FetchError


@dataclass(slots=True)
class Source:
    """One URL of the file (the first, or a mirror) and how it has done for this item."""

    validator: str | None = None  # its own (mirrors' ETags differ), from its first answer
    bytes: int = 0  # written from it
    busy: int = 0  # connections on it now
    dropped: str | None = None  # why it is asked no more
    speed: float | None = None  # bytes a second a connection gets from it (a running average)


class Sources:
    """The URLs of one file: which are still asked, how many bytes each gave, why one was dropped."""

    def __init__(self, count: int) -> None:
        self.states = [Source() for _ in range(max(1, count))]
        self.only: int | None = None  # one URL alone (the mixed bytes failed their checksum)

    def live(self) -> list[int]:
        return [i for i, s in enumerate(self.states) if s.dropped is None and self.only in (None, i)]

    def pick(self) -> int | None:
        """The URL for a new request: one not tried yet, else the one whose connections have been
        fastest (aria2c's feedback selector), so that connections gather where bytes come quickest;
        a crowded server's speed falls, and the next ones go elsewhere."""
        states = self.states
        live = self.live()
        if not live:
            return None
        untried = [i for i in live if states[i].speed is None]
        if untried:
            return min(untried, key=lambda i: states[i].busy)
        return max(live, key=lambda i: states[i].speed or 0.0)

    def measured(self, index: int, received: int, seconds: float) -> None:
        """A connection got *received* bytes from URL *index* in *seconds*."""
        if seconds <= 0.01 or received <= 0:
            return  # too short to say anything
        sample = received / seconds
        state = self.states[index]
        state.speed = sample if state.speed is None else (state.speed + sample) / 2

    def drop(self, index: int, reason: str) -> None:
        if self.states[index].dropped is None:
            self.states[index].dropped = reason

    @property
    def several(self) -> bool:
        return len(self.states) > 1

    def joined(self) -> bool:
        """Whether the file's bytes came from more than one URL."""
        return sum(1 for state in self.states if state.bytes) > 1


class Segments:
    """The spans of one file and the connections fetching them."""

    def __init__(
        self,
        total: int,
        validator: str | None,
        *,
        connections: int,
        min_size: int,
        policy: RetryPolicy,
        done: Iterable[tuple[int, int]] = (),
        waves: int = _WAVES,
        sources: Sources | None = None,
        source: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.clock = clock
        self.sources = sources if sources is not None else Sources(1)
        # *validator* is the word of URL number *source* (the one that answered first).
        self.sources.states[source].validator = self.sources.states[source].validator or validator
        self.min_size = max(1, min_size)
        self.policy = policy
        self.retries = 0  # failed span requests, over all connections (the Report's extra attempts)
        self.changed: str | None = None  # why every span must start over, once one found it
        self.failed: FetchError | None = None  # the error that ended the download, once one did
        holes = _holes(total, done)
        # Up to four spans a connection, each taken in file order: the file then fills from the
        # front, so its hash can follow while it downloads instead of waiting for the end.
        connections = max(1, connections)
        left = sum(b - a for a, b in holes)
        waves = 1 if connections == 1 else max(1, min(waves, left // (self.min_size * connections)))
        self.spans = _cut(holes, connections * waves, self.min_size)
        self._done_before = sorted(done)

    # -- what the engine asks --------------------------------------------------------------------------

    @property
    def validator(self) -> str | None:
        """The first URL's validator (kept beside the .part for a later run's If-Range)."""
        return self.sources.states[0].validator

    @property
    def complete(self) -> bool:
        return all(span.pos >= span.end for span in self.spans)

    @property
    def stopped(self) -> bool:
        """A connection found the download cannot go on: the others stop too."""
        return self.changed is not None or self.failed is not None

    @property
    def frontier(self) -> int:
        """Bytes written from the start of the file without a gap (what can be hashed in order)."""
        at = 0
        for a, b in _merge(self._ranges()):
            if a > at:
                break
            at = max(at, b)
        return at

    @property
    def received(self) -> int:
        """Bytes of the file written (before this run, and by it)."""
        return sum(b - a for a, b in _merge(self._ranges()))

    def connection(self) -> Connection:
        return Connection(self)

    def encode(self) -> str:
        """What is done, to keep beside the .part (a later run resumes from it)."""
        import json

        done = [[a, b] for a, b in _merge(self._ranges())]
        return json.dumps({"v": _MAP_VERSION, "total": self.total, "done": done}, separators=(",", ":"))

    # -- inside ------------------------------------------------------------------------------------------

    def _ranges(self) -> list[tuple[int, int]]:
        return [*self._done_before, *((s.start, s.pos) for s in self.spans if s.pos > s.start)]

    def _claim(self) -> Span | None:
        """A span for an idle connection: a free one with bytes left, else the back half of the
        largest one in flight (if at least twice the minimum), else None."""
        free = [s for s in self.spans if not s.busy and s.left > 0]
        if free:
            span = min(free, key=lambda s: s.pos)  # the earliest first: the file fills from the front
            span.busy = True
            return span
        busy = [s for s in self.spans if s.busy and s.left >= 2 * self.min_size]
        if not busy:
            return None
        victim = max(busy, key=lambda s: s.left)
        middle = victim.end - victim.left // 2
        span = Span(middle, middle, victim.end, busy=True)
        victim.end = middle
        self.spans.append(span)
        return span


class Connection:
    """One connection's part of a split download: which span it fetches and what to ask for."""

    __slots__ = ("_got", "_promised", "_since", "attempts", "floor", "hops", "segments", "source", "span")

    def __init__(self, segments: Segments) -> None:
        self.segments = segments
        self.source: int | None = None  # the URL this connection asks
        self.span: Span | None = None
        self.attempts = 0  # failures in a row of this connection's requests
        self.hops = 0  # redirects followed for the request in hand
        self._promised = 0  # one past the last byte the response in hand said it holds
        self._since = 0.0  # when the response in hand began (its URL's speed is measured on it)
        self._got = 0  # ... and the bytes it has given
        self.floor: Any = None  # -Y: the reader of the response in hand against the speed floor

    def adopt(self, span: Span, source: int = 0) -> None:
        """Read *span* from a response already open (the first, which proved ranges work)."""
        span.busy = True
        self.span = span
        self._promised = span.end
        self._use(source)
        self._since, self._got = self.segments.clock(), 0

    def _use(self, source: int | None) -> None:
        states = self.segments.sources.states
        if self.source is not None:
            states[self.source].busy -= 1
        self.source = source
        if source is not None:
            states[source].busy += 1

    def begin(self) -> Fetch | None:
        """The request for the next span this connection fetches, or None when nothing is left."""
        segments = self.segments
        self.hops = 0
        if segments.stopped:
            self.release()
            return None
        span = self.span if self.span is not None and self.span.left > 0 else None
        if span is None:
            self.release()
            span = segments._claim()
            if span is None:
                self._use(None)
                return None
            self.span = span
            if segments.sources.several:  # a new span: to whichever URL now looks best
                self._use(None)
        sources = segments.sources
        if self.source is None or self.source not in sources.live():
            self._use(sources.pick())
        if self.source is None:  # every URL dropped (failed() said so first): nothing to ask
            self.release()
            return None
        return self.fetch()

    def fetch(self) -> Fetch:
        """The request for the rest of the span in hand (again, after a redirect)."""
        span = self.span
        assert span is not None and self.source is not None
        validator = self.segments.sources.states[self.source].validator
        self.floor = None  # (a new response: its reader is timed from its own start)
        return Fetch(resume_headers(span.pos, validator, span.end - 1), self.source)

    def response(self, status: int, headers: Mapping[str, str]) -> Span | Retry | Changed | Failed:
        """The answer to this connection's request: the span to read, or what to do instead."""
        segments = self.segments
        span = self.span
        assert span is not None and self.source is not None, "response() without a span"
        source = segments.sources.states[self.source]
        if status == 200:
            # If-Range failed (the file changed) or ranges are no longer honoured.
            return self._disagrees("the server sent the whole file for a range")
        if status != 206:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            return self.failed(HTTPStatusError(status, retry_after=retry_after))
        found = parse_content_range(headers.get("Content-Range"))
        if found is None:
            return self.failed(TransportError("206 without a usable Content-Range"))
        first, last, total = found
        if total is not None and total != segments.total:
            return self._disagrees(f"the file is {total} bytes there, not {segments.total}")
        if validator_changed(source.validator, headers):
            return self._disagrees("the file's validator changed (ETag or Last-Modified)")
        if source.validator is None:  # a mirror's first answer: its own validator, for If-Range
            source.validator = validator_of(headers)
        if first != span.pos:
            return self.failed(TransportError(f"asked for bytes from {span.pos}, got {first}"))
        self._promised = last + 1  # a server may send less than asked: the rest is asked for next
        self._since, self._got = segments.clock(), 0
        return span

    def take(self, n: int) -> tuple[int, int]:
        """Of *n* bytes just received, return where they go and how many belong to the span (the
        rest is another connection's now); ``advance`` once they are written."""
        span = self.span
        assert span is not None
        offset = span.pos + span.ahead
        keep = min(n, span.end - offset)
        span.ahead += keep
        return offset, keep

    def advance(self, n: int) -> None:
        """*n* bytes taken are written."""
        span = self.span
        assert span is not None
        span.ahead -= n
        span.pos += n
        if n:
            self.attempts = 0
            self._got += n
            if self.source is not None:
                self.segments.sources.states[self.source].bytes += n

    @property
    def finished(self) -> bool:
        """Nothing more to read for the span (maybe early: another connection took its back half),
        or the download stopped."""
        span = self.span
        return span is None or span.pos + span.ahead >= span.end or self.segments.stopped

    def ended(self) -> Retry | Failed | None:
        """The response's body ended: None to go on (``begin`` again), else a short body's retry."""
        span = self.span
        if self.source is not None and self.segments.sources.several:
            self.segments.sources.measured(self.source, self._got, self.segments.clock() - self._since)
        if span is None or span.pos >= min(span.end, self._promised):
            return None
        return self.failed(TransportError(f"connection closed at byte {span.pos} of {self._promised}"))

    def failed(self, error: FetchError, remaining: float | None = None) -> Retry | Failed:
        """This connection's request failed with *error*."""
        segments = self.segments
        segments.retries += 1
        self.attempts += 1
        self.release()  # another connection may take the span while this one waits
        delay = None if segments.stopped else segments.policy.delay(self.attempts, error, remaining)
        sources = segments.sources
        others = [i for i in sources.live() if i != self.source]
        if delay is None and not segments.stopped and self.source is not None and others:
            # This URL failed for good, others remain: drop it, go on with them at once.
            sources.drop(self.source, str(error) or type(error).__name__)
            self._use(None)
            self.attempts = 0
            return Retry(0.0, error)
        if delay is None:
            if segments.failed is None and segments.changed is None:
                segments.failed = error
            return Failed(error)
        return Retry(delay, error)

    def release(self) -> None:
        """This connection lets its span go (bytes taken and not written are not counted); it keeps
        its URL (and connection) for the next span."""
        span = self.span
        if span is not None:
            span.busy = False
            span.ahead = 0
            self.span = None

    def _disagrees(self, reason: str) -> Retry | Changed:
        """This URL's file is not the one being fetched: a mirror is dropped; the first URL alone
        (or the last left) means the file changed, and every span starts over."""
        sources = self.segments.sources
        others = [i for i in sources.live() if i != self.source]
        if self.source is not None and self.source != 0 and others:
            sources.drop(self.source, reason)
            self.release()
            self._use(None)
            return Retry(0.0, FetchError(reason))
        self.release()
        self._use(None)
        self.segments.changed = reason
        return Changed(reason)


def decode_map(text: str | None) -> tuple[int, list[tuple[int, int]]] | None:
    """Return (total, done ranges) from what ``Segments.encode`` kept, or None if it is not that."""
    import json

    if not text:
        return None
    try:
        found = json.loads(text)
        if found.get("v") != _MAP_VERSION:
            return None
        total = found["total"]
        done = [(int(a), int(b)) for a, b in found["done"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not isinstance(total, int) or total < 0 or any(not 0 <= a < b <= total for a, b in done):
        return None
    return total, _merge(done)


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _holes(total: int, done: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    holes = []
    at = 0
    for a, b in _merge(done):
        if a > at:
            holes.append((at, a))
        at = max(at, b)
    if at < total:
        holes.append((at, total))
    return holes


def _cut(holes: list[tuple[int, int]], connections: int, min_size: int) -> list[Span]:
    """Spans covering *holes*: the largest cut in two while there are fewer than *connections* and
    its halves are at least *min_size*."""
    spans = [Span(a, a, b) for a, b in holes]
    while len(spans) < connections:
        largest = max(spans, key=lambda s: s.left, default=None)
        if largest is None or largest.left < 2 * min_size:
            break
        # Cut so that the pieces come out even for the count wanted (not halves of halves).
        pieces = min(connections - len(spans) + 1, largest.left // min_size)
        size = largest.left // pieces
        cuts = [largest.start + size * k for k in range(1, pieces)]
        bounds = [largest.start, *cuts, largest.end]
        spans.remove(largest)
        spans.extend(Span(a, a, b) for a, b in itertools.pairwise(bounds))
    spans.sort(key=lambda s: s.start)
    return spans
