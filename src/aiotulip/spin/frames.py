"""What a spinner looks like, as data and pure functions: frame sets, and the line for a moment.

Kept apart from the Spinner's drivers (a thread, an asyncio task) as rich keeps ``_spinners.py`` and
``Spinner.render(time)`` apart from its live display: the frame shown is chosen from the elapsed
time, so the animation's speed does not depend on how often, or how late, it is redrawn.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiotulip.shared import terminal as term

__all__ = ["FAIL_MARK", "FRAMES", "GREEN", "OK_MARK", "RED", "final_line", "format_elapsed", "frame_line"]

FRAMES: dict[str, str | Sequence[str]] = {
    "line": "|/-\\",
    "dots": "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏",
    "arc": "◜◠◝◞◡◟",
    "arrow": "←↖↑↗→↘↓↙",
    "bounce": ("[=   ]", "[ =  ]", "[  = ]", "[   =]", "[  = ]", "[ =  ]"),
}

_CYAN, _RESET = "\x1b[36m", "\x1b[0m"
GREEN, RED = "\x1b[32m", "\x1b[31m"
OK_MARK = ("✔", "OK")  # each with its fallback, where the stream's encoding cannot show the first
FAIL_MARK = ("✖", "FAIL")


def format_elapsed(seconds: float) -> str:
    """Return *seconds* as a short clock: ``4.2s``, ``1m05s``, ``2h03m10s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def frame_line(
    frames: Sequence[str],
    interval: float,
    text: str,
    elapsed: float,
    *,
    width: int,
    timer: bool = False,
    color: bool = False,
    ellipsis: str = "…",
) -> str:
    """Return the spinner's line *elapsed* seconds after it started, never wider than *width* - 1
    cells (writing into the last column makes some terminals wrap early)."""
    frame = frames[int(elapsed / interval) % len(frames)]
    text = term.one_line(text)
    if timer:
        text = f"{text} ({format_elapsed(elapsed)})" if text else format_elapsed(elapsed)
    line = term.fit(f"{frame} {text}".rstrip(), width - 1, ellipsis)
    if color:
        head, _, rest = line.partition(" ")
        line = f"{_CYAN}{head}{_RESET} {rest}" if rest else f"{_CYAN}{head}{_RESET}"
    return line


def final_line(mark: str, text: str, *, elapsed: float | None = None, color: str = "") -> str:
    """Return the line a spinner leaves when it ends (``✔ done (1.2s)``), with its newline."""
    body = term.one_line(text)
    if elapsed is not None:
        body = f"{body} ({format_elapsed(elapsed)})"
    if color:
        mark = f"{color}{mark}{_RESET}"
    return f"{mark} {body}".rstrip() + "\n"
