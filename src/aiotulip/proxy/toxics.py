"""What the TCP toxics do to one direction of one connection, as time arithmetic with no I/O.

A Stage takes the direction's bytes with the time they are ready and gives Events back: the bytes
(perhaps in pieces) with the time each may leave, and the ends — the source's FIN passed on as a
half-close (``EOF``), a close of the whole connection (``CLOSE``), a reset (``RESET``). Stages chain
in the order the toxics were added, as toxiproxy chains its toxics; the relay only waits for each
event's time and carries it out. A stage that acts on its own (timeout, reset_peer) names its next
deadline, and the relay ticks the chain then.

Each stage gives its events in time order and never before one it gave earlier, so the chain's come
out in order too: a close waits for the data ahead of it, as in toxiproxy's channels.

    latency     each piece waits latency ± jitter after it was ready (pieces keep their order)
    bandwidth   pieces of 0.1 s, paced at rate KB/s (the pace tulip serve's bandwidth uses)
    slicer      pieces of average_size ± size_variation bytes, delay µs apart
    limit_data  the first bytes pass, then the connection closes
    slow_close  an end (EOF or close) waits delay
    timeout     data vanishes; the connection closes timeout after the toxic began (0: never)
    reset_peer  the first data (or end) vanishes, and timeout later the connection is reset
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from aiotulip.proxy.draws import Draws
from aiotulip.proxy.model import Toxic
from aiotulip.shared.shapes import Pace, slice_ends, within_limit

__all__ = ["CLOSE", "DATA", "EOF", "RESET", "Chain", "Event", "Stage", "Step", "build_stages"]

DATA, EOF, CLOSE, RESET = 0, 1, 2, 3
ENDS = (EOF, CLOSE, RESET)


class Event:
    """Something the relay does at time *at*: write *data*, or end the direction or connection."""

    __slots__ = ("at", "data", "kind")

    def __init__(self, at: float, kind: int, data: bytes = b"") -> None:
        self.at = at
        self.kind = kind
        self.data = data

    def __repr__(self) -> str:
        names = {DATA: "DATA", EOF: "EOF", CLOSE: "CLOSE", RESET: "RESET"}
        return f"Event({self.at:.6f}, {names[self.kind]}, {len(self.data)} bytes)"


class Step(Protocol):
    """What a chain is made of: a TCP toxic's Stage, or the HTTP toxics' stage of a direction."""

    def data(self, at: float, payload: bytes) -> list[Event]: ...
    def end(self, at: float, kind: int) -> list[Event]: ...
    def deadline(self) -> float | None: ...
    def tick(self, now: float) -> list[Event]: ...


class Stage:
    """One toxic on one direction of one connection (this base passes everything on unchanged)."""

    def __init__(self, toxic: Toxic, rng: random.Random, began: float) -> None:
        self.name = toxic.name
        self.type = toxic.type
        self.rng = rng
        self.began = began
        self.last = began  # the time of the last event given: none may come before it
        self.configure(toxic)

    def configure(self, toxic: Toxic) -> None:
        """Take *toxic*'s attributes (at creation, and when the toxic is updated; state is kept)."""

    def data(self, at: float, payload: bytes) -> list[Event]:
        return [Event(self._at(at), DATA, payload)]

    def end(self, at: float, kind: int) -> list[Event]:
        return [Event(self._at(at), kind)]

    def deadline(self) -> float | None:
        """When this stage next acts by itself (None: only when something arrives)."""
        return None

    def tick(self, now: float) -> list[Event]:
        return []

    def _at(self, at: float) -> float:
        at = max(at, self.last)
        self.last = at
        return at


def _ms(toxic: Toxic, name: str) -> float:
    return (toxic.attributes.get(name) or 0) / 1000


class Latency(Stage):
    def configure(self, toxic: Toxic) -> None:
        self.latency = _ms(toxic, "latency")
        self.jitter = toxic.attributes.get("jitter") or 0

    def data(self, at: float, payload: bytes) -> list[Event]:
        delay = self.latency
        if self.jitter:  # toxiproxy's: latency - jitter up to latency + jitter, in whole ms
            delay += (self.rng.randrange(2 * self.jitter) - self.jitter) / 1000
        return [Event(self._at(at + max(0.0, delay)), DATA, payload)]


class Bandwidth(Stage):
    _TICK = 0.1  # seconds of data a piece holds, as in toxiproxy

    def configure(self, toxic: Toxic) -> None:
        rate = (toxic.attributes.get("rate") or 0) * 1000  # KB/s, 1 KB = 1000 bytes (toxiproxy's)
        self.pace = Pace(rate, self.last) if rate else None
        self.piece = max(1, int(rate * self._TICK))

    def data(self, at: float, payload: bytes) -> list[Event]:
        if self.pace is None:
            return super().data(at, payload)
        events, start = [], 0
        for end in slice_ends(len(payload), self.piece):
            events.append(Event(self._at(self.pace.take(at, end - start)), DATA, payload[start:end]))
            start = end
        return events


class Slicer(Stage):
    def configure(self, toxic: Toxic) -> None:
        self.average = toxic.attributes.get("average_size") or 0
        self.variation = toxic.attributes.get("size_variation") or 0
        self.delay = (toxic.attributes.get("delay") or 0) / 1_000_000
        self.free_at = self.last

    def data(self, at: float, payload: bytes) -> list[Event]:
        events, start = [], 0
        for end in slice_ends(len(payload), self.average, self.variation, self.rng):
            when = self._at(max(at, self.free_at))
            events.append(Event(when, DATA, payload[start:end]))
            self.free_at = when + self.delay
            start = end
        return events


class LimitData(Stage):
    def configure(self, toxic: Toxic) -> None:
        self.limit = toxic.attributes.get("bytes") or 0
        self.carried = getattr(self, "carried", 0)
        self.closed = getattr(self, "closed", False)

    def data(self, at: float, payload: bytes) -> list[Event]:
        if self.closed:
            return []
        allowed, reached = within_limit(self.carried, len(payload), self.limit)
        self.carried += allowed
        events = [Event(self._at(at), DATA, payload[:allowed])] if allowed else []
        if reached:
            self.closed = True
            events.append(Event(self._at(at), CLOSE))
        return events

    def end(self, at: float, kind: int) -> list[Event]:
        return [] if self.closed else super().end(at, kind)


class SlowClose(Stage):
    def configure(self, toxic: Toxic) -> None:
        self.delay = _ms(toxic, "delay")

    def end(self, at: float, kind: int) -> list[Event]:
        return [Event(self._at(at + self.delay), kind)]


class Timeout(Stage):
    def configure(self, toxic: Toxic) -> None:
        timeout = _ms(toxic, "timeout")
        self.due = self.began + timeout if timeout else None
        self.closed = getattr(self, "closed", False)

    def data(self, at: float, payload: bytes) -> list[Event]:
        return []  # swallowed: nothing gets through while the toxic is on

    def end(self, at: float, kind: int) -> list[Event]:
        if self.closed:
            return []
        self.closed = True
        return [Event(self._at(at), CLOSE if kind == EOF else kind)]

    def deadline(self) -> float | None:
        return None if self.closed else self.due

    def tick(self, now: float) -> list[Event]:
        if self.closed or self.due is None or now < self.due:
            return []
        self.closed = True
        return [Event(self._at(now), CLOSE)]


class ResetPeer(Stage):
    def configure(self, toxic: Toxic) -> None:
        self.timeout = _ms(toxic, "timeout")
        self.due: float | None = getattr(self, "due", None)
        self.done = getattr(self, "done", False)

    def data(self, at: float, payload: bytes) -> list[Event]:
        return self._trigger(at)

    def end(self, at: float, kind: int) -> list[Event]:
        return self._trigger(at)

    def _trigger(self, at: float) -> list[Event]:
        # toxiproxy's stub takes the first chunk (or the end) and waits: what it took never goes on.
        if self.due is None and not self.done:
            self.due = at + self.timeout
            return self.tick(at)
        return []

    def deadline(self) -> float | None:
        return None if self.done else self.due

    def tick(self, now: float) -> list[Event]:
        if self.done or self.due is None or now < self.due:
            return []
        self.done = True
        return [Event(self._at(self.due), RESET)]


STAGES: dict[str, type[Stage]] = {
    "latency": Latency,
    "bandwidth": Bandwidth,
    "slicer": Slicer,
    "limit_data": LimitData,
    "slow_close": SlowClose,
    "timeout": Timeout,
    "reset_peer": ResetPeer,
}


def build_stages(
    toxics: Sequence[Toxic], stream: str, draws: Draws, nth: int, now: float, kept: Sequence[Stage] = ()
) -> list[Stage]:
    """Return the stages of *stream* on connection *nth*: a stage for each TCP toxic whose draw falls
    below its toxicity, in the toxics' order. A stage in *kept* (the connection's before the change)
    stays itself, state and all, with the toxic's new attributes."""
    previous = {stage.name: stage for stage in kept}
    stages = []
    for toxic in toxics:
        kind = STAGES.get(toxic.type)
        if kind is None or toxic.stream != stream:
            continue  # noop, and the HTTP toxics (they are not stages of a TCP stream)
        rng = draws.connection(toxic.name, nth)
        if rng.random() >= toxic.toxicity:
            continue
        stage = previous.get(toxic.name)
        if stage is not None and stage.type == toxic.type:
            stage.configure(toxic)
        else:
            stage = kind(toxic, rng, now)
        stages.append(stage)
    return stages


class Chain:
    """The stages of one direction, in order: what comes in goes through each, what comes out of the
    last is for the relay to carry out."""

    def __init__(self, stages: Sequence[Step] = ()) -> None:
        self.stages: list[Step] = list(stages)

    def __bool__(self) -> bool:
        return bool(self.stages)

    def data(self, at: float, payload: bytes) -> list[Event]:
        return self._through(0, [Event(at, DATA, payload)])

    def end(self, at: float, kind: int = EOF) -> list[Event]:
        return self._through(0, [Event(at, kind)])

    def deadline(self) -> float | None:
        due = [when for stage in self.stages if (when := stage.deadline()) is not None]
        return min(due, default=None)

    def tick(self, now: float) -> list[Event]:
        """Return what the stages do by themselves at *now* (after going through the stages after)."""
        out: list[Event] = []
        for index, stage in enumerate(self.stages):
            events = stage.tick(now)
            if events:
                out.extend(self._through(index + 1, events))
        return out

    def _through(self, first: int, events: list[Event]) -> list[Event]:
        for stage in self.stages[first:]:
            passed: list[Event] = []
            for event in events:
                if event.kind == DATA:
                    passed.extend(stage.data(event.at, event.data))
                else:
                    passed.extend(stage.end(event.at, event.kind))
            events = passed
        return events
