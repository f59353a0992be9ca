"""What tulip keeps beside its files, in extended attributes: the on-disk record of a download.

On a part: the server's validator (for If-Range), a tag of the URL its bytes came from, and, for a
split download, the map of what is written. On a finished file: the server's ETag with the size and
mtime it was kept for (for ``-N``), and, for a file its server named, the URL's tag (so a rerun may
replace it and nobody else's file). Every reader tolerates a file system without extended attributes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

__all__ = [
    "ETAG",
    "MAP",
    "PART_MARKS",
    "SOURCE",
    "URL_TAG",
    "VALIDATOR",
    "kept_etag",
    "ours",
    "source_of",
    "stamp",
    "url_tag",
]

VALIDATOR = "user.tulip.validator"
URL_TAG = "user.tulip.url"
ETAG = "user.tulip.etag"  # on a finished file: the server's ETag, for -N
MAP = "user.tulip.segments"  # on a split download's part: the ranges written
SOURCE = "user.tulip.source"  # on a file named by its server: the URL's tag (a rerun may replace it)
PART_MARKS = (VALIDATOR, URL_TAG, MAP)  # what makes a file look like a part: gone from a final file


def url_tag(url: str) -> str:
    """Return what ties a part file to the URL its bytes came from."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def stamp(fd: int, mtime: float | None, etag: str | None, named_for: str | None) -> None:
    """Give a finished file the server's Last-Modified as its mtime, keep its ETag beside it (for
    ``-N`` the next time, with the size and mtime it was kept for: a file changed here since is not
    vouched for by it), and tie a file the server named to its URL (*named_for*)."""
    if mtime is not None:
        with contextlib.suppress(OverflowError, ValueError):  # a date past what the file system holds
            os.utime(fd, (mtime, mtime))
    if etag:
        info = os.fstat(fd)
        kept = f"{info.st_size} {info.st_mtime_ns} {etag}"
        with contextlib.suppress(OSError, AttributeError):
            os.setxattr(fd, ETAG, kept.encode("latin-1", "replace")[:1024])
    if named_for is not None:
        with contextlib.suppress(OSError, AttributeError):
            os.setxattr(fd, SOURCE, url_tag(named_for).encode())


def kept_etag(path: str, info: os.stat_result) -> tuple[bool, str | None]:
    """Return whether the ETag record of the file at *path* (as *info* describes it) still holds, and
    its ETag; a record made for another size or mtime (the file changed here since) does not hold."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        kept = os.getxattr(path, ETAG).decode("latin-1")
        size, mtime_ns, etag = kept.split(" ", 2)
        if (int(size), int(mtime_ns)) == (info.st_size, info.st_mtime_ns):
            return True, etag
        return False, None
    return True, None


def source_of(path: str) -> str | None:
    with contextlib.suppress(OSError, AttributeError, UnicodeDecodeError):
        return os.getxattr(path, SOURCE, follow_symlinks=False).decode()
    return None


def ours(path: str) -> bool:
    """Whether a file carries tulip's attributes (so its bytes are a tulip download's)."""
    for name in (VALIDATOR, URL_TAG):
        with contextlib.suppress(OSError, AttributeError):
            os.getxattr(path, name, follow_symlinks=False)
            return True
    return False
