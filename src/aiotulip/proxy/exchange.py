"""The HTTP toxics: what happens to each request and to its answer, decided per exchange; no I/O.

A connection opened while its proxy has an HTTP toxic is followed as HTTP/1.1 for its whole life (by
the Readers of ``http.py``). ``Requests``, the first stage of the upstream direction, sees each
request head and draws the proxy's HTTP toxics for it — keyed by method, target and how many such
requests came before, so a seed replays them — then lets the request go on, or keeps it back and
queues the answer tulip gives instead. ``Responses``, the first stage of the downstream direction,
takes the upstream's answers in order, puts tulip's own between them where they belong, and changes
the ones the draws picked:

    http_error          the request never reaches the upstream; the client gets status (and
                        Retry-After) in its place, in order with the other answers
    http_truncate       the body is cut at a seeded point (a byte short at least), then the
                        connection closes
    http_corrupt        bytes of the body flipped at seeded places; its length stays
    http_delay_headers  the head waits delay before it goes on

An Upgrade or CONNECT request is answered 501 and the connection closed: what would follow it is not
HTTP/1.1, and the toxics could not follow it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

from aiotulip.proxy.draws import Draws
from aiotulip.proxy.http import BODY, END, FRAMING, HEAD, OPAQUE, Head, Part, Reader
from aiotulip.proxy.model import Toxic
from aiotulip.proxy.toxics import CLOSE, DATA, Event
from aiotulip.shared.shapes import cut_short

__all__ = ["Exchanges", "Outcome", "answer", "decide"]

_BUFFERED = 64 * 1024  # a body of unknown length is cut within its first 64 KiB (as tulip serve does)
_LONG_KEY = 256


@dataclass(frozen=True)
class Outcome:
    """What the HTTP toxics do to one exchange."""

    error: tuple[int, int | None, str] | None = None  # status, Retry-After seconds, the toxic's name
    cut: float | None = None  # http_truncate: where the body is cut, as a fraction of it
    flips: tuple[float, ...] = ()  # http_corrupt: where bytes are flipped, as fractions of the body
    delay: float = 0.0  # http_delay_headers: seconds the head waits


def decide(toxics: Sequence[Toxic], draws: Draws, head: Head) -> Outcome:
    """Return what the HTTP toxics among *toxics* do to the request *head* (drawn, seeded)."""
    key = f"{head.method} {head.target}"
    if len(key) > _LONG_KEY:  # a key is remembered: a long target is remembered by its hash
        key = f"{head.method} sha256:{hashlib.sha256(head.target.encode('latin-1')).hexdigest()}"
    nth = draws.next_request(key)
    error, cut, delay = None, None, 0.0
    flips: tuple[float, ...] = ()
    for toxic in toxics:
        if not toxic.kind.http:
            continue
        rng = draws.request(toxic.name, key, nth)
        if rng.random() >= toxic.toxicity:
            continue
        attributes = toxic.attributes
        if toxic.type == "http_error" and error is None:
            error = (attributes["status"] or 503, attributes.get("retry_after"), toxic.name)
        elif toxic.type == "http_truncate" and cut is None:
            cut = rng.random()
        elif toxic.type == "http_corrupt":
            flips += tuple(rng.random() for _ in range(attributes.get("bytes") or 1))
        elif toxic.type == "http_delay_headers":
            delay += (attributes.get("delay") or 0) / 1000
    return Outcome(error=error, cut=cut, flips=flips, delay=delay)


def answer(status: int, *, retry_after: int | None, close: bool, head_only: bool, note: str) -> bytes:
    """The bytes of tulip's own answer: *status* with a one-line text body."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    body = f"tulip proxy: {note}\n".encode()
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
    ]
    if retry_after is not None:
        lines.append(f"Retry-After: {retry_after}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)


@dataclass
class Slot:
    """One request still to be answered: by the upstream (``answer`` None) or by tulip."""

    method: str
    outcome: Outcome
    at: float = 0.0  # when the request came: tulip's answer is ready from then
    answer: bytes | None = None
    close: bool = False  # close the connection after tulip's answer
    opaque: bool = False  # a marker: from here on the requests were not followed


class Exchanges:
    """What the two directions of one followed connection share: its requests still unanswered."""

    def __init__(self, draws: Draws, toxics: Sequence[Toxic]) -> None:
        self.draws = draws
        self.toxics = [toxic for toxic in toxics if toxic.kind.http]
        self.slots: deque[Slot] = deque()
        self.requests = Reader(requests=True)
        self.responses = Reader(requests=False)
        self.up = Requests(self)
        self.down = Responses(self)

    def set_toxics(self, toxics: Sequence[Toxic]) -> None:
        """The proxy's toxics changed: the next requests meet the new ones."""
        self.toxics = [toxic for toxic in toxics if toxic.kind.http]


class _Ordered:
    """Events given in time order, never before the last one given."""

    last = 0.0

    def _at(self, at: float) -> float:
        at = max(at, self.last)
        self.last = at
        return at


class Requests(_Ordered):
    """The upstream direction's first stage: requests go on, or are kept back and answered by tulip."""

    def __init__(self, exchanges: Exchanges) -> None:
        self.ex = exchanges
        self.dropping = False  # the parts of a request tulip answers itself go nowhere
        self.stopped = False  # a request was refused with a close: nothing after it goes on
        self.marked = False  # the opaque marker is queued

    def data(self, at: float, payload: bytes) -> list[Event]:
        if self.stopped:
            return []
        ex = self.ex
        forward: list[bytes] = []
        for part in ex.requests.feed(payload):
            if part.kind == HEAD:
                self._head(at, part, forward)
                if self.stopped:
                    break
            elif part.kind == END:
                self.dropping = False
            elif part.kind == OPAQUE:
                if not self.marked:  # the responses to what follows cannot be told apart either
                    self.marked = True
                    ex.slots.append(Slot("", Outcome(), at=at, opaque=True))
                forward.append(part.data)
            elif not self.dropping:
                forward.append(part.data)
        return [Event(self._at(at), DATA, b"".join(forward))] if forward else []

    def _head(self, at: float, part: Part, forward: list[bytes]) -> None:
        head = part.head
        assert head is not None
        ex = self.ex
        if head.upgrade():
            note = "an Upgrade or CONNECT request cannot pass through HTTP toxics"
            refusal = answer(501, retry_after=None, close=True, head_only=False, note=note)
            self._stop(Slot(head.method, Outcome(), at, refusal, close=True))
            return
        outcome = decide(ex.toxics, ex.draws, head)
        if outcome.error is None:
            ex.slots.append(Slot(head.method, outcome, at))
            ex.responses.methods.append(head.method)
            forward.append(part.data)
            return
        status, retry_after, name = outcome.error
        # A client that waits for 100 Continue may never send the body tulip would have to read past.
        close = head.wants_close() or head.expects_continue()
        note = f"injected fault {status} ({name})"
        data = answer(
            status, retry_after=retry_after, close=close, head_only=head.method == "HEAD", note=note
        )
        slot = Slot(head.method, outcome, at, data, close=close)
        if close:
            self._stop(slot)
        else:
            ex.slots.append(slot)
            self.dropping = True

    def _stop(self, slot: Slot) -> None:
        self.ex.slots.append(slot)
        self.ex.requests.go_opaque()
        self.stopped = True

    def end(self, at: float, kind: int) -> list[Event]:
        leftover = [] if self.stopped else self.ex.requests.eof()  # a head cut short goes as it came
        data = b"".join(part.data for part in leftover)
        return [*([Event(self._at(at), DATA, data)] if data else []), Event(self._at(at), kind)]

    def deadline(self) -> float | None:
        return None

    def tick(self, now: float) -> list[Event]:
        return []


class Responses(_Ordered):
    """The downstream direction's first stage: the upstream's answers, changed as drawn, and tulip's
    own answers in their places."""

    def __init__(self, exchanges: Exchanges) -> None:
        self.ex = exchanges
        self.between = True  # no upstream answer is under way: tulip's own may go
        self.closed = False
        self._message(Outcome(), 0)

    def _message(self, outcome: Outcome, length: int | None) -> None:
        """Get ready for the body of an answer: where it is cut, which bytes are flipped."""
        self.offset = 0  # payload bytes of this body seen so far
        self.cut = outcome.cut if length != 0 else None
        self.stop = cut_short(length, outcome.cut) if outcome.cut is not None and length else None
        self.held: list[bytes] | None = [] if self.cut is not None and length is None else None
        self.flips = {int(f * length) for f in outcome.flips} if length else set()
        self.unplaced = outcome.flips if length is None else ()  # placed in the first payload piece

    def data(self, at: float, payload: bytes) -> list[Event]:
        if self.closed:
            return []
        out = self._ready(at)
        for part in self.ex.responses.feed(payload):
            out.extend(self._part(at, part))
            if self.closed:
                break
        return out

    def _part(self, at: float, part: Part) -> list[Event]:
        kind = part.kind
        if kind == HEAD:
            return self._head(at, part)
        if kind == BODY:
            return self._body(at, part.data)
        if kind == FRAMING:
            if self.held is not None:
                return self._hold(at, part.data)
            return [Event(self._at(at), DATA, part.data)]
        if kind == END:
            if self.held is not None:
                return self._cut_held(at)
            self.between = True
            self._message(Outcome(), 0)
            return self._ready(at)
        # OPAQUE: the answers cannot be told apart any more; tulip's queued answers have no place.
        self.ex.requests.go_opaque()
        events = [Event(self._at(at), DATA, part.data)]
        if any(slot.answer is not None for slot in self.ex.slots):
            events.append(self._close(at))
        return events

    def _head(self, at: float, part: Part) -> list[Event]:
        head = part.head
        assert head is not None
        out = self._ready(at)
        if 100 <= head.status < 200 and head.status != 101:
            return [*out, Event(self._at(at), DATA, part.data)]  # interim: the final answer follows
        slots = self.ex.slots
        outcome = Outcome()
        if slots and slots[0].answer is None and not slots[0].opaque:
            outcome = slots.popleft().outcome
        self.between = False
        self._message(outcome, part.length)
        return [*out, Event(self._at(at + outcome.delay), DATA, part.data)]

    def _body(self, at: float, data: bytes) -> list[Event]:
        if self.unplaced and data:
            self.flips = {self.offset + int(f * len(data)) for f in self.unplaced}
            self.unplaced = ()
        start, self.offset = self.offset, self.offset + len(data)
        if self.flips:
            hit = [spot - start for spot in self.flips if start <= spot < self.offset]
            if hit:
                changed = bytearray(data)
                for spot in hit:
                    changed[spot] ^= 0xFF
                data = bytes(changed)
        if self.held is not None:
            return self._hold(at, data)
        if self.stop is not None and self.offset > self.stop:
            kept = data[: max(0, self.stop - start)]
            return [*([Event(self._at(at), DATA, kept)] if kept else []), self._close(at)]
        return [Event(self._at(at), DATA, data)]

    def _hold(self, at: float, data: bytes) -> list[Event]:
        assert self.held is not None
        self.held.append(data)
        if sum(map(len, self.held)) >= _BUFFERED:
            return self._cut_held(at)
        return []

    def _cut_held(self, at: float) -> list[Event]:
        """Send the first part of a held body of unknown length (chunked, or until close), then close."""
        held = b"".join(self.held or ())
        kept = held[: cut_short(len(held), self.cut or 0.0)]
        return [*([Event(self._at(at), DATA, kept)] if kept else []), self._close(at)]

    def _close(self, at: float) -> Event:
        self.closed = True
        return Event(self._at(at), CLOSE)

    def _ready(self, now: float) -> list[Event]:
        """Tulip's own answers that are next in line, while no upstream answer is under way."""
        out: list[Event] = []
        slots = self.ex.slots
        while self.between and slots and not self.closed:
            slot = slots[0]
            if slot.opaque:
                slots.popleft()
                self.ex.responses.go_opaque()
                break
            if slot.answer is None:
                break
            slots.popleft()
            out.append(Event(self._at(max(now, slot.at)), DATA, slot.answer))
            if slot.close:
                out.append(self._close(now))
        return out

    def end(self, at: float, kind: int) -> list[Event]:
        if self.closed:
            return []
        out = []
        for part in self.ex.responses.eof():
            out.extend(self._part(at, part))
        out.extend(self._ready(at))
        return out if self.closed else [*out, Event(self._at(at), kind)]

    def deadline(self) -> float | None:
        slots = self.ex.slots
        if self.between and not self.closed and slots and (slots[0].answer is not None or slots[0].opaque):
            return slots[0].at
        return None

    def tick(self, now: float) -> list[Event]:
        return [] if self.closed else self._ready(now)
