"""Rate limits (``--limit-rate``, ``--limit-rate-per-file``): token buckets; and the speed floor
(``-Y/--speed-limit`` with ``-y/--speed-time``): a reader too slow for too long. Arithmetic only.

A reader reports the bytes it just received and is told how long to wait before reading on; the
wait lets the socket's buffers fill and TCP slow the server down, so the average rate holds with no
timer, thread or system call of the limiter's own (the clock is ``time.monotonic``, read without a
system call on Linux). The bucket may go into debt — a chunk larger than what is left is let through
and paid for by the wait after it — so reads of any size keep the average, and at most a tenth of a
second of credit is saved up while idle, so a pause is not followed by a burst.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

__all__ = ["Bucket", "Floor"]

_BURST = 0.1  # seconds of credit kept while idle


class Bucket:
    """*rate* bytes a second, shared by every reader that holds it (thread-safe)."""

    __slots__ = ("_clock", "_last", "_lock", "_tokens", "rate")

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError("a rate must be > 0")
        self.rate = float(rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = 0.0  # start empty: the first chunk already costs its time
        self._last = clock()

    def take(self, n: int) -> float:
        """*n* bytes were received: return the seconds to wait before reading more (0.0 for none)."""
        with self._lock:
            now = self._clock()
            rate = self.rate
            tokens = self._tokens + (now - self._last) * rate
            burst = rate * _BURST
            if tokens > burst:
                tokens = burst
            tokens -= n
            self._tokens = tokens
            self._last = now
        return -tokens / rate if tokens < 0 else 0.0


class Floor:
    """curl's ``-Y RATE -y S`` for one reader (one connection): too slow once fewer than *rate*
    bytes a second arrived over the last *seconds* (after the first *seconds*). A reader that gets
    nothing at all is caught by the transport's read timeout, held at *seconds* by the options."""

    __slots__ = ("_clock", "_got", "_samples", "_started", "rate", "seconds")

    def __init__(self, rate: float, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not (rate > 0 and seconds > 0):
            raise ValueError("a speed floor needs a rate and a time > 0")
        self.rate = float(rate)
        self.seconds = float(seconds)
        self._clock = clock
        self._started = clock()
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._got = 0  # bytes in the samples

    def too_slow(self, n: int) -> bool:
        """*n* bytes just arrived: whether the reader has been under the floor for the whole window."""
        now = self._clock()
        samples = self._samples
        samples.append((now, n))
        self._got += n
        start = now - self.seconds
        while samples[0][0] < start:
            self._got -= samples.popleft()[1]
        return now - self._started >= self.seconds and self._got < self.rate * self.seconds
