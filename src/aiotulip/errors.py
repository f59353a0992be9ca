"""Errors raised by tulip.

    TulipError
    ├── UsageError            the caller's mistake: bad option, malformed URL, unreadable input (exit 2)
    │   ├── CommandNotFound   ``tulip spin`` got a program that does not exist (exit 127)
    │   └── CommandNotExecutable  ... one it may not run (exit 126)
    └── FetchError            one item could not be downloaded; always names its URL
        ├── TransportError    the connection failed: refused, reset, closed early
        │   ├── Timeout       connect, idle-read or total deadline passed
        │   ├── ProtocolError     the answer is not HTTP/1.1 as the standard allows (not retried)
        │   ├── CertificateError  the server's TLS certificate is not trusted (not retried)
        │   ├── ProxyError        the proxy refused the request or wants credentials
        │   └── ResolveError      the host name could not be resolved
        ├── HTTPStatusError   the server answered with a status that is not a success
        ├── RedirectError     too many redirects, or one to a scheme tulip does not fetch (not retried)
        ├── IntegrityError    the bytes arrived but their size or sha256 is wrong
        │   └── ChecksumError     ... their checksum is not the one the input gives
        └── StorageError      the local file could not be written or renamed (not retried)
            ├── DiskFullError no space left (or quota): the run starts nothing more
            └── BusyError     another run kept the file's part locked for too long

Beside them, ``FetchInterrupted`` is a KeyboardInterrupt: Ctrl-C stopped ``fetch()``, and its
``report`` says what was done.

A FetchError ends one item, never the run: engines record it in that item's Result and go on —
except a DiskFullError, after which no new item starts (each would fail the same way, after
asking its server for the file); the ones never begun are reported as not started.
``kind`` names the class in a Report (``error_kind``); ``transient`` says whether asking again
could give another answer; the retry policy reads it
(for HTTPStatusError the status decides). Messages never hold a secret: URLs in them are shown
with their password replaced by ``***``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BusyError",
    "CertificateError",
    "ChecksumError",
    "CommandNotExecutable",
    "CommandNotFound",
    "DiskFullError",
    "FetchError",
    "FetchInterrupted",
    "HTTPStatusError",
    "IntegrityError",
    "ProtocolError",
    "ProxyError",
    "RedirectError",
    "ResolveError",
    "StorageError",
    "Timeout",
    "TransportError",
    "TulipError",
    "UsageError",
]


class FetchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or, on the command line, SIGTERM or SIGHUP) stopped ``fetch()``: raised as Python
    raises KeyboardInterrupt, so that a program stops, with the Report of what was done in
    ``report`` (the items cut off ``interrupted``, their parts kept for the next run)."""

    def __init__(self, report: Any) -> None:
        super().__init__("interrupted")
        self.report = report


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

    kind = "fetch"

    #: Whether a new attempt could succeed where this one failed.
    transient = False

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class TransportError(FetchError):
    """The connection failed before a complete answer arrived."""

    kind = "transport"

    transient = True


class Timeout(TransportError):
    """A connect, idle-read or total deadline passed."""

    kind = "timeout"


class ProtocolError(TransportError):
    """The server's bytes are not an HTTP/1.1 response as the standard allows (a malformed or
    doubled Content-Length, one beside Transfer-Encoding, a bad chunk, a bad status line)."""

    kind = "protocol"

    transient = False


class CertificateError(TransportError):
    """The server's TLS certificate could not be verified."""

    kind = "certificate"

    transient = False


class ProxyError(TransportError):
    """The proxy could not be reached, refused the tunnel, or asks for credentials."""

    kind = "proxy"

    def __init__(self, message: str, *, url: str = "", transient: bool = True) -> None:
        super().__init__(message, url=url)
        self.transient = transient


class ResolveError(TransportError):
    """The host name did not resolve (a temporary failure of the resolver is transient)."""

    kind = "resolve"

    def __init__(self, message: str, *, url: str = "", transient: bool = False) -> None:
        super().__init__(message, url=url)
        self.transient = transient


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    kind = "http"

    def __init__(self, status: int, *, url: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}", url=url)
        self.status = status
        self.retry_after = retry_after


class RedirectError(FetchError):
    """Too many redirects, or a redirect tulip will not follow."""

    kind = "redirect"


class IntegrityError(FetchError):
    """The downloaded bytes do not match the expected size or sha256."""

    kind = "integrity"

    def __init__(self, message: str, *, url: str = "", transient: bool = True) -> None:
        super().__init__(message, url=url)
        # A transfer corrupted on the way may come right the next time; a server that says it has
        # another size than the one expected will say so again.
        self.transient = transient


class ChecksumError(IntegrityError):
    """The bytes' checksum is not the one the input gives (with mirrors: some URL served wrong bytes)."""


class StorageError(FetchError):
    """Writing, syncing or renaming the local file failed."""

    kind = "storage"


class DiskFullError(StorageError):
    """No space is left on the device (or in the user's quota): the run starts no more items."""


class BusyError(StorageError):
    """Another tulip run was downloading the same file, and still was when this item gave up waiting."""

    kind = "busy"
