"""Which of a file's URLs (its own and its mirrors) the single stream asks next, and how each did.

A split download picks a URL for each span (``segments.Sources.pick``); one stream turns to the next
URL on each retry, drops a URL that failed for good while others remain, and, when bytes from
several URLs fail the checksum together, asks one URL at a time until the one serving wrong bytes is
found and dropped.
"""

from __future__ import annotations

from aiotulip.download.retry import RetryPolicy
from aiotulip.download.segments import Sources
from aiotulip.errors import ChecksumError, FetchError

__all__ = ["Mirrors"]


class Mirrors:
    """The URLs of one file and the one the single stream asks now (*current*: 0 is the job's)."""

    __slots__ = ("current", "sources")

    def __init__(self, count: int) -> None:
        self.sources = Sources(count)
        self.current = 0

    def after(self, error: FetchError, delay: float | None, policy: RetryPolicy) -> float | None:
        """*error* ended the last attempt and the policy says wait *delay* (None: give up): move to
        the URL the next attempt asks, and return the wait before it (None for none)."""
        sources = self.sources
        if isinstance(error, ChecksumError):
            if sources.only is not None:
                sources.drop(sources.only, "its bytes failed the checksum")
            live = [i for i, s in enumerate(sources.states) if s.dropped is None]
            sources.only = live[0] if live else None
            if sources.only is None:
                return None
            self.current = sources.only
            return delay
        live = sources.live()
        if delay is None and not policy.retryable(error) and len(live) > 1:
            sources.drop(self.current, str(error) or type(error).__name__)
            delay = 0.0  # others remain: on to the next at once
        live = sources.live()
        if live:
            later = [i for i in live if i > self.current]
            self.current = later[0] if later else live[0]
        return delay

    def served(self, count: int) -> None:
        """The single stream's URL served *count* bytes of the file."""
        self.sources.states[self.current].bytes += count

    def forget_served(self) -> None:
        """The .part starts over: what each URL had served is no longer in the file."""
        for state in self.sources.states:
            state.bytes = 0

    def report(self, urls: list[str]) -> list[dict[str, object]]:
        """Each URL (as *urls* show them) with the bytes it served and why it was dropped, if it was."""
        return [
            {"url": url, "bytes": state.bytes, "dropped": state.dropped}
            for url, state in zip(urls, self.sources.states, strict=True)
        ]
