"""Where a file the user names for output goes, the way the user means it.

- ``-`` is standard output;
- a FIFO, a character device (``/dev/stdout``, a terminal, ``/dev/null``) or a socket is written
  through, never replaced: a reader at the other end gets the bytes;
- a symbolic link is followed to its target (``latest.json -> reports/2026-12-06.json`` updates the
  report, not the link; ``/dev/stdout -> /proc/self/fd/1`` reaches the terminal or pipe);
- a regular file, or a new name, is written beside its target and renamed over it, so a reader
  never sees half a file (and a crash leaves the old one whole).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from aiotulip.errors import UsageError

__all__ = [
    "CLOSED_AT_START",
    "STDOUT_NAMES",
    "check_links",
    "check_output",
    "is_stdout",
    "writes_through",
    "writing",
]

# The standard descriptors the process began without (`>&-`), given /dev/null so that no socket
# takes their numbers: what is asked to go to "-" would vanish there, reported as written.
CLOSED_AT_START: set[int] = set()
STDOUT_NAMES = ("-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


def check_links(path: str, option: str, shown: str | None = None) -> None:
    """Refuse (UsageError) to go through a symlink somebody else made in a sticky, world-writable
    folder (/tmp's kind), anywhere on the way to *path*: a folder of the path as well as the file
    and the links they lead to. The kernel's protected_symlinks rule, kept where a machine has it
    off; such a link (``/tmp/x -> ~/.ssh``) could lead a run to write the user's files."""
    done = "/"
    try:
        whole = path if path.startswith("/") else os.path.join(os.getcwd(), path)
    except OSError:  # (the working folder is gone: the write will say)
        return
    pending = whole.split("/")  # (not normalised: a link's .. is its own)
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            done = os.path.dirname(done)  # (done holds no link: each was followed as met)
            continue
        current = os.path.join(done, part)
        try:
            info = os.lstat(current)
        except OSError:
            return  # (nothing there yet, or nothing tulip may look at: the write will say)
        if not stat.S_ISLNK(info.st_mode):
            done = current
            continue
        hops += 1
        try:
            here = os.stat(done)
            target = os.readlink(current)
        except OSError:
            return
        shared = here.st_mode & stat.S_ISVTX and here.st_mode & stat.S_IWOTH
        if shared and info.st_uid not in (os.geteuid(), here.st_uid):
            said = f"{option} {shown or path}"
            raise UsageError(f"{said}: a symlink somebody else made in a shared folder: not followed")
        if hops > 40:
            return  # (a loop: the write itself says so)
        if target.startswith("/"):
            done = "/"
        pending = target.split("/") + pending


def _target(path: str) -> str:
    """The file a path names once its symbolic links are followed (the path itself if none, or if
    it is a link the kernel makes, such as /dev/stdout -> /proc/self/fd/1 -> pipe:[N])."""
    if not os.path.islink(path):
        return path
    real = os.path.realpath(path)
    return real if os.path.exists(real) and not _kernels(real) else path


def _kernels(path: str) -> bool:
    """Whether *path* is one of the kernel's own (a device, a process's descriptor). /dev/shm holds
    ordinary files (a RAM disk): a report there is written and renamed as anywhere else."""
    try:
        path = os.path.abspath(path)
    except OSError:  # (a relative path, and the working folder is gone: not the kernel's)
        return False
    if path == "/dev/shm" or path.startswith("/dev/shm/"):
        return False
    return path.startswith(("/dev/", "/proc/"))


def _through(path: str) -> bool:
    """Whether *path* is written through (stdout, a FIFO, a device, a socket, or a name the kernel
    gives one: /dev/stdout redirected to a file appends there), never replaced. A folder never is:
    it is where files go (``-d /dev/shm`` was taken for a device and opened for writing)."""
    if path == "-":
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return _kernels(path)
    if stat.S_ISDIR(mode):
        return False
    if _kernels(path):
        return True
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode) or stat.S_ISBLK(mode)


def writes_through(path: str) -> bool:
    """Whether *path* is written through rather than replaced: a device, a FIFO, a socket (its
    symbolic links followed), or stdout; ``-o /dev/null`` must not replace /dev/null with a file."""
    target = _target(path)
    return _through(target) and (target == "-" or os.path.exists(target))


def check_output(path: str, option: str) -> None:
    """Refuse (UsageError) an output path that could not be written once the run is over."""
    if path in STDOUT_NAMES:
        if 1 in CLOSED_AT_START:  # (curl: "Failed writing body", once it has downloaded it)
            raise UsageError(f"{option} {path}: standard output is closed")
        if path == "-":
            return
    check_links(path, option)
    target = _target(path)
    if os.path.isdir(target):
        raise UsageError(f"{option} {path}: is a directory")
    if _through(target):
        if not os.access(target, os.W_OK):
            raise UsageError(f"{option} {path}: cannot write to it")
        return
    # The folder as the system will reach it: `sub/../x` needs sub (abspath would drop it).
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        shown = folder if ".." in folder.split("/") else os.path.abspath(folder)  # (where sub is missing)
        raise UsageError(f"{option} {path}: cannot write in {shown}")


@contextlib.contextmanager
def writing(path: str, *, encoding: str = "utf-8", mode: int | None = None) -> Iterator[TextIO]:
    """Open *path* for writing text as the module says; the file is complete when the block ends.

    *mode*: the permissions of a file written whole (0o600 for one that may hold credentials), set
    before its first byte; a FIFO or a device keeps its own."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = _target(path)
    if _through(target):
        with open(target, "w", encoding=encoding) as through:
            yield through
        return
    folder, name = os.path.split(os.path.abspath(target))
    temp = os.path.join(folder, f".{name}.tulip-{os.getpid()}")
    try:
        with open(temp, "w", encoding=encoding, opener=_opener(mode)) as out:
            yield out
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _opener(mode: int | None) -> Callable[[str, int], int] | None:
    if mode is None:
        return None

    def opener(name: str, flags: int) -> int:
        fd = os.open(name, flags, mode)
        os.fchmod(fd, mode)  # (a file left there by an earlier run keeps its mode through O_CREAT)
        return fd

    return opener


def is_stdout(path: str) -> bool:
    """Whether *path* is where standard output goes (``-``, /dev/stdout, the file stdout is
    redirected to): whatever else the program prints must then go elsewhere."""
    if path == "-":
        return True
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):
        return False
