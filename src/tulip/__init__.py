"""tulip: concurrent network I/O on asyncio.

A spinner for threads and asyncio, a file server with dialable faults, a bulk downloader with three
engines, and a benchmark that sets them beside curl, aria2c and wget2.
"""

from tulip.errors import (
    FetchError,
    HTTPStatusError,
    IntegrityError,
    StorageError,
    Timeout,
    TransportError,
    TulipError,
    UsageError,
)
from tulip.spinner import Spinner

__all__ = [
    "FetchError",
    "HTTPStatusError",
    "IntegrityError",
    "Spinner",
    "StorageError",
    "Timeout",
    "TransportError",
    "TulipError",
    "UsageError",
]
