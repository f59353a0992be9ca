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
import itertools
import os
from collections.abc import Callable
from pathlib import Path

from aiotulip.download.models import Job
from aiotulip.download.names import LEGACY_PART_SUFFIX, numbered, part_name, temp_name
from aiotulip.download.plan import Local
from aiotulip.download.segments import decode_map
from aiotulip.download.store import record
from aiotulip.download.store.inspect import hash_file, listing, regular, regular_size
from aiotulip.download.store.locks import PartBusy, lock_part
from aiotulip.download.store.part import (
    OPEN_FLAGS,
    Digests,
    Final,
    NameTaken,
    PartFile,
    folder_closed,
    folder_opened,
    fsync_dir,
    hasher_for,
    place,
    storage_error,
)
from aiotulip.download.store.record import MAP, url_tag
from aiotulip.errors import StorageError, UsageError

__all__ = ["NameTaken", "PartBusy", "PartFile", "Store"]

_NOTHING = Local()
_BY_FD = os.path.isdir("/proc/self/fd")  # (Linux: a folder reached through its open descriptor)
_sequence = itertools.count()


class Store:
    """The destination directory and the files in it."""

    def __init__(self, dest: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.dest = Path(dest)
        # (the destination as a string ending in /: a final path is one concatenation, not a
        # posixpath.join of a Path, for each of ten thousand small files)
        self._prefix = os.path.join(os.fspath(self.dest), "")
        self.fsync = fsync
        self._real = ""
        self._pid = str(os.getpid())
        self.xattrs = False  # whether dest keeps extended attributes (a split download needs them)
        self.stream = False  # a stream (-o -, a device): bytes once out cannot be taken back

    def prepare(self) -> None:
        """Create dest if needed and prove it writable; raise UsageError naming it if not."""
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
            probe = self.dest / f".tulip-probe-{os.getpid()}"
            probe.write_bytes(b"")
            try:
                os.setxattr(probe, MAP, b"{}")
                self.xattrs = True
            except (OSError, AttributeError):
                self.xattrs = False
            probe.unlink()
        except FileExistsError:  # (mkdir's word for a file there: "File exists" said nothing)
            raise UsageError(f"cannot write to {self.dest}: a file is there, not a folder") from None
        except OSError as exc:
            raise UsageError(f"cannot write to {self.dest}: {exc.strerror or exc}") from None
        self._real = os.path.realpath(self.dest)

    def path(self, job: Job) -> str:
        """Return the final path of *job*, as the report shows it."""
        return self._prefix + job.name

    def part_path(self, job: Job) -> str:
        return self._prefix + part_name(job.name)

    def held(self, job: Job) -> int:
        """Bytes *job*'s part keeps for the next run (none open here: looked at on disk): its size,
        or, for a split download's part (sparse, at the file's size), what its map says is written."""
        path = self.part_path(job)
        size = regular_size(path)
        if size is None:
            return 0
        with contextlib.suppress(OSError, AttributeError, UnicodeDecodeError):
            kept = decode_map(os.getxattr(path, MAP).decode("latin-1"))
            if kept is not None:
                return sum(end - start for start, end in kept[1])
        return size

    def inspect(self, job: Job) -> Local:
        """Return the sizes of *job*'s final file and part, where they exist as regular files, and
        whether tulip's record vouches for the final file."""
        part = regular_size(self.part_path(job))
        if part is None and job.size is not None:
            legacy = self.path(job) + LEGACY_PART_SUFFIX
            size = regular_size(legacy)
            part = size if size is not None and size < job.size and record.ours(legacy) else None
        path = self.path(job)
        info = regular(path)
        if info is None:  # (nothing there, or a folder or a link that this URL's file went beside)
            return Local(None, part, numbered=self._numbered(job) if os.path.lexists(path) else None)
        if record.vouched(path, info, job.url):
            return Local(info.st_size, part, True, info.st_mtime)
        return Local(info.st_size, part, False, info.st_mtime, self._numbered(job))

    def _numbered(self, job: Job) -> tuple[str, int, float] | None:
        """This URL's own download saved beside a file not from it (NAME.1.EXT, NAME.2.EXT, ... up to
        the first name that is no file): its name, size and mtime; None if there is none. Without it
        a rerun downloaded such a file again in full, every time, and renamed it over itself."""
        for number in itertools.count(1):
            name = numbered(job.name, number)
            path = self._prefix + name
            info = regular(path)
            if info is not None and record.vouched(path, info, job.url):
                return name, info.st_size, info.st_mtime
            if info is None and not os.path.lexists(path):
                return None
        return None  # (never: count() does not end)

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
            if base in names or part_name(base) in names or base + LEGACY_PART_SUFFIX in names:
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
            if base in names or part_name(base) in names or base + LEGACY_PART_SUFFIX in names:
                found.append(self.inspect(job))
            else:
                found.append(_NOTHING)
        return found

    def _listing(self, folder: str) -> set[str]:
        return listing(os.path.join(self.dest, folder))

    def wrote(self, name: str, url: str) -> bool | None:
        """Whether the file at *name* is the download of *url* (None: no file there)."""
        path = os.path.join(self.dest, name)
        if not os.path.lexists(path):
            return None
        return record.source_of(path) == url_tag(url)

    def stat_final(self, job: Job, name: str | None = None) -> tuple[float | None, str | None]:
        """Return the final file's mtime (or that of *name*, where the item's is numbered) and the
        ETag kept beside it (None where there is none)."""
        path = self.path(job) if name is None else self._prefix + name
        try:
            info = os.stat(path)
        except OSError:
            return None, None
        holds, etag = record.kept_etag(path, info)
        if not holds:
            return None, None  # changed here since: no question to ask, it is fetched again
        return info.st_mtime, etag

    def hash_final(self, job: Job, name: str | None = None) -> tuple[int, str, tuple[tuple[str, str], ...]]:
        """Return the size and sha256 of *job*'s final file (or of *name*, where the item's is
        numbered), and the other digests its input gives."""
        hasher = hasher_for(job)
        path = self.path(job) if name is None else self._prefix + name
        try:
            size, sha256 = hash_file(path, hasher)
            return size, sha256, hasher.others() if isinstance(hasher, Digests) else ()
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror}", url=job.url) from None

    def _folder(self, name: str, job: Job) -> tuple[str, int | None]:
        """Open the folder of *name* inside dest a component at a time, making what is missing and
        never passing through a symlink; return the prefix its files are reached under and the
        descriptor to close (None for dest itself).

        The prefix is ``/proc/self/fd/N``: the folder as it was opened, whatever its path names
        later. Checking a path and then using it let a folder swapped for a symlink in between
        (``-d/HOST/files`` flipped to a link leading out) take files outside dest.
        """
        folder = name.rpartition("/")[0]
        if not folder:
            return str(self.dest), None
        if not _BY_FD:  # no /proc: the folder checked, then used by its path
            return self._checked_folder(folder, job), None
        flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.dest, flags)
        except OSError as exc:
            raise StorageError(f"cannot open {self.dest}: {exc.strerror}", url=job.url) from None
        try:
            for part in folder.split("/"):
                try:
                    inner = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                    inner = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = inner
        except OSError as exc:
            os.close(fd)
            where = os.path.join(self.dest, folder)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise StorageError(
                    f"{where} leads outside {self.dest} (a symlink or a file)", url=job.url
                ) from None
            raise storage_error(exc, where, job.url, f"cannot create {where}: {exc.strerror}") from None
        prefix = f"/proc/self/fd/{fd}"
        folder_opened(prefix, os.path.join(self.dest, folder))
        return prefix, fd

    @staticmethod
    def _close_folder(prefix: str, fd: int | None) -> None:
        if fd is not None:
            folder_closed(prefix)
            os.close(fd)

    def _checked_folder(self, folder: str, job: Job) -> str:
        parent = os.path.join(self.dest, folder)
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, parent, job.url, f"cannot create {parent}: {exc.strerror}") from None
        real = os.path.realpath(parent)
        if real != self._real and not real.startswith(self._real.rstrip(os.sep) + os.sep):
            raise StorageError(f"{parent} leads outside {self.dest}", url=job.url)
        return parent

    def _lock_part(self, job: Job) -> tuple[int, str, int | None]:
        """Open and lock *job*'s part file (its folder made, inside dest; an earlier tulip's part
        adopted); return its descriptor, its folder's prefix and the folder's descriptor (the
        caller closes both). Raise PartBusy if another run has it."""
        folder, folder_fd = self._folder(job.name, job)
        base = job.name.rpartition("/")[2]
        path = os.path.join(folder, part_name(base))
        try:
            self._adopt_legacy(job, path, os.path.join(folder, base + LEGACY_PART_SUFFIX))
            return lock_part(path, job.url), folder, folder_fd
        except BaseException:
            self._close_folder(folder, folder_fd)
            raise

    def _adopt_legacy(self, job: Job, path: str, legacy: str) -> None:
        """Move an earlier tulip's ``NAME.part`` to the new name, if provably an unfinished part.

        tulip 0.1 marked its parts with the validator and kept the mark when it renamed one into
        place, so a complete download that happened to be named ``NAME.part`` carries it too: only a
        file shorter than the size the job knows is taken for a part (If-Range then checks the rest).
        """
        if os.path.lexists(path) or job.size is None or not record.ours(legacy):
            return
        size = regular_size(legacy)
        if size is not None and size < job.size:
            with contextlib.suppress(OSError):
                os.rename(legacy, path)

    def open_part(self, job: Job, offset: int) -> PartFile:
        """Open *job*'s part to continue at *offset* (0: empty it), hashing what it holds; it stays
        locked until closed or committed. Bytes tagged with another URL are not continued."""
        fd, folder, folder_fd = self._lock_part(job)
        base = job.name.rpartition("/")[2]
        handle = PartFile(job, os.path.join(folder, part_name(base)), fd, folder=folder, fsync=self.fsync,
                          folder_fd=folder_fd)  # fmt: skip
        try:
            if offset and handle.tag() not in (None, url_tag(job.url)):
                offset = 0  # another URL's bytes: this item cannot use them
            kept_map = handle.done_map() if offset else None
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
                handle.saved_total = handle.total()
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
        fd, folder, folder_fd = self._lock_part(job)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, part_name(job.name.rpartition("/")[2])))
        finally:
            os.close(fd)
            self._close_folder(folder, folder_fd)

    def write_whole(self, job: Job, data: bytes, commit: Final | None = None) -> None:
        """Write a complete small file: a temporary of its own, its record, then rename — six system
        calls (and one for the server's mtime, one for its ETag, when *commit* carries them).

        The hot path of many-small-file runs, so it talks to the OS directly rather than through
        PartFile: less Python per file is less time holding the GIL the event loop needs.
        """
        name = commit.name if commit is not None else job.name
        if "/" not in name:  # (the usual case: no folder to open)
            self._write_in(self._prefix, name, job, data, commit)
            return
        folder, folder_fd = self._folder(name, job)
        try:
            self._write_in(folder + "/", name.rpartition("/")[2], job, data, commit)
        finally:
            self._close_folder(folder, folder_fd)

    def _write_in(self, prefix: str, name: str, job: Job, data: bytes, commit: Final | None) -> None:
        """Write *name* (no folder in it) in the folder reached as *prefix* (which ends in /)."""
        final = prefix + name
        temp = prefix + temp_name(name, f"{self._pid}-{next(_sequence)}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_EXCL | OPEN_FLAGS, 0o666)  # (less the umask, as curl)
        except OSError as exc:  # (said of the file the user asked for, not of our temporary name)
            raise storage_error(exc, final, job.url) from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if commit is None:
                record.stamp(fd, None, None, job.url)
            else:
                record.stamp(fd, commit.mtime, commit.etag, job.url)
            if self.fsync:
                os.fsync(fd)
        except BaseException as exc:  # (a Ctrl-C on this thread too: no temporary is left behind)
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            if not isinstance(exc, OSError):
                raise
            raise storage_error(exc, final, job.url) from None
        os.close(fd)
        try:
            place(temp, final, job, commit is not None and commit.exclusive)
            if self.fsync:
                fsync_dir(os.path.dirname(final) or ".")
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # (gone already where the rename was made)
            if not isinstance(exc, OSError):
                raise
            raise storage_error(exc, final, job.url) from None
