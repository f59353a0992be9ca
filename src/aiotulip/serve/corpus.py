"""What the server serves: a seeded synthetic corpus, or a real directory that nothing escapes.

A synthetic file is never stored. Its bytes are a function of (seed, name, offset): a block of
random bytes drawn from the seed and the name, repeated, each repeat stamped with its index so that
no two blocks of a file are alike. Any range can be produced without producing what precedes it, so
a 10 GB corpus costs neither disk nor memory, and the same seed always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import random
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BLOCK", "Corpus", "DirectoryCorpus", "Entry", "SyntheticCorpus"]

BLOCK = 64 * 1024
_SMALL = 256 * 1024  # directory files up to this size are read in one go
_CACHE_BYTES = 64 * 1024 * 1024  # a whole small-file corpus fits; a large one costs no more than this


@dataclass(frozen=True, slots=True)
class Entry:
    """One file as the server sees it at the moment of a request."""

    name: str
    size: int
    etag: str
    mtime: float


class Corpus(ABC):
    """The files a server offers; lookups are cheap, reads may block (run them off the loop)."""

    #: Whether read() may block on disk, so the server must call it from a thread.
    blocking: bool = False

    @abstractmethod
    def names(self) -> list[str]:
        """Return every file name, sorted."""

    @abstractmethod
    def lookup(self, name: str) -> Entry | None:
        """Return the entry for *name*, or None if there is no such file (or it is out of bounds)."""

    @abstractmethod
    def read(self, entry: Entry, start: int, end: int) -> Iterator[bytes]:
        """Yield the bytes of *entry* from *start* up to *end* (exclusive), in chunks of bounded size."""

    def signature(self) -> object:
        """Return something equal to the last answer as long as no file changed (cheap to get)."""
        return None  # a synthetic corpus never changes

    def sha256(self, entry: Entry) -> str:
        """Return the hex sha256 of the whole of *entry* (blocking)."""
        digest = hashlib.sha256()
        for chunk in self.read(entry, 0, entry.size):
            digest.update(chunk)
        return digest.hexdigest()

    def describe(self) -> str:
        return type(self).__name__


class SyntheticCorpus(Corpus):
    """*files* files named ``file-00000.bin`` ... with sizes drawn from *size* and bytes from *seed*."""

    def __init__(self, files: int, size: tuple[int, int], seed: int = 0, mtime: float = 1_700_000_000.0):
        self.seed = seed
        self.mtime = mtime
        self.version = 0  # bumped by PUT /_tulip/corpus: every file changes (bytes, ETag, mtime)
        width = max(5, len(str(max(files - 1, 0))))
        low, high = size
        sizes = random.Random(f"{seed}:sizes")
        self._sizes: dict[str, int] = {
            f"file-{i:0{width}d}.bin": low if low == high else sizes.randint(low, high) for i in range(files)
        }
        self._cache: dict[str, bytes] = {}  # first blocks, kept while they fit in _CACHE_BYTES
        self._cached_bytes = 0
        self._entries: dict[str, Entry] = {}
        self._index()

    def _index(self) -> None:
        mtime = self.mtime + 3600 * self.version
        self._entries = {
            name: Entry(name, length, self._etag(name, length), mtime) for name, length in self._sizes.items()
        }

    def bump(self, version: int) -> None:
        """Change every file, as a server whose files were replaced: new bytes, ETags and mtimes."""
        self.version = version
        self._cache.clear()
        self._cached_bytes = 0
        self._index()

    def _seed(self, name: str) -> str:
        return f"{self.seed}:{name}" if not self.version else f"{self.seed}:v{self.version}:{name}"

    def _etag(self, name: str, size: int) -> str:
        tag = hashlib.blake2b(f"{self._seed(name)}:{size}".encode(), digest_size=8).hexdigest()
        return f'"{tag}"'

    def names(self) -> list[str]:
        return list(self._entries)

    def lookup(self, name: str) -> Entry | None:
        return self._entries.get(name)

    def read(self, entry: Entry, start: int, end: int) -> Iterator[bytes]:
        base = self._base(entry.name, min(entry.size, BLOCK))
        first, last = start // BLOCK, (end - 1) // BLOCK
        for index in range(first, last + 1):
            block = base if index == 0 else index.to_bytes(8, "little") + base[8:]
            lo = start - index * BLOCK if index == first else 0
            hi = end - index * BLOCK if index == last else BLOCK
            yield block[lo:hi] if (lo, hi) != (0, len(block)) else block

    def content(self, entry: Entry) -> bytes | None:
        """Return the whole file if it fits in one block (the fast path for small files), else None."""
        return self._base(entry.name, entry.size) if entry.size <= BLOCK else None

    def _base(self, name: str, length: int) -> bytes:
        cached = self._cache.get(name)
        if cached is None:
            cached = random.Random(self._seed(name)).randbytes(length)
            if self._cached_bytes + length <= _CACHE_BYTES:
                self._cache[name] = cached
                self._cached_bytes += length
        return cached

    def describe(self) -> str:
        sizes = self._sizes.values()
        total = sum(sizes)
        return f"{len(self._sizes)} synthetic files, {total} bytes, seed {self.seed}"


class DirectoryCorpus(Corpus):
    """The regular files under *root*; nothing outside it is ever served, whatever the name says.

    A name is opened one component at a time from a descriptor of the root (``openat`` with
    ``O_NOFOLLOW``), so nothing swapped in between a check and the open — a symlink out, a FIFO, a
    device — can redirect it: a link whose target stays inside the root is followed only through its
    resolved path, opened the same way; the final descriptor must be a regular file (``fstat``), and
    is opened non-blocking, so a FIFO cannot hold a worker thread for ever.
    """

    blocking = True

    def __init__(self, root: Path):
        self.root = os.path.realpath(root)
        self._prefix = self.root.rstrip(os.sep) + os.sep

    def describe(self) -> str:
        return f"directory {self.root}"

    def signature(self) -> object:
        """Every name with its size and mtime, from one scan (a stat a file, no opens): the
        manifest of a 100,000-file root is rebuilt only when something in it changed."""
        found = []
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        try:
                            info = entry.stat(follow_symlinks=True)
                        except OSError:
                            continue
                        if stat.S_ISDIR(info.st_mode):
                            if not entry.is_symlink():
                                stack.append(entry.path)
                        else:
                            found.append((entry.path, info.st_size, info.st_mtime_ns, info.st_ino))
            except OSError:
                continue
        found.sort()
        return tuple(found)

    def names(self) -> list[str]:
        found = []
        for dirpath, _dirs, files in os.walk(self.root):
            for filename in files:
                relative = os.path.relpath(os.path.join(dirpath, filename), self.root)
                name = relative.replace(os.sep, "/")
                if self._parts(name) is not None:
                    found.append(name)
        return sorted(found)

    @staticmethod
    def _parts(name: str) -> list[str] | None:
        if not name or "\x00" in name or "\\" in name or name.startswith("/"):
            return None
        parts = name.split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None
        return parts

    def _open(self, name: str) -> tuple[int, os.stat_result] | None:
        """Return (descriptor, its stat) of the regular file *name* inside the root, or None."""
        parts = self._parts(name)
        if parts is None:
            return None
        opened = self._walk(parts)
        if opened is None:
            # A symlink on the way: allowed only where it resolves inside the root, and then opened
            # through the resolved path, still one component at a time with no link followed.
            real = os.path.realpath(os.path.join(self.root, *parts))
            if not real.startswith(self._prefix):
                return None
            opened = self._walk(real[len(self._prefix) :].split(os.sep))
        return opened

    def _walk(self, parts: list[str]) -> tuple[int, os.stat_result] | None:
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(self.root, flags | os.O_DIRECTORY)
        except OSError:
            return None
        try:
            for part in parts[:-1]:
                inner = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = inner
            inner = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
        except (OSError, ValueError):
            os.close(fd)
            return None
        os.close(fd)
        info = os.fstat(inner)
        if not stat.S_ISREG(info.st_mode):
            os.close(inner)
            return None
        return inner, info

    def lookup(self, name: str) -> Entry | None:
        opened = self._open(name)
        if opened is None:
            return None
        fd, info = opened
        os.close(fd)
        return Entry(name, info.st_size, f'"{info.st_mtime_ns:x}-{info.st_size:x}"', info.st_mtime)

    def read(self, entry: Entry, start: int, end: int) -> Iterator[bytes]:
        opened = self._open(entry.name)
        if opened is None:
            raise FileNotFoundError(entry.name)
        fd, _info = opened
        with os.fdopen(fd, "rb", buffering=0) as f:
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = f.read(min(remaining, BLOCK if remaining > _SMALL else remaining))
                if not chunk:  # the file shrank under us: the response will be short (and closed)
                    return
                remaining -= len(chunk)
                yield chunk
