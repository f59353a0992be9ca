"""tulip: concurrent network I/O on asyncio.

A spinner for threads and asyncio, a file server with dialable faults, a bulk downloader with three
engines, and a benchmark that sets them beside curl, aria2c and wget2.

``import tulip`` costs next to nothing: every name loads on first use, because start-up time is part
of every short download and of every ``tulip spin``.
"""

TYPE_CHECKING = False  # not typing's: importing typing would cost ``tulip --version`` more than the rest
if TYPE_CHECKING:
    from aiotulip.download.api import fetch, fetch_async
    from aiotulip.download.models import Job, Report, Result
    from aiotulip.download.options import ENGINES, FetchOptions
    from aiotulip.download.retry import RetryPolicy
    from aiotulip.download.sources import Entry
    from aiotulip.errors import (
        FetchError,
        FetchInterrupted,
        HTTPStatusError,
        IntegrityError,
        StorageError,
        Timeout,
        TransportError,
        TulipError,
        UsageError,
    )
    from aiotulip.serve import Faults, ServeConfig, ServerProcess, ServerThread, serving
    from aiotulip.spin.group import GroupSpinner, SpinnerGroup
    from aiotulip.spin.spinner import Spinner

__all__ = [
    "ENGINES",
    "Entry",
    "Faults",
    "FetchError",
    "FetchInterrupted",
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
    "fetch": "aiotulip.download.api",
    "fetch_async": "aiotulip.download.api",
    "Job": "aiotulip.download.models",
    "Report": "aiotulip.download.models",
    "Result": "aiotulip.download.models",
    "ENGINES": "aiotulip.download.options",
    "FetchOptions": "aiotulip.download.options",
    "RetryPolicy": "aiotulip.download.retry",
    "Entry": "aiotulip.download.sources",
    "FetchError": "aiotulip.errors",
    "FetchInterrupted": "aiotulip.errors",
    "HTTPStatusError": "aiotulip.errors",
    "IntegrityError": "aiotulip.errors",
    "StorageError": "aiotulip.errors",
    "Timeout": "aiotulip.errors",
    "TransportError": "aiotulip.errors",
    "TulipError": "aiotulip.errors",
    "UsageError": "aiotulip.errors",
    "GroupSpinner": "aiotulip.spin.group",
    "SpinnerGroup": "aiotulip.spin.group",
    "Spinner": "aiotulip.spin.spinner",
    "Faults": "aiotulip.serve",
    "ServeConfig": "aiotulip.serve",
    "ServerProcess": "aiotulip.serve",
    "ServerThread": "aiotulip.serve",
    "serving": "aiotulip.serve",
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
