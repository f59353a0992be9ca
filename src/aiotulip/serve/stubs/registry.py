"""The stubs a server holds, in WireMock's order of matching: the lowest ``priority`` first, and
among equals the one added last. No I/O.

Stubs with an exact ``url`` or ``urlPath`` are found by a dictionary lookup, so a server with
thousands of them answers a request by testing a handful; the rest are tested in order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator

from aiotulip.serve.stubs.match import Incoming
from aiotulip.serve.stubs.model import Stub

__all__ = ["NEAR_MISS_LIMIT", "Registry"]

NEAR_MISS_LIMIT = 1000


def _order(stub: Stub) -> tuple[int, int]:
    return (stub.priority, -stub.seq)


class Registry:
    """Stubs by id, with the lookups that make matching cheap."""

    def __init__(self) -> None:
        self.size = 0  # len(self), as an attribute: the file server's fast path reads it every request
        self._stubs: dict[str, Stub] = {}
        self._seq = 0
        self._by_url: dict[str, list[Stub]] = {}
        self._by_path: dict[str, list[Stub]] = {}
        self._rest: list[Stub] = []

    def __len__(self) -> int:
        return len(self._stubs)

    def __iter__(self) -> Iterator[Stub]:
        return iter(list(self._stubs.values()))

    def get(self, stub_id: str) -> Stub | None:
        return self._stubs.get(stub_id)

    def add(self, stub: Stub) -> Stub:
        """Add *stub* (one with the id of another replaces it) as the most recent."""
        self._seq += 1
        stub.seq = self._seq
        self._stubs.pop(stub.id, None)
        self._stubs[stub.id] = stub
        self._index()
        return stub

    def replace(self, stub: Stub) -> bool:
        """Put *stub* in the place of the one with its id; False if there is none."""
        old = self._stubs.get(stub.id)
        if old is None:
            return False
        stub.seq = old.seq
        self._stubs[stub.id] = stub
        self._index()
        return True

    def remove(self, stub_id: str) -> Stub | None:
        stub = self._stubs.pop(stub_id, None)
        if stub is not None:
            self._index()
        return stub

    def clear(self) -> None:
        self._stubs.clear()
        self._index()

    def _index(self) -> None:
        by_url: dict[str, list[Stub]] = {}
        by_path: dict[str, list[Stub]] = {}
        rest: list[Stub] = []
        for stub in self._stubs.values():
            kind = stub.request.url_kind
            if kind == "url":
                by_url.setdefault(stub.request.url_text, []).append(stub)
            elif kind == "urlPath":
                by_path.setdefault(stub.request.url_text, []).append(stub)
            else:
                rest.append(stub)
        for group in (*by_url.values(), *by_path.values(), rest):
            group.sort(key=_order)
        self._by_url, self._by_path, self._rest = by_url, by_path, rest
        self.size = len(self._stubs)

    def find(self, incoming: Incoming, allows: Callable[[Stub], bool]) -> Stub | None:
        """Return the stub that answers *incoming*: the first in order that matches it and whose
        scenario *allows* it; None when no stub does."""
        exact = self._by_url.get(incoming.url)
        if exact is not None and not self._by_path and not self._rest:
            # The common shape of a stub server (every stub an exact url): one dictionary lookup.
            for stub in exact:
                if stub.request.matches(incoming) and allows(stub):
                    return stub
            return None
        lists = [group for group in (exact, self._by_path.get(incoming.path), self._rest) if group]
        if not lists:
            return None
        candidates = lists[0] if len(lists) == 1 else heapq.merge(*lists, key=_order)
        for stub in candidates:
            if stub.request.matches(incoming) and allows(stub):
                return stub
        return None

    def nearest(self, incoming: Incoming, n: int = 3) -> list[tuple[float, Stub]]:
        """Return the *n* stubs closest to *incoming* (WireMock's near misses), closest first.

        Only the first ``NEAR_MISS_LIMIT`` stubs (in the order they were added) are weighed: every
        404 pays for this, and a client sending nothing but misses must not cost a core per request.
        """
        stubs = itertools.islice(self._stubs.values(), NEAR_MISS_LIMIT)
        scored = [(stub.request.distance(incoming), stub) for stub in stubs]
        return sorted(scored, key=lambda pair: (pair[0], _order(pair[1])))[:n]
