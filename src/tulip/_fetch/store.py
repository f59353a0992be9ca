"""Files on disk: a download grows in ``NAME.part`` and becomes ``NAME`` by one rename.

The rename is what makes a file appear complete or not at all, whatever happens to the process; a
``.part`` left behind by a crash or Ctrl-C is continued by the next run. ``fsync=True`` also makes
the file and its rename survive a power cut, at the price of a disk flush per file (costly on many
small files, see README). Every method here blocks: async engines call them from threads.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path

from tulip._fetch.models import Job
from tulip._fetch.names import PART_SUFFIX
from tulip._fetch.plan import Local
from tulip.errors import StorageError, UsageError

__all__ = ["PartFile", "Store"]

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_HASH_BLOCK = 1024 * 1024
_VALIDATOR_XATTR = "user.tulip.validator"
_NOTHING = Local()
_IOV_MAX = 1024


class Store:
    """The destination directory and the files in it."""

    def __init__(self, dest: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.dest = Path(dest)
        self.fsync = fsync
        self._real = ""

    def prepare(self) -> None:
        """Create dest if needed and prove it writable; raise UsageError naming it if not."""
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
            probe = self.dest / f".tulip-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"cannot write to {self.dest}: {exc.strerror or exc}") from None
        self._real = os.path.realpath(self.dest)

    def path(self, job: Job) -> str:
        """Return the final path of *job*, as the report shows it."""
        return os.path.join(self.dest, job.name)

    def inspect(self, job: Job) -> Local:
        """Return the sizes of *job*'s final file and .part, where they exist as regular files."""
        final = self.path(job)
        return Local(_regular_size(final), _regular_size(final + PART_SUFFIX))

    def inspect_all(self, jobs: list[Job]) -> list[Local]:
        """Return inspect() for every job, listing each directory once instead of two stats a job.

        A fresh destination then costs one directory read, however many files the run holds.
        """
        listed: dict[str, set[str]] = {}
        found = []
        for job in jobs:
            folder, _, base = job.name.rpartition("/")
            names = listed.get(folder)
            if names is None:
                try:
                    names = listed[folder] = set(os.listdir(os.path.join(self.dest, folder)))
                except OSError:
                    names = listed[folder] = set()
            if base in names or base + PART_SUFFIX in names:
                found.append(self.inspect(job))
            else:
                found.append(_NOTHING)
        return found

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

    def open_part(self, job: Job, offset: int) -> PartFile:
        """Open *job*'s .part to continue at *offset* (0 truncates it), hashing what it already holds."""
        self._checked_parent(job)
        part = self.path(job) + PART_SUFFIX
        try:
            fd = os.open(part, _OPEN_FLAGS | (os.O_TRUNC if offset == 0 else 0), 0o644)
        except OSError as exc:
            raise StorageError(_explain(exc, part), url=job.url) from None
        handle = PartFile(self, job, part, fd)
        try:
            if offset:
                handle.absorb_existing(offset)
                handle.saved_validator = handle.validator()
        except BaseException:
            handle.close()
            raise
        return handle

    def discard_part(self, job: Job) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(job) + PART_SUFFIX)

    def write_whole(self, job: Job, data: bytes) -> None:
        """Write a complete small file: .part, then rename — the same guarantee in four system calls.

        The hot path of many-small-file runs, so it talks to the OS directly rather than through
        PartFile: less Python per file is less time holding the GIL the event loop needs.
        """
        if "/" in job.name:
            self._checked_parent(job)
        final = os.path.join(self.dest, job.name)
        part = final + PART_SUFFIX
        try:
            fd = os.open(part, _OPEN_FLAGS | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise StorageError(_explain(exc, part), url=job.url) from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            raise StorageError(_explain(exc, part), url=job.url) from None
        os.close(fd)
        try:
            os.replace(part, final)
            if self.fsync:
                _fsync_dir(os.path.dirname(final) or ".")
        except OSError as exc:
            raise StorageError(_explain(exc, final), url=job.url) from None


class PartFile:
    """An open ``.part``: writes, an incremental sha256, and the final rename."""

    def __init__(self, store: Store, job: Job, path: str, fd: int) -> None:
        self.store = store
        self.job = job
        self.path = path
        self.fd: int | None = fd
        self.size = 0
        self.hasher = hashlib.sha256()
        self.saved_validator: str | None = None  # the ETag an earlier run kept beside a resumed part

    def absorb_existing(self, offset: int) -> None:
        """Hash the first *offset* bytes already in the file and cut anything beyond them."""
        with open(self.path, "rb") as f:
            remaining = offset
            while remaining:
                block = f.read(min(_HASH_BLOCK, remaining))
                if not block:
                    break
                self.hasher.update(block)
                remaining -= len(block)
        self.size = offset - remaining
        assert self.fd is not None
        os.ftruncate(self.fd, self.size)
        os.lseek(self.fd, self.size, os.SEEK_SET)

    def restart(self) -> None:
        """Empty the file: the server sent the whole file instead of the range asked for."""
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.size = 0
        self.hasher = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview, *, hashed: bool = True) -> None:
        """Append *data* (and hash it unless the caller already did)."""
        assert self.fd is not None
        if hashed:
            self.hasher.update(data)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            raise StorageError(_explain(exc, self.path), url=self.job.url) from None
        self.size += len(data)

    def write_all(self, chunks: list[bytes]) -> None:
        """Hash and append *chunks* with one system call where the OS allows (no joined copy)."""
        assert self.fd is not None
        total = 0
        for chunk in chunks:
            self.hasher.update(chunk)
            total += len(chunk)
        try:
            written = os.writev(self.fd, chunks) if len(chunks) <= _IOV_MAX else 0
            if written < total:  # a short write: finish the rest plainly
                rest = memoryview(b"".join(chunks))[written:]
                while rest:
                    rest = rest[os.write(self.fd, rest) :]
        except OSError as exc:
            raise StorageError(_explain(exc, self.path), url=self.job.url) from None
        self.size += total

    def remember_validator(self, validator: str | None) -> None:
        """Keep the server's ETag beside the data, so a later run resumes only the same version."""
        if validator and self.fd is not None:
            with contextlib.suppress(OSError, AttributeError):
                os.setxattr(self.fd, _VALIDATOR_XATTR, validator.encode()[:1024])

    def validator(self) -> str | None:
        with contextlib.suppress(OSError, AttributeError, UnicodeDecodeError):
            return os.getxattr(self.path, _VALIDATOR_XATTR).decode()
        return None

    def commit(self) -> None:
        """Make the file complete under its final name (flushed to disk first when fsync is on)."""
        final = self.store.path(self.job)
        assert self.fd is not None
        try:
            if self.store.fsync:
                os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None
            os.replace(self.path, final)
            if self.store.fsync:
                _fsync_dir(os.path.dirname(final) or ".")
        except OSError as exc:
            raise StorageError(_explain(exc, final), url=self.job.url) from None

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _regular_size(path: str) -> int | None:
    try:
        info = os.stat(path, follow_symlinks=False)
    except (OSError, ValueError):
        return None
    import stat

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
