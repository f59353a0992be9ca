"""Jupyter and IPython kernels: an output area a spinner can replace in place.

A kernel's stdout is no terminal (``isatty()`` is False), and ``\\r`` does not move anything back, so
frames written there would pile up. A display with an id can be replaced instead: the spinner shows
its frame in one, its output goes to another above it, and its final line stays. IPython is only
looked for in ``sys.modules``: a terminal user never imports it.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["WIDTH", "Cell", "in_kernel"]

WIDTH = 100  # a cell has no width to ask; lines are cut here rather than wrapped


def in_kernel(stream: TextIO | None) -> bool:
    """Whether output would go to a Jupyter kernel's cell (the default streams, in a kernel)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython too old or half set up: act as a plain stream
        return False
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    return stream is None or stream in (sys.stdout, sys.stderr)


class Cell:
    """One output area, replaced as a whole by ``show``."""

    def __init__(self, text: str = "") -> None:
        from IPython.display import display

        self.text = text
        self._handle: Any = display({"text/plain": text}, raw=True, display_id=True)

    def show(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self._handle.update({"text/plain": text}, raw=True)
