"""What tulip keeps beside its files, in extended attributes: the on-disk record of a download.

On a part: the server's validator (for If-Range), the file's size its first answer gave (a resume
answered for a file of another size is another version, whatever the validator says), a tag of the
URL its bytes came from, and, for a split download, the map of what is written. On a finished file,
one record: the URL's tag, the size and mtime the file was finished at, and the server's ETag (so a
rerun knows the file as its own and complete, may replace it, never takes a stranger's file for done
nor writes over it, and asks with the ETag under ``-N``). Files finished by earlier versions keep
the ETag apart (``ETAG``): still read. Every reader tolerates a file system without extended
attributes.
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
    "TOTAL",
    "URL_TAG",
    "VALIDATOR",
    "kept_etag",
    "ours",
    "source_of",
    "stamp",
    "url_tag",
    "vouched",
]

VALIDATOR = "user.tulip.validator"
TOTAL = "user.tulip.total"  # on a part: the file's size as the answer it was begun from said
URL_TAG = "user.tulip.url"
ETAG = "user.tulip.etag"  # on a file finished by an earlier version: "size mtime_ns ETag" (read only)
MAP = "user.tulip.segments"  # on a split download's part: the ranges written
SOURCE = "user.tulip.source"  # on a finished file: "URL-tag size mtime_ns[ ETag]" (tulip's own, as finished)
PART_MARKS = (VALIDATOR, TOTAL, URL_TAG, MAP)  # what makes a file look like a part: gone from a final file
_RECORD_MAX = 1024  # bytes of a finished file's record at most (what every file system keeps)


def url_tag(url: str) -> str:
    """Return what ties a part file to the URL its bytes came from."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def stamp(fd: int, mtime: float | None, etag: str | None, url: str) -> None:
    """Give a finished file the server's Last-Modified as its mtime, and its record: the URL it came
    from, the size and mtime it was finished at, and the server's ETag (for ``-N`` the next time) —
    by which a later run knows the file as its own, complete and unchanged since. One attribute, in
    one system call (a second one cost about 4% of a run of small files)."""
    # (try blocks rather than contextlib.suppress: this runs for every small file, and each
    # suppress is three Python calls)
    if mtime is not None:
        try:  # noqa: SIM105 (see above)
            os.utime(fd, (mtime, mtime))
        except (OverflowError, ValueError):  # a date past what the file system holds
            pass
    info = os.fstat(fd)
    kept = f"{url_tag(url)} {info.st_size} {info.st_mtime_ns}".encode()
    if etag:
        with_etag = kept + b" " + etag.encode("latin-1", "replace")
        # An ETag too long to keep is not kept at all: a cut one would never match again, and -N
        # would fetch the file on every run; without it, -N asks by date.
        if len(with_etag) <= _RECORD_MAX:
            kept = with_etag
    try:  # noqa: SIM105
        os.setxattr(fd, SOURCE, kept)
    except (OSError, AttributeError):  # no extended attributes here
        pass


def _record(path: str, follow: bool = False) -> list[str] | None:
    """The fields of the record of the file at *path*: tag, size, mtime_ns and perhaps the ETag
    (*follow*: of the file a symlink there leads to)."""
    with contextlib.suppress(OSError, AttributeError):
        fields = os.getxattr(path, SOURCE, follow_symlinks=follow).decode("latin-1").split(" ", 3)
        return fields if len(fields) >= 3 else None
    return None


def kept_etag(path: str, info: os.stat_result) -> tuple[bool, str | None]:
    """Return whether the ETag record of the file at *path* (as *info* describes it) still holds, and
    its ETag; a record made for another size or mtime (the file changed here since) does not hold.
    (Through a symlink, as *info* is.)"""
    fields = _record(path, follow=True)
    if fields is not None and len(fields) == 4:
        if _same(fields, info):
            return True, fields[3]
        return False, None
    with contextlib.suppress(OSError, AttributeError, ValueError):  # as an earlier version kept it
        size, mtime_ns, etag = os.getxattr(path, ETAG).decode("latin-1").split(" ", 2)
        if (int(size), int(mtime_ns)) == (info.st_size, info.st_mtime_ns):
            return True, etag
        return False, None
    return True, None


def source_of(path: str) -> str | None:
    """The tag of the URL the file at *path* was downloaded from, None if tulip did not write it."""
    fields = _record(path)
    return fields[0] if fields is not None else None


def vouched(path: str, info: os.stat_result, url: str) -> bool:
    """Whether the file at *path* (as *info* describes it) is tulip's download of *url*, as it was
    finished: its record names the URL and the size and mtime it still has."""
    fields = _record(path)
    return fields is not None and fields[0] == url_tag(url) and _same(fields, info)


def _same(fields: list[str], info: os.stat_result) -> bool:
    """Whether a record's size and mtime are the file's (as *info* describes it) now."""
    return fields[1] == str(info.st_size) and fields[2] == str(info.st_mtime_ns)


def ours(path: str) -> bool:
    """Whether a file carries tulip's attributes (so its bytes are a tulip download's)."""
    for name in (VALIDATOR, URL_TAG):
        with contextlib.suppress(OSError, AttributeError):
            os.getxattr(path, name, follow_symlinks=False)
            return True
    return False
