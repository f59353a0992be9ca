"""What a stream can show: interactivity, colour, width in display cells.

Spinners and progress lines go wrong in the same few ways — control bytes in CI logs, lines that wrap
and so can never be erased, wide characters counted as one column — so the answers live here once.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from typing import Any, TextIO

__all__ = [
    "CLEAR_LINE",
    "HIDE_CURSOR",
    "SHOW_CURSOR",
    "can_encode",
    "cell_width",
    "color_enabled",
    "fit",
    "forgiving",
    "in_foreground",
    "is_interactive",
    "one_line",
    "shown_line",
    "terminal_rows",
    "terminal_width",
    "write_safely",
]

# "\r" then "erase to end of line" rewrites a line in place whatever was on it before; backspaces
# would have to count cells exactly, which wide characters make fragile.
CLEAR_LINE = "\r\x1b[K"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"


def is_interactive(stream: TextIO) -> bool:
    """Return whether *stream* is a terminal that understands cursor movement."""
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def in_foreground(stream: TextIO) -> bool:
    """Whether this process's group is the foreground one of the terminal behind *stream*, as a
    shell's job in the foreground is (True where that cannot be told: no terminal, or not this
    process's controlling one). A job in the background (``&``, ``bg``; also under ``timeout``,
    which makes a group of its own) that drew would draw over the shell's prompt: pv draws nothing
    then, nor does tulip."""
    try:
        return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    except (AttributeError, ValueError, OSError):
        return True


def color_enabled(stream: TextIO) -> bool:
    """Return whether colour may be used on *stream* (https://no-color.org)."""
    return not os.environ.get("NO_COLOR") and is_interactive(stream)


def terminal_width(stream: TextIO) -> int:
    """Return the width of the terminal behind *stream*, asked afresh so a resize takes effect."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        import shutil  # (only here: shutil brings bz2 and lzma, 3 ms of every start)

        return shutil.get_terminal_size().columns or 80


def can_encode(stream: TextIO, text: str) -> bool:
    """Return whether *text* survives the stream's encoding (a C locale cannot show ✔)."""
    # A stream without an encoding (io.StringIO) holds str, which can hold anything.
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 2
    return 1


def cell_width(text: str) -> int:
    """Return how many terminal columns *text* occupies (wide East Asian characters take two)."""
    return sum(_char_width(char) for char in text)


def one_line(text: str) -> str:
    """Return *text* with control characters replaced, so that it cannot break the line."""
    return "".join(" " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in text)


# An escape sequence: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \\), or ESC and one byte.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")  # colours and styles: they move nothing
_RESET = "\x1b[0m"


def shown_line(text: str) -> str:
    """Return a line of a program's output (no newline in it) as a terminal would finally show it,
    made safe to print above live lines: tabs expanded, a carriage return's overwriting done (the
    last state of a ``50%\\r100%`` progress line), colours and styles kept (and ended, so none runs
    into the live lines), every other control character or escape sequence — which could move the
    cursor or clear the screen — made harmless."""
    text = text.rstrip("\r")
    if "\r" in text:
        text = _overwritten(text.split("\r"))
    if "\t" in text:
        text = text.expandtabs()
    if "\x1b" not in text:
        return one_line(text)
    pieces, at, styled = [], 0, False
    for escape in _ESCAPE.finditer(text):
        pieces.append(one_line(text[at : escape.start()]))
        if _SGR.fullmatch(escape.group()):
            pieces.append(escape.group())
            styled = True
        at = escape.end()
    pieces.append(one_line(text[at:]))
    return "".join(pieces) + (_RESET if styled else "")


def _overwritten(parts: list[str]) -> str:
    """What a line written in *parts*, each from the start of the line, leaves on the screen."""
    shown = ""
    for part in parts:
        shown = part + shown[len(part) :]
    return shown


def fit(text: str, cells: int, ellipsis: str = "…") -> str:
    """Return *text* cut to at most *cells* columns, marking a cut with *ellipsis*."""
    if cell_width(text) <= cells:
        return text
    room = cells - cell_width(ellipsis)
    if room < 0:
        return ""
    out: list[str] = []
    used = 0
    for char in text:
        width = _char_width(char)
        if used + width > room:
            break
        out.append(char)
        used += width
    return "".join(out) + ellipsis


def terminal_rows(stream: TextIO) -> int:
    """Return the height of the terminal behind *stream* (24 when it cannot be told)."""
    try:
        return os.get_terminal_size(stream.fileno()).lines or 24
    except (AttributeError, ValueError, OSError):
        import shutil  # (only here: shutil brings bz2 and lzma, 3 ms of every start)

        return shutil.get_terminal_size().lines or 24


def write_safely(stream: TextIO | None, data: str) -> None:
    """Write and flush *data*; a closed pipe, or no stream at all (``sys.stderr`` None), is no crash."""
    if stream is None:
        return
    try:
        stream.write(data)
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass


class _Forgiving:
    """A stream whose writes and flushes may fail without a word: what a drawing library is given,
    so that a terminal that hung up (EIO) or a reader that left (EPIPE) ends the drawing, not the
    run. Anything else is the stream's own (isatty, fileno, encoding)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def forgiving(stream: TextIO) -> TextIO:
    """*stream*, its failed writes dropped (see _Forgiving): for rich, which draws from several
    places (a refresh, a task's reset, stop) and lets such an error out of any of them."""
    return _Forgiving(stream)  # type: ignore[return-value]  # (duck-typed: write, flush, the rest passed on)
