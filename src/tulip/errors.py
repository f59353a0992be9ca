"""Errors raised by tulip.

    TulipError
    ├── UsageError            the caller's mistake: bad option, malformed URL, unreadable input (exit 2)
    │   ├── CommandNotFound   ``tulip spin`` got a program that does not exist (exit 127)
    │   └── CommandNotExecutable  ... one it may not run (exit 126)
    └── FetchError            one item could not be downloaded; always names its URL
        ├── TransportError    the connection failed: refused, reset, closed early
        │   └── Timeout       connect, idle-read or total deadline passed
        ├── HTTPStatusError   the server answered with a status that is not a success
        ├── IntegrityError    the bytes arrived but their size or sha256 is wrong
        └── StorageError      the local file could not be written or renamed

A FetchError ends one item, never the run: engines record it in that item's Result and go on.
"""

from __future__ import annotations

__all__ = [
    "CommandNotExecutable",
    "CommandNotFound",
    "FetchError",
    "HTTPStatusError",
    "IntegrityError",
    "StorageError",
    "Timeout",
    "TransportError",
    "TulipError",
    "UsageError",
]


class TulipError(Exception):
    """Base class of every error tulip raises on purpose."""

    #: The process exit status the command line uses for this error.
    exit_status = 1


class UsageError(TulipError):
    """The caller asked for something impossible; nothing was started."""

    exit_status = 2


class CommandNotFound(UsageError):
    """``tulip spin`` was asked to run a program that does not exist (exit 127, as in a shell)."""

    exit_status = 127


class CommandNotExecutable(UsageError):
    """``tulip spin`` found the program but may not run it (exit 126, as in a shell)."""

    exit_status = 126


class FetchError(TulipError):
    """One item failed; *url* says which."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class TransportError(FetchError):
    """The connection failed before a complete answer arrived."""


class Timeout(TransportError):
    """A connect, idle-read or total deadline passed."""


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    def __init__(self, status: int, *, url: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}", url=url)
        self.status = status
        self.retry_after = retry_after


class IntegrityError(FetchError):
    """The downloaded bytes do not match the expected size or sha256."""


class StorageError(FetchError):
    """Writing, syncing or renaming the local file failed."""
