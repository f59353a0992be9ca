"""A block of live lines at the bottom of a terminal, redrawn in place: what bytes do it (pure).

The cursor rests at the end of the block's last line. To redraw, go to the start of that line, up
to the block's first, erase to the end of the screen, and write the new block — one write, so the
terminal never shows a half-drawn frame. Lines written above the block (output, finished spinners)
are written where the block was, then the block again below them.

Only rows the block itself wrote are ever moved over or erased: a terminal that re-wraps old lines
when narrowed can keep a stale row of the block's last frame, but nothing a program printed is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from aiotulip.shared import terminal as term

T = TypeVar("T")

__all__ = ["erase", "fold", "redraw"]


def erase(drawn: int) -> str:
    """Return the bytes that remove a block of *drawn* lines, leaving the cursor where it began."""
    if drawn <= 0:
        return ""
    up = f"\x1b[{drawn - 1}A" if drawn > 1 else ""
    return "\r" + up + "\x1b[J"


def redraw(lines: list[str], drawn: int) -> str:
    """Return the bytes that replace a block of *drawn* lines with *lines* (already fitted)."""
    if not lines:
        return erase(drawn)
    return erase(drawn) + "\n".join(lines) if drawn else "\r" + "\n".join(lines)


def fold(lines: Sequence[T], rows: int, width: int, ellipsis: str = "…") -> list[T | str]:
    """Keep as many *lines* as fit in *rows* terminal rows (one left free), the rest as "+N more"."""
    room = max(1, rows - 1)
    if len(lines) <= room:
        return list(lines)
    kept = lines[: room - 1] if room > 1 else []
    return [*kept, term.fit(f"+{len(lines) - len(kept)} more", width - 1, ellipsis)]
