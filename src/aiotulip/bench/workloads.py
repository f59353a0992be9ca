"""Named workloads: what is served, how, and at what concurrency — and the time no client can beat.

``--scale`` multiplies the file counts, so the default run stays near a minute on two cores while a
bigger machine can ask for more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = ["WORKLOADS", "Workload"]


@dataclass(frozen=True)
class Workload:
    name: str
    files: int
    size: int  # bytes per file
    concurrency: int
    delay: float = 0.0  # server delay per request; needs tulip serve
    server: str = "tulip"  # "tulip" or "nginx" (falls back to tulip when nginx is missing)
    about: str = ""
    rate: int | None = None  # bytes a second per connection (nginx limit_rate), as mirrors and CDNs cap
    split: int = 1  # connections per file for the clients that can (tulip --split, aria2c -s, wget2)
    # Mirrors: each one's bytes a second per connection (nginx locations); a last one that breaks
    # every answer half-way (tulip serve) is added when *failing_mirror*. Clients that take mirrors
    # (tulip, aria2c) get them all on one tab-separated line; the others the first URL alone.
    mirrors: tuple[int, ...] = ()
    failing_mirror: bool = False
    tls: str = ""  # "h1": nginx over TLS offering HTTP/1.1 alone; "h2": HTTP/2 too, by ALPN

    def limit(self, concurrency: int | None = None) -> float | None:
        """The latency floor: waves of *concurrency* requests, each waiting out the delay."""
        if not self.delay:
            return None
        return math.ceil(self.files / (concurrency or self.concurrency)) * self.delay

    def scaled(self, scale: float) -> Workload:
        files = max(1, round(self.files * scale))
        return replace(self, files=files, concurrency=min(self.concurrency, files))


WORKLOADS: dict[str, Workload] = {
    workload.name: workload
    for workload in (
        Workload("latency", 1000, 2048, 100, delay=0.1, about="1,000 x 2 KB behind a 100 ms delay, c=100"),
        Workload("small", 10_000, 1024, 100, server="nginx", about="10,000 x 1 KB, no delay, c=100"),
        Workload(
            "small-https",
            10_000,
            1024,
            100,
            server="nginx",
            tls="h1",
            about="10,000 x 1 KB over TLS (HTTP/1.1), c=100",
        ),
        Workload(
            "small-h2",
            10_000,
            1024,
            100,
            server="nginx",
            tls="h2",
            about="10,000 x 1 KB over TLS and HTTP/2, c=100",
        ),
        Workload("bulk", 20, 50 * 1024 * 1024, 20, server="nginx", about="20 x 50 MB, c=20"),
        Workload("c10k", 10_000, 1024, 10_000, delay=1.0, about="10,000 x 1 KB behind a 1 s delay, c=10,000"),
        Workload(
            "split",
            1,
            300 * 1024 * 1024,
            1,
            server="nginx",
            rate=20 * 1024 * 1024,
            split=8,
            about="1 x 300 MB at 20 MB/s a connection (nginx limit_rate), 8 connections",
        ),
        Workload(
            "mirrors",
            1,
            200 * 1024 * 1024,
            1,
            server="nginx",
            split=8,
            mirrors=(20 * 1024 * 1024, 10 * 1024 * 1024),
            failing_mirror=True,
            about="1 x 200 MB from 3 mirrors: 20 and 10 MB/s a connection, one breaking each answer half-way",
        ),
    )
}
