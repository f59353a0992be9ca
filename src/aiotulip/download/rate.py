"""Rate limits (``--limit-rate``, ``--limit-rate-per-file``): token buckets, arithmetic only.

A reader reports the bytes it just received and is told how long to wait before reading on; the
wait lets the socket's buffers fill and TCP slow the server down, so the average rate holds with no
timer, thread or system call of the limiter's own (the clock is ``time.monotonic``, read without a
system call on Linux). The bucket may go into debt — a chunk larger than what is left is let through
and paid for by the wait after it — so reads of any size keep the average, and at most a tenth of a
second of credit is saved up while idle, so a pause is not followed by a burst.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Bucket"]

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
