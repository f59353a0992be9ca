"""When to try again, and how long to wait first: pure decisions, the same for every engine.

Connection failures, timeouts, bodies cut short, and the statuses curl's ``--retry`` takes as
transient (408, 429, 500, 502, 503, 504; and 425 Too Early) are worth another attempt; 404, the other
4xx and the other 5xx (501 Not Implemented, 505 HTTP Version Not Supported ...) are not: asking again
gets the same answer. Waits grow exponentially with *full jitter*
(a uniform draw between zero and the exponential cap), which spreads retries from many clients so
they do not return in lockstep; a server's ``Retry-After`` is a floor under that wait.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import NamedTuple

from aiotulip.errors import FetchError, HTTPStatusError

__all__ = ["Attempts", "RetryPolicy", "parse_retry_after"]

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime  # rare: not worth its import at start-up

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        import time

        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass
class RetryPolicy:
    """How many attempts an item gets and how long to wait between them."""

    retries: int = 5  # attempts after the first
    backoff: float = 0.2  # the cap of the first wait, doubled each time ...
    max_backoff: float = 30.0  # ... up to this
    max_retry_after: float = 300.0  # a longer Retry-After is not waited for: the item fails
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def retryable(self, error: FetchError) -> bool:
        """Whether asking again could give a different answer."""
        if isinstance(error, HTTPStatusError):
            return error.status in _RETRY_STATUSES
        return error.transient

    def delay(self, attempt: int, error: FetchError, remaining: float | None = None) -> float | None:
        """Return how long to wait before attempt *attempt* + 1, or None to give up.

        *attempt* counts from 1 (the attempt that just failed); *remaining* is what is left of the
        item's total deadline, if it has one.
        """
        if attempt > self.retries or not self.retryable(error):
            return None
        cap = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        wait = self.rng.uniform(0, cap)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            wait = max(wait, retry_after)
        if remaining is not None and wait >= remaining:
            return None
        return wait


class Attempts(NamedTuple):
    """An item's attempts as a value (urllib3's ``Retry``): how many went to the network, by when the
    item must be over, and what ended each one that failed. Each event returns a new value, and
    ``next_wait`` is the one place that decides whether another attempt follows, and when.

    An attempt counts once a request goes out (or once it fails on the way): one that goes back to the
    disk first (a part to remove, another run holding it) is not an attempt — the Report's count is
    the server's.
    """

    made: int = 0  # attempts made (that reached the network)
    deadline: float | None = None
    history: tuple[str, ...] = ()  # the error kind that ended each failed attempt, in order

    def sent(self) -> Attempts:
        """One more attempt reached the network."""
        return Attempts(self.made + 1, self.deadline, self.history)

    def spans(self, failed: int) -> Attempts:
        """A split download's span requests that failed on the way, *failed* of them, each an attempt."""
        return self._replace(made=self.made + failed, history=self.history + ("transport",) * failed)

    def failed(self, error: FetchError) -> Attempts:
        """The last attempt ended with *error*."""
        return Attempts(self.made, self.deadline, (*self.history, error.kind))

    def remaining(self, now: float) -> float | None:
        """Seconds left of the item's total deadline, None without one."""
        return None if self.deadline is None else self.deadline - now

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def next_wait(self, policy: RetryPolicy, error: FetchError, now: float) -> float | None:
        """The wait before the next attempt after *error*, or None: no more attempts."""
        return policy.delay(self.made, error, self.remaining(now))
