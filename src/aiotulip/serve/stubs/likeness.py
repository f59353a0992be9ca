"""How far apart two strings are, from 0 (equal) to 1: what ranks WireMock's near misses. No I/O."""

from __future__ import annotations

import difflib

__all__ = ["string_distance"]

_FUZZY = 64  # strings up to this long get an edit distance; longer ones a cheaper likeness
_LONG = 4096  # ... of at most this many characters


def string_distance(a: str, b: str) -> float:
    """Return how far apart *a* and *b* are: an edit distance over the longer length for short
    strings, one minus difflib's quick ratio for long ones (a near miss is a ranking, not a proof)."""
    if a == b:
        return 0.0
    if not a or not b:
        return 1.0
    if len(a) <= _FUZZY and len(b) <= _FUZZY:
        return _levenshtein(a, b) / max(len(a), len(b))
    return 1.0 - difflib.SequenceMatcher(None, a[:_LONG], b[:_LONG], autojunk=False).quick_ratio()


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right)))
        previous = current
    return previous[-1]
