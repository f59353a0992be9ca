"""The lock on a part file: one run writes a part at a time, and only the very file its path names.

``flock`` is released by the kernel when its holder exits, however it exits, so a killed run never
leaves a part locked. A run that finds the lock held waits for the other run (``PartBusy``), which
usually leaves the finished file behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat

from aiotulip.download.store.part import OPEN_FLAGS, shown, storage_error
from aiotulip.errors import StorageError

__all__ = ["PartBusy", "lock_part"]


class PartBusy(Exception):
    """Another run holds this item's part file: it is downloading the same file right now."""


def lock_part(path: str, url: str) -> int:
    """Open and lock the part file at *path* (for the item of *url*); return its descriptor. Raise
    PartBusy if another run has it.

    After the lock, the descriptor must still be the file the path names (a run that held the lock
    before may have renamed it into place) with no other name (a hard link would let us write into
    someone else's file): if not, the name is dropped and a fresh file made.
    """
    for _ in range(8):
        try:
            fd = os.open(path, os.O_RDWR | OPEN_FLAGS, 0o666)  # (less the umask, as curl)
        except OSError as exc:
            raise storage_error(exc, path, url) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise PartBusy(path) from None
        except OSError as exc:  # a file system without locks: carry on, as before locks
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                os.close(fd)
                raise storage_error(exc, path, url) from None
        held = os.fstat(fd)
        try:
            named = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            named = None
        if named is None or (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
            os.close(fd)  # renamed or replaced while we waited for it: take the path again
            continue
        if held.st_nlink != 1 or not stat.S_ISREG(held.st_mode):
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # drops our name only; whatever else links to it is untouched
            continue
        return fd
    raise StorageError(f"cannot take {shown(path)}: it keeps changing under us", url=url)
