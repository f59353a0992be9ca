"""Byte ranges, server side: what a parsed ``Range`` header asks for from a file of known size."""

from __future__ import annotations

__all__ = ["UNSATISFIABLE", "resolve_range"]

UNSATISFIABLE = (-1, -1)


def resolve_range(requested: slice | None, size: int) -> tuple[int, int] | None:
    """Return (start, end) with *end* exclusive, None for the whole file, UNSATISFIABLE for a 416.

    *requested* is what aiohttp's ``request.http_range`` parsed: ``slice(None, None)`` when there is
    no Range header, a negative start for a suffix (``bytes=-500``), an exclusive end otherwise.
    """
    if requested is None or (requested.start is None and requested.stop is None):
        return None
    start, stop = requested.start, requested.stop
    if start is None:  # aiohttp turns "bytes=-N" into start=-N, so this is only a defensive default
        start = 0
    if start < 0:  # suffix: the last -start bytes
        if size == 0:
            return UNSATISFIABLE
        return max(0, size + start), size
    if start >= size:
        return UNSATISFIABLE
    end = size if stop is None else min(stop, size)
    return start, end
