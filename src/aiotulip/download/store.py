"""Files on disk: a download grows in a hidden part file and becomes ``NAME`` by one rename.

The rename is what makes a file appear complete or not at all, whatever happens to the process.
Two kinds of temporary file, neither of which any final name can take (see ``names``):

- ``.NAME.tulip-part``, the resumable part, shared by every run over the same destination but
  written by one at a time: it is opened without truncation, locked (``flock``, released by the
  kernel when its holder exits, however it exits), checked to be the very file the path names and to
  have no other link, and only then cut, written, or renamed. A run that finds it locked waits for
  the other run (which usually leaves the finished file behind) instead of taking it over.
- ``.NAME.tulip-PID-N``, a small body written whole by one process, then renamed (no lock needed:
  nobody else writes that name; a crash's leftover is removed by the next run).

An extended attribute beside the part keeps the server's validator (for ``If-Range``) and a tag of the
URL it came from: bytes are resumed only when they can be tied to the item. A split download's part
(``--split``) is made at the file's full size, sparse, and filled out of order; a third attribute
keeps the map of what is written (set before the file is sized, updated only after the bytes it
claims are written), and a part with a map is never read as a plain prefix. Part files of earlier
tulip versions (``NAME.part``) are resumed when their attributes prove them tulip's.
``fsync=True`` also makes the file and its rename survive a power cut. Every method blocks: async
engines call them from threads.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiotulip.download import stages
from aiotulip.download.models import Job

if TYPE_CHECKING:
    from aiotulip.download.item import Commit
from aiotulip.download.names import LEGACY_PART_SUFFIX, part_name, temp_name
from aiotulip.download.plan import Local
from aiotulip.download.segments import decode_map
from aiotulip.errors import StorageError, UsageError

__all__ = ["NameTaken", "PartBusy", "PartFile", "Store"]

_OPEN_FLAGS = os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_HASH_BLOCK = 1024 * 1024
_VALIDATOR_XATTR = "user.tulip.validator"
_URL_XATTR = "user.tulip.url"
_ETAG_XATTR = "user.tulip.etag"  # on a finished file: the server's ETag, for -N
_MAP_XATTR = "user.tulip.segments"  # on a split download's part: the ranges written
_SOURCE_XATTR = "user.tulip.source"  # on a file named by its server: the URL's tag (a rerun may replace it)
_NOTHING = Local()
_IOV_MAX = 1024
_TEMP = re.compile(r"\..+\.tulip-(\d+)-\d+")
_sequence = itertools.count()


class PartBusy(Exception):
    """Another run holds this item's part file: it is downloading the same file right now."""


class NameTaken(Exception):
    """A name the server chose is a file (or folder) already there that is not from this URL."""


def url_tag(url: str) -> str:
    """Return what ties a part file to the URL its bytes came from."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:24]


class Store:
    """The destination directory and the files in it."""

    def __init__(self, dest: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.dest = Path(dest)
        self.fsync = fsync
        self._real = ""
        self._pid = str(os.getpid())
        self.xattrs = False  # whether dest keeps extended attributes (a split download needs them)

    def prepare(self) -> None:
        """Create dest if needed and prove it writable; raise UsageError naming it if not."""
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
            probe = self.dest / f".tulip-probe-{os.getpid()}"
            probe.write_bytes(b"")
            try:
                os.setxattr(probe, _MAP_XATTR, b"{}")
                self.xattrs = True
            except (OSError, AttributeError):
                self.xattrs = False
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"cannot write to {self.dest}: {exc.strerror or exc}") from None
        self._real = os.path.realpath(self.dest)

    def path(self, job: Job) -> str:
        """Return the final path of *job*, as the report shows it."""
        return os.path.join(self.dest, job.name)

    def part_path(self, job: Job) -> str:
        return os.path.join(self.dest, part_name(job.name))

    def inspect(self, job: Job) -> Local:
        """Return the sizes of *job*'s final file and part, where they exist as regular files."""
        part = _regular_size(self.part_path(job))
        if part is None and job.size is not None:
            legacy = self.path(job) + LEGACY_PART_SUFFIX
            size = _regular_size(legacy)
            part = size if size is not None and size < job.size and _ours(legacy) else None
        return Local(_regular_size(self.path(job)), part)

    def inspector(self) -> Callable[[Job], Local]:
        """Return inspect() as a function that lists each directory once (on first need) and stats
        only the names found there: a fresh destination costs one directory read for any number of
        jobs, asked one at a time as the engines take them."""
        listed: dict[str, set[str]] = {"": self._listing("")}

        def local(job: Job) -> Local:
            folder, _, base = job.name.rpartition("/")
            names = listed.get(folder)
            if names is None:
                names = listed[folder] = self._listing(folder)
            if base in names or f".{base}.tulip-part" in names or base + LEGACY_PART_SUFFIX in names:
                return self.inspect(job)
            return _NOTHING

        return local

    def inspect_all(self, jobs: list[Job]) -> list[Local]:
        """Return inspect() for every job, listing each directory once instead of stats a job.

        A fresh destination then costs one directory read, however many files the run holds. The
        listing also finds what a crashed run left of its small files, and removes it.
        """
        listed: dict[str, set[str]] = {}
        found = []
        for job in jobs:
            folder, _, base = job.name.rpartition("/")
            names = listed.get(folder)
            if names is None:
                names = listed[folder] = self._listing(folder)
            if base in names or f".{base}.tulip-part" in names or base + LEGACY_PART_SUFFIX in names:
                found.append(self.inspect(job))
            else:
                found.append(_NOTHING)
        return found

    def _listing(self, folder: str) -> set[str]:
        where = os.path.join(self.dest, folder)
        try:
            names = set(os.listdir(where))
        except OSError:
            return set()
        for name in names:
            if name[:1] == "." and (match := _TEMP.fullmatch(name)) and not _alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(where, name))
        return names

    def stat_final(self, job: Job) -> tuple[float | None, str | None]:
        """Return the final file's mtime and the ETag kept beside it (None where there is none)."""
        path = self.path(job)
        try:
            info = os.stat(path)
        except OSError:
            return None, None
        etag = None
        with contextlib.suppress(OSError, AttributeError, ValueError):
            record = os.getxattr(path, _ETAG_XATTR).decode("latin-1")
            size, mtime_ns, kept = record.split(" ", 2)
            if (int(size), int(mtime_ns)) == (info.st_size, info.st_mtime_ns):
                etag = kept
            else:
                return None, None  # changed here since: no question to ask, it is fetched again
        return info.st_mtime, etag

    def hash_final(self, job: Job) -> tuple[int, str]:
        """Return (size, sha256) of *job*'s final file."""
        try:
            return _hash_file(self.path(job))
        except OSError as exc:
            raise StorageError(f"cannot read {self.path(job)}: {exc.strerror}", url=job.url) from None

    def _checked_parent(self, job: Job) -> None:
        """Create the job's directory and make sure it lies inside dest, symlinks and all."""
        if "/" not in job.name:
            return
        parent = os.path.dirname(self.path(job))
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {parent}: {exc.strerror}", url=job.url) from None
        real = os.path.realpath(parent)
        if real != self._real and not real.startswith(self._real.rstrip(os.sep) + os.sep):
            raise StorageError(f"{parent} leads outside {self.dest}", url=job.url)

    def _lock_part(self, job: Job) -> int:
        """Open and lock *job*'s part file; return its descriptor. Raise PartBusy if another run has it.

        After the lock, the descriptor must still be the file the path names (a run that held the
        lock before may have renamed it into place) with no other name (a hard link would let us
        write into someone else's file): if not, the name is dropped and a fresh file made.
        """
        self._checked_parent(job)
        path = self.part_path(job)
        self._adopt_legacy(job, path)
        for _ in range(8):
            try:
                fd = os.open(path, os.O_RDWR | _OPEN_FLAGS, 0o644)
            except OSError as exc:
                raise StorageError(_explain(exc, path), url=job.url) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise PartBusy(path) from None
            except OSError as exc:  # a file system without locks: carry on, as before locks
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    os.close(fd)
                    raise StorageError(_explain(exc, path), url=job.url) from None
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
        raise StorageError(f"cannot take {path}: it keeps changing under us", url=job.url)

    def _adopt_legacy(self, job: Job, path: str) -> None:
        """Move an earlier tulip's ``NAME.part`` to the new name, if provably an unfinished part.

        tulip 0.1 marked its parts with the validator and kept the mark when it renamed one into
        place, so a complete download that happened to be named ``NAME.part`` carries it too: only a
        file shorter than the size the job knows is taken for a part (If-Range then checks the rest).
        """
        legacy = self.path(job) + LEGACY_PART_SUFFIX
        if os.path.lexists(path) or job.size is None or not _ours(legacy):
            return
        size = _regular_size(legacy)
        if size is not None and size < job.size:
            with contextlib.suppress(OSError):
                os.rename(legacy, path)

    def open_part(self, job: Job, offset: int) -> PartFile:
        """Open *job*'s part to continue at *offset* (0: empty it), hashing what it holds; it stays
        locked until closed or committed. Bytes tagged with another URL are not continued."""
        fd = self._lock_part(job)
        handle = PartFile(self, job, self.part_path(job), fd)
        try:
            if offset and handle.tag() not in (None, url_tag(job.url)):
                offset = 0  # another URL's bytes: this item cannot use them
            kept_map = handle._get(_MAP_XATTR) if offset else None
            if kept_map is not None:  # a split download's: its bytes are where the map says
                handle.saved_split = decode_map(kept_map)
                if handle.saved_split is None or handle.saved_split[0] != os.fstat(fd).st_size:
                    handle.saved_split = None
                    handle.restart()  # a map that cannot be read: nothing of the part is known
                else:
                    handle.size = offset
                    handle.saved_validator = handle.validator()
            elif offset:
                handle.absorb_existing(offset)
                handle.saved_validator = handle.validator()
            else:
                handle.restart()
        except BaseException:
            handle.close()
            raise
        return handle

    def discard_part(self, job: Job) -> None:
        """Remove *job*'s part (under its lock: never one another run is writing)."""
        path = self.part_path(job)
        if not os.path.lexists(path) and not os.path.lexists(self.path(job) + LEGACY_PART_SUFFIX):
            return
        fd = self._lock_part(job)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)

    def write_whole(self, job: Job, data: bytes, commit: Commit | None = None) -> None:
        """Write a complete small file: a temporary of its own, then rename — four system calls
        (and one for the server's mtime, one for its ETag, when *commit* carries them).

        The hot path of many-small-file runs, so it talks to the OS directly rather than through
        PartFile: less Python per file is less time holding the GIL the event loop needs.
        """
        name = commit.name if commit is not None else job.name
        if "/" in name:
            self._checked_parent(job)
        final = os.path.join(self.dest, name)
        temp = os.path.join(self.dest, temp_name(name, f"{self._pid}-{next(_sequence)}"))
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_EXCL | _OPEN_FLAGS, 0o644)
        except OSError as exc:
            raise StorageError(_explain(exc, temp), url=job.url) from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if commit is not None:
                _stamp(fd, commit, job)
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise StorageError(_explain(exc, final), url=job.url) from None
        os.close(fd)
        try:
            _place(temp, final, job, commit is not None and commit.exclusive)
            if self.fsync:
                _fsync_dir(os.path.dirname(final) or ".")
        except (OSError, NameTaken) as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if isinstance(exc, NameTaken):
                raise
            raise StorageError(_explain(exc, final), url=job.url) from None


class PartFile:
    """An open, locked part file: writes, an incremental sha256, and the final rename."""

    def __init__(self, store: Store, job: Job, path: str, fd: int) -> None:
        self.store = store
        self.job = job
        self.path = path
        self.fd: int | None = fd
        self.size = 0
        self.hasher = hashlib.sha256()
        self.saved_validator: str | None = None  # the validator an earlier run kept beside a resumed part
        self.saved_split: tuple[int, list[tuple[int, int]]] | None = None  # a split part's (size, done)
        self._hashed = 0  # a split part: bytes from its start that ``hasher`` has taken in
        self._hash_lock = threading.Lock()

    def absorb_existing(self, offset: int) -> None:
        """Hash the first *offset* bytes already in the file and cut anything beyond them."""
        assert self.fd is not None
        remaining = offset
        position = 0
        while remaining:
            block = os.pread(self.fd, min(_HASH_BLOCK, remaining), position)
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
            raise StorageError(_explain(exc, self.path), url=self.job.url) from None
        with contextlib.suppress(OSError, AttributeError):
            os.removexattr(self.fd, _MAP_XATTR)
        self.size = 0
        self.saved_split = None
        self._hashed = 0
        self.hasher = hashlib.sha256()
        self._set(_URL_XATTR, url_tag(self.job.url))

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
            raise StorageError(_explain(exc, self.path), url=self.job.url) from None
        stages.add(hashed_at - started, stages.clock() - hashed_at)
        self.size += len(data)

    def write_all(self, chunks: list[bytes]) -> None:
        """Hash and append *chunks* with one system call where the OS allows (no joined copy)."""
        assert self.fd is not None
        total = 0
        started = stages.clock()
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
            raise StorageError(_explain(exc, self.path), url=self.job.url) from None
        stages.add(hashed - started, stages.clock() - hashed)
        self.size += total

    def make_split(self, total: int, validator: str | None, done_map: str) -> None:
        """Make this (empty) part a split download's: its map first, then its full size (sparse)."""
        assert self.fd is not None
        try:
            os.setxattr(self.fd, _MAP_XATTR, done_map.encode())
            os.ftruncate(self.fd, total)
        except OSError as exc:
            raise StorageError(_explain(exc, self.path), url=self.job.url) from None
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
            raise StorageError(_explain(exc, self.path), url=self.job.url) from None
        stages.add(0.0, stages.clock() - started)

    def save_map(self, done_map: str) -> None:
        """Keep the map of what is written (only bytes already written may be in it)."""
        if self.fd is None:
            return
        try:
            if self.store.fsync:
                os.fdatasync(self.fd)  # the bytes reach the disk before the map that claims them
            os.setxattr(self.fd, _MAP_XATTR, done_map.encode())
        except OSError as exc:
            raise StorageError(_explain(exc, self.path), url=self.job.url) from None

    def hash_to(self, end: int) -> None:
        """Hash a split download's bytes in order up to *end* (called as its front fills, from a
        disk thread, so that little is left to hash when the last span lands)."""
        with self._hash_lock:
            fd = self.fd
            position = self._hashed
            started = stages.clock()
            try:
                while fd is not None and position < end:
                    block = os.pread(fd, min(_HASH_BLOCK, end - position), position)
                    if not block:
                        break
                    self.hasher.update(block)
                    position += len(block)
            except OSError as exc:
                raise StorageError(f"cannot read {self.path}: {exc.strerror}", url=self.job.url) from None
            finally:
                self._hashed = position
                stages.add(stages.clock() - started, 0.0)  # (the read back is the hash's cost)

    def hash_whole(self) -> tuple[int, str]:
        """Return (size, sha256) of the whole file as it is now (a split download's, when complete)."""
        assert self.fd is not None
        self.hash_to(os.fstat(self.fd).st_size)
        return self._hashed, self.hasher.hexdigest()

    def remember_validator(self, validator: str | None) -> None:
        """Keep the server's validator beside the data, so a later run resumes only the same version."""
        if validator:
            self._set(_VALIDATOR_XATTR, validator[:1024])

    def validator(self) -> str | None:
        return self._get(_VALIDATOR_XATTR)

    def tag(self) -> str | None:
        """The tag of the URL these bytes came from (None where unknown)."""
        return self._get(_URL_XATTR)

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

    def commit(self, commit: Commit | None = None) -> None:
        """Make the file complete under its final name (flushed to disk first when fsync is on).

        Renamed while still locked: a run waiting for the lock then finds the path empty or new.
        """
        final = self.store.path(self.job) if commit is None else os.path.join(self.store.dest, commit.name)
        assert self.fd is not None
        for name in (_VALIDATOR_XATTR, _URL_XATTR, _MAP_XATTR):  # a final file must not look like a part
            with contextlib.suppress(OSError, AttributeError):
                os.removexattr(self.fd, name)
        if commit is not None:
            with contextlib.suppress(OSError):
                _stamp(self.fd, commit, self.job)
        try:
            if self.store.fsync:
                os.fsync(self.fd)
            _place(self.path, final, self.job, commit is not None and commit.exclusive)
            if self.store.fsync:
                _fsync_dir(os.path.dirname(final) or ".")
        except OSError as exc:
            self.close()
            raise StorageError(_explain(exc, final), url=self.job.url) from None
        except NameTaken:
            raise  # still open and locked: the item names it otherwise and commits again
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _stamp(fd: int, commit: Commit, job: Job) -> None:
    """Give a finished file the server's Last-Modified as its mtime, keep its ETag beside it (for
    ``-N`` the next time, with the size and mtime it was kept for: a file changed here since is not
    vouched for by it), and tie a file the server named to its URL."""
    if commit.mtime is not None:
        with contextlib.suppress(OverflowError, ValueError):  # a date past what the file system holds
            os.utime(fd, (commit.mtime, commit.mtime))
    if commit.etag:
        info = os.fstat(fd)
        kept = f"{info.st_size} {info.st_mtime_ns} {commit.etag}"
        with contextlib.suppress(OSError, AttributeError):
            os.setxattr(fd, _ETAG_XATTR, kept.encode("latin-1", "replace")[:1024])
    if commit.exclusive:
        with contextlib.suppress(OSError, AttributeError):
            os.setxattr(fd, _SOURCE_XATTR, url_tag(job.url).encode())


def _place(source: str, final: str, job: Job, exclusive: bool) -> None:
    """Rename *source* to *final*; *exclusive*: never over a file that is not from *job*'s URL
    (linked, so no other file can appear there between the look and the move)."""
    if not exclusive:
        os.replace(source, final)
        return
    try:
        os.link(source, final, follow_symlinks=False)
    except FileExistsError:
        if os.path.isdir(final) or os.path.islink(final) or _source(final) != url_tag(job.url):
            raise NameTaken(final) from None
        os.replace(source, final)  # this URL's own file, from an earlier run: replaced
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(final) and _source(final) != url_tag(job.url):  # no hard links here
            raise NameTaken(final) from None
        os.replace(source, final)
        return
    os.unlink(source)


def _source(path: str) -> str | None:
    with contextlib.suppress(OSError, AttributeError, UnicodeDecodeError):
        return os.getxattr(path, _SOURCE_XATTR, follow_symlinks=False).decode()
    return None


def _ours(path: str) -> bool:
    """Whether a file carries tulip's attributes (so its bytes are a tulip download's)."""
    for name in (_VALIDATOR_XATTR, _URL_XATTR):
        with contextlib.suppress(OSError, AttributeError):
            os.getxattr(path, name, follow_symlinks=False)
            return True
    return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _regular_size(path: str) -> int | None:
    try:
        info = os.stat(path, follow_symlinks=False)
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _hash_file(path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _explain(exc: OSError, path: str) -> str:
    if exc.errno == errno.ELOOP:
        return f"refusing to write through a symlink: {path}"
    if exc.errno == errno.EFBIG:
        return f"file too large for this system's limit: {path}"
    if exc.errno == errno.ENOSPC:
        return f"no space left on device: {path}"
    return f"cannot write {path}: {exc.strerror or exc}"
