"""tulip: concurrent network I/O on asyncio.

A spinner for threads and asyncio, a file server with dialable faults, a bulk downloader with three
engines, and a benchmark that sets them beside curl, aria2c and wget2.

``import tulip`` costs next to nothing: every name loads on first use, because start-up time is part
of every short download and of every ``tulip spin``.
"""

TYPE_CHECKING = False  # not typing's: importing typing would cost ``tulip --version`` more than the rest
if TYPE_CHECKING:
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
    from tulip.serve import Faults, ServeConfig, ServerProcess, ServerThread, serving
    from tulip.spinner import Spinner

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

# Every name loads on first use: ``import tulip`` (and so ``tulip --version``, ``tulip spin``, a Ctrl-C
# at start-up) costs nothing of asyncio, aiohttp or the downloader until they are needed.
_WHERE = {
    "fetch": "tulip._fetch.api",
    "fetch_async": "tulip._fetch.api",
    "Job": "tulip._fetch.models",
    "Report": "tulip._fetch.models",
    "Result": "tulip._fetch.models",
    "ENGINES": "tulip._fetch.options",
    "FetchOptions": "tulip._fetch.options",
    "RetryPolicy": "tulip._fetch.retry",
    "Entry": "tulip._fetch.sources",
    "FetchError": "tulip.errors",
    "HTTPStatusError": "tulip.errors",
    "IntegrityError": "tulip.errors",
    "StorageError": "tulip.errors",
    "Timeout": "tulip.errors",
    "TransportError": "tulip.errors",
    "TulipError": "tulip.errors",
    "UsageError": "tulip.errors",
    "GroupSpinner": "tulip.group",
    "SpinnerGroup": "tulip.group",
    "Spinner": "tulip.spinner",
    "Faults": "tulip.serve",
    "ServeConfig": "tulip.serve",
    "ServerProcess": "tulip.serve",
    "ServerThread": "tulip.serve",
    "serving": "tulip.serve",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tulip' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once found, an attribute like any other
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
