"""Argument types for the command line: each turns bad input into one clear line (exit 2)."""

from __future__ import annotations

from collections.abc import Callable

from aiotulip.shared.units import parse_rate, parse_size, parse_size_range

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


def typed(convert: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError:
            import argparse

            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def fail() -> Any:
    raise ValueError


def bounded(value: float, low: float, high: float) -> float:
    if not (low <= value <= high) or value != value:
        raise ValueError
    return value


port = typed(lambda t: int(bounded(int(t), 0, 65535)), "a port number (0-65535)")
count = typed(lambda t: int(bounded(int(t), 0, 10**9)), "a count >= 0")
positive = typed(lambda t: int(bounded(int(t), 1, 10**7)), "a whole number from 1 to 10000000")
positive_float = typed(lambda t: bounded(float(t), 1e-6, 1e6), "a number > 0")
int_list = typed(lambda t: [int(bounded(int(c), 1, 10**6)) for c in t.split(",")], "a list like 1,10,100")
word_list = typed(
    lambda t: [w.strip() for w in t.split(",") if w.strip()] or fail(), "a list like threads,asyncio"
)
positive_seconds = typed(lambda t: bounded(float(t), 1e-3, 10**6), "a number of seconds > 0")
seconds = typed(lambda t: bounded(float(t), 0, 10**6), "a number of seconds >= 0")
probability = typed(lambda t: bounded(float(t), 0, 1), "a probability between 0 and 1")
size_range = typed(parse_size_range, "a size like 2k, 50M or 1k-64k")
rate = typed(parse_rate, "a rate like 500k or 10M")
size = typed(lambda t: int(bounded(parse_size(t), 1, 2**62)), "a size like 500k, 2G")


def _limit(text: str) -> int | None:
    """A limit where 0 means none, as curl and wget take --limit-rate 0 and --max-filesize 0."""
    size = parse_size(text)
    if size == 0 and float(text.strip().rstrip("bBkKmMgGtTiI")) == 0:
        return None  # 0 itself (0, 0k, 0.0): none; 0.5 is no limit of a whole byte: refused below
    return int(bounded(size, 1, 2**62))


limit = typed(_limit, "a size like 500k, 2G (0: no limit)")
byte_count = typed(lambda t: int(bounded(parse_size(t), 0, 2**62)), "a size like 0, 64, 500k")


def label_python(text: str) -> tuple[str, str]:
    import shutil

    label, _, python = text.partition("=")
    found = shutil.which(python) if python else None
    if not label.strip() or found is None:
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not LABEL=PYTHON with an interpreter that exists")
    return label.strip(), found


codes = typed(
    lambda t: tuple(int(bounded(int(c), 400, 599)) for c in t.split(",")), "a list of HTTP error codes"
)


def path(text: str) -> Path:
    from pathlib import Path  # only for the commands that take one

    return Path(text)
