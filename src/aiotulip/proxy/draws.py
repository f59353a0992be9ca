"""The seeded draws of one proxy: which connections a toxic reaches (its toxicity), and the shapes
drawn for them (jitter, slice sizes, cut points), replayed exactly by the same ``--seed``.

As in tulip serve, a draw is keyed by what it is about, never by when it happens: the n-th
connection a proxy accepted, or the n-th request for a given method and target. A test that opens
its connections one after another, or asks for its URLs in order, meets the same toxics every run.
``POST /reset`` starts the counts again.
"""

from __future__ import annotations

import random

from aiotulip.shared.shapes import seeded

__all__ = ["Draws"]

_MAX_KEYS = 100_000  # request keys remembered; past that the counts start again (a bound on memory)


class Draws:
    """The draws of the proxy *proxy* under *seed*, counted since the last reset."""

    def __init__(self, seed: int, proxy: str) -> None:
        self.seed = seed
        self.proxy = proxy
        self.connections = 0
        self.requests: dict[str, int] = {}

    def reset(self) -> None:
        self.connections = 0
        self.requests.clear()

    def next_connection(self) -> int:
        """Return the number of a newly accepted connection (0 for the first since the reset)."""
        nth = self.connections
        self.connections += 1
        return nth

    def next_request(self, key: str) -> int:
        """Return how many requests with *key* (``GET /path``) came before this one."""
        if len(self.requests) >= _MAX_KEYS and key not in self.requests:
            self.requests.clear()
        nth = self.requests.get(key, 0)
        self.requests[key] = nth + 1
        return nth

    def connection(self, toxic: str, nth: int) -> random.Random:
        """The generator of toxic *toxic* on connection *nth*: its first number decides whether the
        toxic reaches the connection (below the toxicity), the next ones shape what it does."""
        return seeded(self.seed, self.proxy, toxic, "connection", nth)

    def request(self, toxic: str, key: str, nth: int) -> random.Random:
        """The generator of toxic *toxic* on the *nth* request with *key*, used the same way."""
        return seeded(self.seed, self.proxy, toxic, key, nth)
