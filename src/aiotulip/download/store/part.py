"""The part file and the rename that makes it final.

A download grows in ``.NAME.tulip-part`` (``names.part_name``), hashed as it is written; ``commit``
renames it to ``NAME`` once the Item has checked its size and sha256, so a file is complete under its
final name or absent. A split download's part is made at the file's full size (sparse) and filled
out of order, its map kept beside it (``record``). Every method blocks: async engines call them from
threads.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import threading
from typing import Any, Protocol

from aiotulip.download import stages
from aiotulip.download.models import Job
from aiotulip.download.names import final_name
from aiotulip.download.store import record
from aiotulip.download.store.record import MAP, PART_MARKS, TOTAL, URL_TAG, VALIDATOR, url_tag
from aiotulip.errors import DiskFullError, StorageError

__all__ = [
    "HASH_BLOCK",
    "OPEN_FLAGS",
    "Final",
    "NameTaken",
    "PartFile",
    "explain",
    "folder_closed",
    "folder_opened",
    "fsync_dir",
    "place",
    "shown",
]

OPEN_FLAGS = os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
HASH_BLOCK = 1024 * 1024
_IOV_MAX = 1024
_SMALL_PIECE = 64 * 1024  # pieces smaller than this on average are joined before hashing (write_all)


class Final(Protocol):
    """How a finished file is to be named and stamped (the Item's Commit step is one)."""

    @property
    def name(self) -> str: ...
    @property
    def mtime(self) -> float | None: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def exclusive(self) -> bool: ...


class Digests:
    """sha256 and the other digests a job's input gives (md5, sha1, sha512), fed together."""

    __slots__ = ("_others", "_sha256")

    def __init__(self, job: Job) -> None:
        self._sha256 = hashlib.sha256()
        self._others = [(name, hashlib.new(name)) for name, _hex in job.checksums]

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._sha256.update(data)
        for _name, digest in self._others:
            digest.update(data)

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()

    def others(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, digest.hexdigest()) for name, digest in self._others)


def hasher_for(job: Job) -> Any:
    """sha256 alone (the usual case, at hashlib's own speed), or Digests when the input gives more."""
    return Digests(job) if job.checksums else hashlib.sha256()


def digests_of(job: Job, data: bytes) -> tuple[tuple[str, str], ...]:
    """The other digests of a body read whole (none unless the input gives some)."""
    return tuple((name, hashlib.new(name, data).hexdigest()) for name, _hex in job.checksums)


class NameTaken(Exception):
    """A name the server chose is a file (or folder) already there that is not from this URL."""


class PartFile:
    """An open, locked part file: writes, an incremental sha256, and the final rename."""

    def __init__(
        self, job: Job, path: str, fd: int, *, folder: str, fsync: bool, folder_fd: int | None = None
    ) -> None:
        self.folder = folder  # where the part and its final name are (a folder's open descriptor)
        self._folder_fd = folder_fd  # ... to close with the part
        self.fsync = fsync
        self.job = job
        self.path = path
        self.fd: int | None = fd
        self.size = 0
        self.hasher = hasher_for(self.job)
        self.saved_validator: str | None = None  # the validator an earlier run kept beside a resumed part
        self.saved_total: int | None = None  # ... and the file's size its answer gave
        self.saved_split: tuple[int, list[tuple[int, int]]] | None = None  # a split part's (size, done)
        self._hashed = 0  # a split part: bytes from its start that ``hasher`` has taken in
        self._hash_lock = threading.Lock()

    def absorb_existing(self, offset: int) -> None:
        """Hash the first *offset* bytes already in the file and cut anything beyond them."""
        assert self.fd is not None
        remaining = offset
        position = 0
        while remaining:
            block = os.pread(self.fd, min(HASH_BLOCK, remaining), position)
            if not block:
                break
            self.hasher.update(block)
            remaining -= len(block)
            position += len(block)
        self.size = offset - remaining
        os.ftruncate(self.fd, self.size)
        os.lseek(self.fd, self.size, os.SEEK_SET)

    def restart(self) -> None:
        """Empty the file (fresh, or the server sent the whole file instead of the range asked for)."""
        assert self.fd is not None
        try:
            os.ftruncate(self.fd, 0)  # before the map goes: an empty part with a map claims nothing
            os.lseek(self.fd, 0, os.SEEK_SET)
        except OSError as exc:
            raise storage_error(exc, self.path, self.job.url) from None
        for mark in (MAP, TOTAL):
            with contextlib.suppress(OSError, AttributeError):
                os.removexattr(self.fd, mark)
        self.size = 0
        self.saved_split = None
        self._hashed = 0
        self.hasher = hasher_for(self.job)
        self._set(URL_TAG, url_tag(self.job.url))

    def write(self, data: bytes | bytearray | memoryview, *, hashed: bool = True) -> None:
        """Append *data* (and hash it unless the caller already did)."""
        assert self.fd is not None
        started = stages.clock()
        if hashed:
            self.hasher.update(data)
        hashed_at = stages.clock()
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            raise storage_error(exc, self.path, self.job.url) from None
        stages.add(hashed_at - started, stages.clock() - hashed_at)
        self.size += len(data)

    def write_all(self, chunks: list[bytes]) -> None:
        """Hash and append *chunks* with one system call where the OS allows. Small pieces (libcurl's
        16 KB) are joined first: each hashing step over 2 KB gives up the GIL, and sixty-four a
        megabyte had this thread and the event loop's trade it back and forth (a bulk download
        went 10% slower than joining them on the loop); one copy here costs less."""
        assert self.fd is not None
        total = 0
        started = stages.clock()
        if len(chunks) > 1 and len(chunks) * _SMALL_PIECE > sum(map(len, chunks)):
            chunks = [b"".join(chunks)]
        for chunk in chunks:
            self.hasher.update(chunk)
            total += len(chunk)
        hashed = stages.clock()
        try:
            written = os.writev(self.fd, chunks) if len(chunks) <= _IOV_MAX else 0
            if written < total:  # a short write: finish the rest plainly
                rest = memoryview(b"".join(chunks))[written:]
                while rest:
                    rest = rest[os.write(self.fd, rest) :]
        except OSError as exc:
            raise storage_error(exc, self.path, self.job.url) from None
        stages.add(hashed - started, stages.clock() - hashed)
        self.size += total

    def make_split(self, total: int, validator: str | None, done_map: str) -> None:
        """Make this (empty) part a split download's: its map first, then its full size (sparse)."""
        assert self.fd is not None
        try:
            os.setxattr(self.fd, MAP, done_map.encode())
            os.ftruncate(self.fd, total)
        except OSError as exc:
            raise storage_error(exc, self.path, self.job.url) from None
        self.remember_validator(validator)
        self.size = total

    def write_at(self, offset: int, data: bytes | memoryview) -> None:
        """Write *data* at *offset* (a split download's span; not hashed: the file is, when whole)."""
        assert self.fd is not None
        view = memoryview(data)
        started = stages.clock()
        try:
            while view:
                written = os.pwrite(self.fd, view, offset)
                view = view[written:]
                offset += written
        except OSError as exc:
            raise storage_error(exc, self.path, self.job.url) from None
        stages.add(0.0, stages.clock() - started)

    def save_map(self, done_map: str) -> None:
        """Keep the map of what is written (only bytes already written may be in it)."""
        if self.fd is None:
            return
        try:
            if self.fsync:
                os.fdatasync(self.fd)  # the bytes reach the disk before the map that claims them
            os.setxattr(self.fd, MAP, done_map.encode())
        except OSError as exc:
            raise storage_error(exc, self.path, self.job.url) from None

    def hash_to(self, end: int) -> None:
        """Hash a split download's bytes in order up to *end* (called as its front fills, from a
        disk thread, so that little is left to hash when the last span lands)."""
        with self._hash_lock:
            fd = self.fd
            position = self._hashed
            started = stages.clock()
            try:
                while fd is not None and position < end:
                    block = os.pread(fd, min(HASH_BLOCK, end - position), position)
                    if not block:
                        break
                    self.hasher.update(block)
                    position += len(block)
            except OSError as exc:
                raise StorageError(
                    f"cannot read {shown(self.path)}: {exc.strerror}", url=self.job.url
                ) from None
            finally:
                self._hashed = position
                stages.add(stages.clock() - started, 0.0)  # (the read back is the hash's cost)

    def hash_whole(self) -> tuple[int, str]:
        """Return (size, sha256) of the whole file as it is now (a split download's, when complete)."""
        assert self.fd is not None
        self.hash_to(os.fstat(self.fd).st_size)
        return self._hashed, self.hasher.hexdigest()

    def remember_validator(self, validator: str | None, total: int | None = None) -> None:
        """Keep the server's validator and the file's size beside the data, so a later run resumes
        only the same version."""
        if validator:
            self._set(VALIDATOR, validator[:1024])
        if total is not None:
            self._set(TOTAL, str(total))

    def validator(self) -> str | None:
        return self._get(VALIDATOR)

    def total(self) -> int | None:
        kept = self._get(TOTAL)
        return int(kept) if kept is not None and kept.isdigit() else None

    def others(self) -> tuple[tuple[str, str], ...]:
        """The other digests of the bytes so far (none unless the input gives some)."""
        hasher = self.hasher
        return hasher.others() if isinstance(hasher, Digests) else ()

    def done_map(self) -> str | None:
        """The map of what a split download has written, as kept beside it (None: not split)."""
        return self._get(MAP)

    def tag(self) -> str | None:
        """The tag of the URL these bytes came from (None where unknown)."""
        return self._get(URL_TAG)

    def _set(self, name: str, value: str) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError, AttributeError):
                os.setxattr(self.fd, name, value.encode("latin-1", "replace"))  # header text: a byte a char

    def _get(self, name: str) -> str | None:
        if self.fd is None:
            return None
        with contextlib.suppress(OSError, AttributeError, UnicodeDecodeError):
            return os.getxattr(self.fd, name).decode("latin-1")
        return None

    def commit(self, commit: Final | None = None) -> None:
        """Make the file complete under its final name (flushed to disk first when fsync is on).

        Renamed while still locked: a run waiting for the lock then finds the path empty or new.
        """
        final = os.path.join(
            self.folder, (self.job.name if commit is None else commit.name).rpartition("/")[2]
        )
        assert self.fd is not None
        for name in PART_MARKS:  # a final file must not look like a part
            with contextlib.suppress(OSError, AttributeError):
                os.removexattr(self.fd, name)
        with contextlib.suppress(OSError):
            if commit is None:
                record.stamp(self.fd, None, None, self.job.url)
            else:
                record.stamp(self.fd, commit.mtime, commit.etag, self.job.url)
        try:
            if self.fsync:
                os.fsync(self.fd)
            place(self.path, final, self.job, commit is not None and commit.exclusive)
            if self.fsync:
                fsync_dir(os.path.dirname(final) or ".")
        except OSError as exc:
            self.close()
            raise storage_error(exc, final, self.job.url) from None
        except NameTaken:
            raise  # still open and locked: the item names it otherwise and commits again
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if self._folder_fd is not None:
            folder_closed(self.folder)
            with contextlib.suppress(OSError):
                os.close(self._folder_fd)
            self._folder_fd = None


def place(source: str, final: str, job: Job, exclusive: bool) -> None:
    """Rename *source* to *final*; *exclusive*: never over a file that is not from *job*'s URL
    (renamed only where nothing is, so no other file can appear there between the look and the
    move; then, over this URL's own earlier file)."""
    if not exclusive:
        _replace(source, final)
        return
    if _rename_noreplace(source, final):
        return
    try:
        os.link(source, final, follow_symlinks=False)
    except FileExistsError:
        if not _own(final, job):
            raise NameTaken(final) from None
        _replace(source, final)  # this URL's own file, from an earlier run: replaced
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(final) and not _own(final, job):  # (no hard links here)
            raise NameTaken(final) from None
        _replace(source, final)
        return
    os.unlink(source)


_ACL = "system.posix_acl_access"


def _replace(source: str, final: str) -> None:
    """Rename *source* over *final*, giving it the permissions, ACL and group of the file it
    replaces, as a download written in place keeps them (wget -N, curl -o): an updated script stays
    executable, a shared file its group. Only from a file of the user's own: one another user owns
    (root replacing it in a shared folder) gives nothing — its owner must not gain a file written
    by somebody else, nor make it world-writable — and never the set-user/group-ID bits. (Other names
    of the old file, hard links, keep the old bytes: the rename makes the new file whole or absent.)"""
    try:
        old = os.stat(final, follow_symlinks=False)
    except OSError:
        old = None
    if old is not None and stat.S_ISREG(old.st_mode) and old.st_uid == os.geteuid():
        with contextlib.suppress(OSError):
            os.chmod(source, stat.S_IMODE(old.st_mode) & 0o777)
        # (its group bits there are the ACL's mask: the ACL itself says who may read)
        with contextlib.suppress(OSError, AttributeError):
            os.setxattr(source, _ACL, os.getxattr(final, _ACL, follow_symlinks=False))
        if old.st_gid != os.getegid():
            with contextlib.suppress(OSError):  # (a group the user is in, or any as root)
                os.chown(source, -1, old.st_gid)
    os.replace(source, final)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_renameat2: Any = None


def _rename_noreplace(source: str, final: str) -> bool:
    """rename(2) that fails where *final* exists (Linux's renameat2 RENAME_NOREPLACE: one system call
    where a link and an unlink would be two); False where it cannot tell (then the caller links)."""
    global _renameat2
    if _renameat2 is None:
        try:
            import ctypes

            # PyDLL keeps the GIL through the call (CDLL drops and takes it back: on a RAM disk that
            # hand-off cost more than the rename, and pushed small files off the event loop).
            libc = ctypes.PyDLL(None, use_errno=True)
            function = libc.renameat2
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            _renameat2 = function
        except (OSError, AttributeError):
            _renameat2 = False
    if _renameat2 is False:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(final), _RENAME_NOREPLACE) == 0:
        return True  # (the hot path of small files: nothing imported or looked up beyond the call)
    import ctypes

    number = ctypes.get_errno()
    if number == errno.EEXIST:
        return False  # taken: the caller tells this URL's own file from anybody else's
    if number in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # a file system or kernel without it
    raise OSError(number, os.strerror(number), final)


def _own(path: str, job: Job) -> bool:
    """Whether the file at *path* is tulip's download of *job*'s URL, unchanged since (a folder, a
    symlink, anybody else's file or one edited here is not)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and record.vouched(path, info, job.url)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_SHOWN: dict[str, str] = {}  # "/proc/self/fd/N" -> the folder's path as the user knows it


def folder_opened(prefix: str, shown: str) -> None:
    """A folder is reached under *prefix* (its open descriptor): messages name it *shown*."""
    _SHOWN[prefix] = shown


def folder_closed(prefix: str) -> None:
    _SHOWN.pop(prefix, None)


def shown(path: str) -> str:
    """*path* as the user knows it (a folder's descriptor prefix put back to the folder's path)."""
    if path.startswith("/proc/self/fd/"):
        number, _slash, tail = path[len("/proc/self/fd/") :].partition("/")
        folder = _SHOWN.get("/proc/self/fd/" + number)
        if folder is not None:
            return os.path.join(folder, tail) if tail else folder
    return path


def storage_error(exc: OSError, path: str, url: str, words: str | None = None) -> StorageError:
    """The StorageError of *exc* met at *path* (in *words*, if given, else ``explain``'s): a
    DiskFullError where the device or the quota is full (the run then starts no more items)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # (said of the user's file, not of our part of it)
        return DiskFullError(explain(exc, final_name(path)), url=url)
    return StorageError(words or explain(exc, path), url=url)


def explain(exc: OSError, path: str) -> str:
    path = shown(path)
    if exc.errno == errno.ELOOP:
        return f"refusing to write through a symlink: {path}"
    if exc.errno == errno.EFBIG:
        return f"file too large for this system's limit: {path}"
    if exc.errno == errno.ENOSPC:
        return f"no space left on device: {path}"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded: {path}"
    return f"cannot write {path}: {exc.strerror or exc}"
