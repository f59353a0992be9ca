"""What a server (serve, proxy) says about requests it could not handle: one line each, never a
traceback, and no more than a few a second (a client sending garbage, or hanging up in the middle of
a body, must not fill a disk with our complaints)."""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["bad_request_logger"]

_PER_SECOND = 5


class _OneLine(logging.Filter):
    """Turns aiohttp's "Error handling request" + traceback into one line, rate-limited."""

    def __init__(self) -> None:
        super().__init__()
        self._second = 0
        self._count = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = int(time.monotonic())
        if now != self._second:
            if self._dropped:
                record.msg = f"({self._dropped} more bad requests not shown) " + str(record.msg)
            self._second, self._count, self._dropped = now, 0, 0
        self._count += 1
        if self._count > _PER_SECOND:
            self._dropped += 1
            return False
        if record.exc_info:
            exc = record.exc_info[1]
            reason = " ".join(str(getattr(exc, "message", "") or exc).split())[:200] if exc else ""
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {reason}" if exc else record.msg
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def bad_request_logger(command: str) -> logging.Logger:
    """Return the logger ``tulip COMMAND`` hands aiohttp for the requests it rejects."""
    logger = logging.getLogger(f"tulip.{command}.requests")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"tulip {command}: %(message)s"))
        logger.addHandler(handler)
        logger.addFilter(_OneLine())
        logger.propagate = False
    return logger
