"""How far apart two strings are, from 0 (equal) to 1: what ranks WireMock's near misses. No I/O.

Every 404 weighs the request against up to a thousand stubs, and the near-miss queries weigh every
unmatched request again: this runs hundreds of thousands of times on a busy stub server. Short
strings get an exact edit distance by Myers' bit-parallel algorithm (a Python int as the bit vector:
one pass of a few integer operations a character, where the textbook table took a millisecond for
two 64-character URLs), after their common prefix and suffix are set aside; long ones get difflib's
quick ratio, counted with Counter (the same value, without building a SequenceMatcher's index).
"""

from __future__ import annotations

import functools
from collections import Counter

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
        return _short_distance(a, b)
    a, b = a[:_LONG], b[:_LONG]
    matches = sum((Counter(a) & Counter(b)).values())
    return 1.0 - 2.0 * matches / (len(a) + len(b))


# (the same request against the same stubs, query after query; short strings only, so that the
# cache stays small: long bodies kept 67 MB here)
@functools.lru_cache(maxsize=4096)
def _short_distance(a: str, b: str) -> float:
    return _levenshtein(a, b) / max(len(a), len(b))


def _levenshtein(a: str, b: str) -> int:
    """The edit distance of *a* and *b* (insertions, deletions, substitutions, each 1)."""
    shorter = min(len(a), len(b))
    start = 0  # (the prefix and the suffix the two share cost nothing: URLs share most of theirs)
    while start < shorter and a[start] == b[start]:
        start += 1
    end = 0
    while end < shorter - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start : len(a) - end], b[start : len(b) - end]
    if not a or not b:
        return len(a) or len(b)
    if len(a) < len(b):
        a, b = b, a
    # Myers (1999), as Hyyrö (2003) gives it for the edit distance: b is the pattern, one bit a
    # character of it; each character of a moves the vertical deltas of a DP column at once.
    length = len(b)
    mask = (1 << length) - 1
    top = 1 << (length - 1)
    peq: dict[str, int] = {}
    for i, char in enumerate(b):
        peq[char] = peq.get(char, 0) | (1 << i)
    pv, mv, score = mask, 0, length
    for char in a:
        eq = peq.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = (ph << 1) | 1
        mh <<= 1
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv & mask
    return score
