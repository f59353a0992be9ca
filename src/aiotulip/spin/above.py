"""Lines printed while something animates on the terminal go above it: sys.stdout and sys.stderr
stand in for the terminal (as rich's Live redirects them), hand whole lines to the animation's
``write`` and give the streams back when it ends.

A stand-in is no terminal to those who ask (``isatty()`` False): a Spinner started meanwhile prints
its text and final line as lines rather than animating over the other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from aiotulip.shared import terminal as term

__all__ = ["Above", "redirect", "restore"]

Write = Callable[..., None]  # write(line, *, file=stream)


class Above:
    """sys.stdout or sys.stderr while an animation is up."""

    def __init__(self, write: Write, original: TextIO) -> None:
        self.original = original
        self._write = write
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self._write(lines, file=self.original)
        return len(text)

    def close_line(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self._write(pending, file=self.original)

    def flush(self) -> None:
        self.original.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> object:
        return getattr(self.original, name)


def redirect(write: Write) -> list[tuple[str, Above]]:
    """Stand in for whichever of sys.stdout and sys.stderr is a terminal; return what to restore."""
    taken = []
    for name in ("stdout", "stderr"):
        original = getattr(sys, name)
        if original is not None and not isinstance(original, Above) and term.is_interactive(original):
            proxy = Above(write, original)
            setattr(sys, name, proxy)
            taken.append((name, proxy))
    return taken


def restore(taken: list[tuple[str, Above]]) -> None:
    """Give the streams back (unless somebody replaced them since), then any unfinished line."""
    for name, proxy in taken:
        if getattr(sys, name) is proxy:
            setattr(sys, name, proxy.original)
        proxy.close_line()
