"""What the server has done: requests, bytes, faults by kind, connections now and at their peak.

The bench reads the peak of concurrent connections to check that a client really ran at the
concurrency it claims (a client that says 100 but holds 6 connections shows up here), and when the
first request came, to take each client's start-up out of its time.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

__all__ = ["Stats"]


class Stats:
    """Counters updated by the server's handlers and connection hooks (one event loop, no locks)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started = time.time()
        self.requests = 0
        self.bytes_sent = 0
        self.statuses: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.connections = getattr(self, "connections", 0)  # open connections survive a reset
        self.carried: dict[int, int] = getattr(self, "carried", {})  # body bytes per open connection
        self.peak_connections = self.connections
        self.connections_total = 0
        self.header_timeouts = 0  # connections closed for not sending a whole request in time
        # time.monotonic() of the first request since the reset: the system's clock, the same in
        # every process here, so the bench can tell a client's start-up from its downloading.
        self.first_request: float | None = None

    def requested(self) -> None:
        self.requests += 1
        if self.first_request is None:
            self.first_request = time.monotonic()

    def connection_opened(self) -> None:
        self.connections += 1
        self.connections_total += 1
        if self.connections > self.peak_connections:
            self.peak_connections = self.connections

    def connection_closed(self, key: int | None = None) -> None:
        self.connections -= 1
        if key is not None:
            self.carried.pop(key, None)

    def to_json(self) -> dict[str, Any]:
        return {
            "uptime": round(time.time() - self.started, 3),
            "requests": self.requests,
            "bytes_sent": self.bytes_sent,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "faults": dict(sorted(self.faults.items())),
            "connections": self.connections,
            "peak_connections": self.peak_connections,
            "connections_total": self.connections_total,
            "header_timeouts": self.header_timeouts,
            "first_request_monotonic": self.first_request,
        }
