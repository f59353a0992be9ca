"""``-o -``: the one file of a run streamed to standard output instead of a folder.

A Store whose "part" is the stream: the Item and every engine work as for a file, and what they
ask of the disk is done to the stream. A small body is read whole and checked before a byte goes
out; a large one goes out as it comes, hashed on the way, and a resume after a cut continues the
stream with a range (under the validator the first answer gave). What a stream cannot do is fail
in words: start over once bytes are out (the server changed the file, or sent wrong bytes).
Nothing is written to disk, no part file, no rename.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from aiotulip.download.models import Job
from aiotulip.download.plan import Local
from aiotulip.download.store import Store
from aiotulip.download.store.part import Digests, Final, hasher_for
from aiotulip.errors import StorageError

__all__ = ["READER_GONE", "StdoutStore"]

READER_GONE = "standard output was closed (the reader went away)"

_NOTHING = Local()


class StdoutStore(Store):
    """The destination is standard output (one item)."""

    def __init__(self, fd: int | None = None, shown: str = "-", limit: int | None = None) -> None:
        super().__init__(".")
        self.fd = sys.stdout.fileno() if fd is None else fd
        self.shown = shown  # what the Report calls it: "-", or the device or FIFO written through
        self.limit = limit  # --max-filesize: no byte past it goes out (curl writes up to it, then fails)
        self.stream = True
        self._part: _Stream | None = None

    def prepare(self) -> None:
        sys.stdout.flush()  # anything Python buffered goes before the body

    def path(self, job: Job) -> str:
        return self.shown

    def inspect(self, job: Job) -> Local:
        return _NOTHING

    def inspector(self) -> Callable[[Job], Local]:
        return self.inspect

    def inspect_all(self, jobs: list[Job]) -> list[Local]:
        return [_NOTHING for _job in jobs]

    def stat_final(self, job: Job, name: str | None = None) -> tuple[float | None, str | None]:
        return None, None

    def open_part(self, job: Job, offset: int) -> _Stream:  # type: ignore[override]  # the stream is the part
        if self._part is None:
            self._part = _Stream(job, self.fd, self.limit)
        if offset != self._part.size:
            self._part.restart()  # (refused once bytes are out)
        return self._part

    def held(self, job: Job) -> int:
        return self._part.out if self._part is not None else 0  # (out already: the reader has them)

    def discard_part(self, job: Job) -> None:
        if self._part is not None and self._part.size:
            raise _gone(job, self._part.size)

    def write_whole(self, job: Job, data: bytes, commit: Final | None = None) -> None:
        _write(self.fd, data, job)


class _Stream:
    """The stream as a part file: bytes appended and hashed; no validator on disk, no rename."""

    def __init__(self, job: Job, fd: int, limit: int | None = None) -> None:
        self.job = job
        self.fd: int | None = fd
        self.path = "-"
        self.size = 0  # bytes received: past *limit*, the Item sees the file is too long
        self.out = 0  # bytes the reader has (a write cut short by Ctrl-C counts what it wrote)
        self.limit = limit
        self.hasher = hasher_for(job)
        self.saved_validator: str | None = None
        self.saved_total: int | None = None
        self.saved_split: tuple[int, list[tuple[int, int]]] | None = None
        self._validator: str | None = None

    def restart(self) -> None:
        if self.size:
            raise _gone(self.job, self.size)
        self.hasher = hasher_for(self.job)

    def absorb_existing(self, offset: int) -> None:
        if offset != self.size:
            raise _gone(self.job, self.size)

    def write(self, data: bytes | bytearray | memoryview, *, hashed: bool = True) -> None:
        if hashed:
            self.hasher.update(data)
        out = data
        if self.limit is not None and self.size + len(data) > self.limit:
            # A body of no announced size read past --max-filesize (reads stop only once past
            # it): the reader gets the limit's worth and not a byte more.
            out = data[: max(0, self.limit - self.size)]
        if out:
            _write(self.fd or 1, bytes(out), self.job, self)
        self.size += len(data)

    def write_all(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def remember_validator(self, validator: str | None, total: int | None = None) -> None:
        self._validator = validator  # (the Item keeps the total: a stream is never resumed by another run)

    def validator(self) -> str | None:
        return self._validator

    def tag(self) -> str | None:
        return None

    def done_map(self) -> str | None:
        return None

    def others(self) -> tuple[tuple[str, str], ...]:
        hasher = self.hasher
        return hasher.others() if isinstance(hasher, Digests) else ()

    def hash_whole(self) -> tuple[int, str]:
        return self.size, self.hasher.hexdigest()

    def make_split(self, total: int, validator: str | None, done_map: str) -> None:
        raise StorageError("a stream cannot be split", url=self.job.url)

    def commit(self, commit: Final | None = None) -> None:
        pass  # (every byte is out already)

    def close(self) -> None:
        pass  # standard output stays open for whoever else writes to it


def _write(fd: int, data: bytes, job: Job, stream: _Stream | None = None) -> None:
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            if stream is not None:
                stream.out += written
            view = view[written:]
    except BrokenPipeError:
        raise StorageError(READER_GONE, url=job.url) from None
    except OSError as exc:
        raise StorageError(f"cannot write to standard output: {exc.strerror or exc}", url=job.url) from None


def _gone(job: Job, size: int) -> StorageError:
    return StorageError(
        f"the file must start over, and {size} bytes of it are already on standard output", url=job.url
    )
