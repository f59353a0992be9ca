"""tulip: concurrent network I/O on asyncio.

A spinner for threads and asyncio, a file server with dialable faults, a bulk downloader with three
engines, and a benchmark that sets them beside curl, aria2c and wget2.

``import tulip`` stays light (no aiohttp): the server's names load on first use, because start-up
time is part of every short download and of every ``tulip spin``.
"""

from typing import TYPE_CHECKING, Any

from tulip._fetch.api import fetch, fetch_async
from tulip._fetch.models import Job, Report, Result
from tulip._fetch.options import ENGINES, FetchOptions
from tulip._fetch.retry import RetryPolicy
from tulip._fetch.sources import Entry
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
from tulip.group import GroupSpinner, SpinnerGroup
from tulip.spinner import Spinner

if TYPE_CHECKING:
    from tulip.serve import Faults, ServeConfig, ServerProcess, ServerThread, serving

__all__ = [
    "ENGINES",
    "Entry",
    "Faults",
    "FetchError",
    "FetchOptions",
    "GroupSpinner",
    "HTTPStatusError",
    "IntegrityError",
    "Job",
    "Report",
    "Result",
    "RetryPolicy",
    "ServeConfig",
    "ServerProcess",
    "ServerThread",
    "Spinner",
    "SpinnerGroup",
    "StorageError",
    "Timeout",
    "TransportError",
    "TulipError",
    "UsageError",
    "fetch",
    "fetch_async",
    "serving",
]

_SERVE_NAMES = {"Faults", "ServeConfig", "ServerProcess", "ServerThread", "serving"}


def __getattr__(name: str) -> Any:
    if name in _SERVE_NAMES:
        import tulip.serve

        return getattr(tulip.serve, name)
    raise AttributeError(f"module 'tulip' has no attribute {name!r}")
