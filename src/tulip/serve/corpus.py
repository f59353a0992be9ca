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
        width = max(5, len(str(max(files - 1, 0))))
        low, high = size
        sizes = random.Random(f"{seed}:sizes")
        self._sizes: dict[str, int] = {
            f"file-{i:0{width}d}.bin": low if low == high else sizes.randint(low, high) for i in range(files)
        }
        self._cache: dict[str, bytes] = {}  # first blocks, kept while they fit in _CACHE_BYTES
        self._cached_bytes = 0
        self._entries: dict[str, Entry] = {
            name: Entry(name, length, self._etag(name, length), mtime) for name, length in self._sizes.items()
        }

    def _etag(self, name: str, size: int) -> str:
        tag = hashlib.blake2b(f"{self.seed}:{name}:{size}".encode(), digest_size=8).hexdigest()
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
            cached = random.Random(f"{self.seed}:{name}").randbytes(length)
            if self._cached_bytes + length <= _CACHE_BYTES:
                self._cache[name] = cached
                self._cached_bytes += length
        return cached

    def describe(self) -> str:
        sizes = self._sizes.values()
        total = sum(sizes)
        return f"{len(self._sizes)} synthetic files, {total} bytes, seed {self.seed}"


class DirectoryCorpus(Corpus):
    """The regular files under *root*; nothing outside it is ever served, whatever the name says."""

    blocking = True

    def __init__(self, root: Path):
        self.root = os.path.realpath(root)
        self._prefix = self.root.rstrip(os.sep) + os.sep

    def describe(self) -> str:
        return f"directory {self.root}"

    def names(self) -> list[str]:
        found = []
        for dirpath, _dirs, files in os.walk(self.root):
            for filename in files:
                relative = os.path.relpath(os.path.join(dirpath, filename), self.root)
                name = relative.replace(os.sep, "/")
                if self.lookup(name) is not None:
                    found.append(name)
        return sorted(found)

    def _resolve(self, name: str) -> str | None:
        """Return the real path of *name* inside the root, or None for anything that could leave it."""
        if not name or "\x00" in name or "\\" in name or name.startswith("/"):
            return None
        parts = name.split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None
        # realpath follows every symlink; whatever the name's parts say, the result must lie under root.
        real = os.path.realpath(os.path.join(self.root, *parts))
        return real if real.startswith(self._prefix) else None

    def lookup(self, name: str) -> Entry | None:
        real = self._resolve(name)
        if real is None:
            return None
        try:
            info = os.stat(real)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return Entry(name, info.st_size, f'"{info.st_mtime_ns:x}-{info.st_size:x}"', info.st_mtime)

    def read(self, entry: Entry, start: int, end: int) -> Iterator[bytes]:
        real = self._resolve(entry.name)
        if real is None:
            raise FileNotFoundError(entry.name)
        # O_NOFOLLOW: a symlink swapped in after the check above is refused, not followed.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb", buffering=0) as f:
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = f.read(min(remaining, BLOCK if remaining > _SMALL else remaining))
                if not chunk:  # the file shrank under us: the response will be short, as it must
                    return
                remaining -= len(chunk)
                yield chunk
