"""The shapes both fault injectors give a byte stream, as arithmetic without I/O: ``tulip serve``'s
faults on an answer's body and ``tulip proxy``'s toxics on a TCP stream share them, so a bandwidth
limit, a slicer or a cut means the same in both.

- ``seeded``: the generator of one decision, keyed by what the decision is about (never by arrival
  order, which concurrency shuffles), so that a seed replays the same faults;
- ``Pace``: when each piece may leave under a bandwidth limit;
- ``slice_ends``: where a stream is cut into pieces (a slicer; a bandwidth limit's ticks);
- ``within_limit``: how much still passes under limit_data;
- ``cut_short``: where a body of known length is cut so that at least one byte is missing.
"""

from __future__ import annotations

import random

__all__ = ["Pace", "cut_short", "seeded", "slice_ends", "within_limit"]


def seeded(seed: int, *keys: object) -> random.Random:
    """Return the generator of the decision that *keys* name, the same for the same seed every run."""
    return random.Random(":".join(str(key) for key in (seed, *keys)))


class Pace:
    """A bandwidth limit of *rate* bytes a second: each piece starts when the ones before it have had
    their time (no burst is saved up while the stream is idle)."""

    __slots__ = ("free_at", "rate")

    def __init__(self, rate: float, start: float) -> None:
        self.rate = rate
        self.free_at = start  # when the last piece has had its time

    def take(self, now: float, size: int) -> float:
        """Return when *size* bytes that are ready at *now* may start to leave."""
        start = max(now, self.free_at)
        self.free_at = start + size / self.rate
        return start


def slice_ends(length: int, average: int, variation: int = 0, rng: random.Random | None = None) -> list[int]:
    """Return the end offsets of the pieces *length* bytes are cut into, each *average* bytes, or
    *average* ± *variation* drawn from *rng* (the last piece is what is left); one piece when
    *average* is 0."""
    if average <= 0 or length <= average - variation:
        return [length] if length else []
    ends = []
    end = 0
    while end < length:
        size = rng.randint(average - variation, average + variation) if variation and rng else average
        end = min(length, end + max(1, size))
        ends.append(end)
    return ends


def within_limit(carried: int, size: int, limit: int) -> tuple[int, bool]:
    """Return how many of *size* more bytes pass when *carried* have gone under *limit*, and whether the
    limit is then reached (the connection closes)."""
    room = max(0, limit - carried)
    return min(size, room), size >= room


def cut_short(length: int, fraction: float) -> int:
    """Return where a body of *length* bytes is cut at *fraction*: always short by a byte at least, so
    that a cut is a fault even for a one-byte body."""
    return min(int(length * fraction), max(0, length - 1))
