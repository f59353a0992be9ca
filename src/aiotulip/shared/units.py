"""Sizes, rates and durations as people type them: ``2k``, ``50M``, ``1k-64k``, ``10M/s``.

Multipliers are binary (k = 1024), as in curl and aria2c.
"""

from __future__ import annotations

import re

__all__ = ["format_bytes", "parse_rate", "parse_size", "parse_size_range"]

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Return the number of bytes in *text* (``512``, ``2k``, ``1.5M``, ``3GiB``); raise ValueError."""
    match = _SIZE.fullmatch(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 512, 2k, 50M)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_size_range(text: str) -> tuple[int, int]:
    """Return (low, high) for ``2k`` (low == high) or ``1k-64k``; raise ValueError."""
    low_text, sep, high_text = str(text).partition("-")
    low = parse_size(low_text)
    high = parse_size(high_text) if sep else low
    if high < low:
        raise ValueError(f"size range {text!r} runs backwards")
    return low, high


def parse_rate(text: str) -> float:
    """Return bytes per second for ``500k``, ``10M/s`` or ``10MB/s``; raise ValueError."""
    rate = parse_size(str(text).removesuffix("/s"))
    if rate <= 0:
        raise ValueError(f"rate must be positive: {text!r}")
    return float(rate)


def format_bytes(count: float) -> str:
    """Return *count* bytes in the largest binary unit that keeps it above one: ``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
