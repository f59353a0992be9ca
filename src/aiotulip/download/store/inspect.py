"""What is on disk for a job before it starts: the sizes of its final file and of its part, found by
listing each folder once rather than a stat per job (a fresh destination costs one directory read,
however many files the run holds); leftovers of crashed runs' small files are removed on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from typing import Any

from aiotulip.download.store.part import HASH_BLOCK

__all__ = ["alive", "hash_file", "listing", "regular", "regular_size"]

_TEMP = re.compile(r"\..+\.tulip-(\d+)-\d+")


def listing(where: str) -> set[str]:
    """The names in the folder *where* (none if it cannot be read), the small-file temporaries of
    processes no longer alive removed."""
    try:
        names = set(os.listdir(where))
    except OSError:
        return set()
    for name in names:
        if name[:1] == "." and (match := _TEMP.fullmatch(name)) and not alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(where, name))
    return names


def alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def regular(path: str) -> os.stat_result | None:
    """The file at *path* as stat sees it if it is a regular file (never through a symlink)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except (OSError, ValueError):
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def regular_size(path: str) -> int | None:
    info = regular(path)
    return info.st_size if info is not None else None


def hash_file(path: str, digest: Any = None) -> tuple[int, str]:
    """Return the size and the hex digest of the file at *path* (sha256, or *digest* fed as read)."""
    digest = hashlib.sha256() if digest is None else digest
    size = 0
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
