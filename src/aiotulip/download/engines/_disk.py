"""The disk side of one item, shared by every engine: carry out an Item's disk steps (blocking).

The blocking engines call these directly; the asyncio engine calls them from a thread, running
several disk steps in one hop (``run``) where the Item asks for them back to back.
"""

from __future__ import annotations

import contextlib

from aiotulip.download.item import (
    Commit,
    Finish,
    HashPart,
    Inspect,
    Item,
    OpenPart,
    Read,
    Recheck,
    RemovePart,
    Split,
    Stat,
    Step,
)
from aiotulip.download.models import Job
from aiotulip.download.store import NameTaken, PartBusy, PartFile, Store
from aiotulip.errors import StorageError

__all__ = ["Files"]


class Files:
    """The .part (or small body in memory) of one item, and the steps that touch them."""

    __slots__ = ("data", "job", "part", "store")

    def __init__(self, store: Store, job: Job) -> None:
        self.store = store
        self.job = job
        self.part: PartFile | None = None
        self.data: bytes | None = None  # a small body read whole, waiting for its Commit

    @property
    def size(self) -> int | None:
        """Bytes in the open .part, None when none is open."""
        return self.part.size if self.part is not None else None

    def held(self) -> int:
        """Bytes the .part keeps for the next run (open or not)."""
        if self.part is not None and not self.store.stream:
            return self.part.size
        return self.store.held(self.job)  # (a stream's: what its reader has, a cut write's bytes too)

    def run(self, item: Item, step: Step) -> Step:
        """Carry out disk steps, feeding each outcome to *item*, until a step that is not one."""
        while True:
            try:
                match step:
                    case Inspect():
                        step = item.inspected(*self.store.hash_final(self.job, item.name))
                    case RemovePart():
                        self.close()
                        self.store.discard_part(self.job)
                        step = item.part_removed()
                    case OpenPart(offset=offset):
                        self.part = part = self.store.open_part(self.job, offset)
                        step = item.part_opened(
                            part.size, part.saved_validator, part.saved_split, part.saved_total
                        )
                    case Commit():
                        try:
                            self.commit(step)
                        except NameTaken:
                            step = item.name_taken()
                            continue
                        step = item.committed()
                    case HashPart():
                        assert self.part is not None
                        step = item.body_read(*self.part.hash_whole(), self.part.others())
                    case Stat():
                        mtime, etag = self.store.stat_final(self.job, item.name)
                        step = item.stat_final(mtime, etag)
                    case Recheck():
                        step = item.rechecked(self.store.inspect(self.job))
                    case Finish():
                        self.finish(step)
                        return step
                    case _:
                        return step
            except StorageError as error:
                step = item.failed(error, self.size)
            except PartBusy:
                step = item.busy()

    def prepare(self, read: Read) -> None:
        """Make the .part ready for the body *read* will stream into it."""
        if read.part == "open":
            self.part = self.store.open_part(self.job, 0)
        elif read.part == "restart":
            self.restart()
        if (read.validator or read.total is not None) and self.part is not None:
            self.part.remember_validator(read.validator, read.total)

    def split(self, step: Split) -> PartFile:
        """Make the .part ready for a split download (a fresh one sized and mapped; else as it is)."""
        if step.fresh:
            self.part = self.store.open_part(self.job, 0)
            segments = step.segments
            self.part.make_split(segments.total, segments.validator, segments.encode())
        assert self.part is not None
        return self.part

    def restart(self) -> None:
        if self.part is not None:
            self.part.restart()

    def commit(self, step: Commit) -> None:
        if self.data is not None:
            self.store.write_whole(self.job, self.data, step)
            self.data = None  # (kept until written: a name already taken is tried again with it)
        else:
            assert self.part is not None
            self.part.commit(step)

    def finish(self, step: Finish) -> None:
        self.close()
        if step.remove_part:
            with contextlib.suppress(PartBusy):  # another run is at it now: the part is its own
                self.store.discard_part(self.job)

    def close(self) -> None:
        if self.part is not None:
            self.part.close()
            self.part = None
