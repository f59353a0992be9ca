"""The steps an Item asks its engine to carry out, and the Rules every item of a run obeys.

Steps are data: an engine matches on their class, carries one out (a request, a disk operation, a
wait) and reports back with the event that answers it (see ``machine``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiotulip.download.http.policy import HttpPolicy
from aiotulip.download.http.proxies import Proxy
from aiotulip.download.models import Result
from aiotulip.download.names import Names
from aiotulip.download.rate import Bucket
from aiotulip.download.retry import RetryPolicy
from aiotulip.download.segments import Segments, Span
from aiotulip.errors import DiskFullError, FetchError

__all__ = [
    "HASH_PART",
    "INSPECT",
    "READ_MEMORY",
    "READ_SKIP",
    "RECHECK",
    "REMOVE_PART",
    "SMALL_BODY",
    "STAT",
    "Commit",
    "Finish",
    "Halt",
    "HashPart",
    "Inspect",
    "OpenPart",
    "Read",
    "Recheck",
    "RemovePart",
    "Request",
    "Rules",
    "Split",
    "Stat",
    "Step",
    "Wait",
]

#: Bodies of known length up to this size are read whole into memory and written in one go.
SMALL_BODY = 64 * 1024

PartAction = Literal["open", "keep", "restart"]


class Step:
    """Something the engine must do next (plain slotted objects: one or more per item, made often,
    so not frozen dataclasses, whose construction costs several times more)."""

    __slots__ = ()


class Inspect(Step):
    """Hash the final file already there: it may be the one wanted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Inspect()"


class RemovePart(Step):
    """Delete the .part: it cannot be continued."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RemovePart()"


class Recheck(Step):
    """Look at the disk again (the sizes of the final file and part): another run had the part."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Recheck()"


@dataclass(slots=True)
class Commit(Step):
    """Make the bytes read the final file *name* (the .part renamed, or the small body written and
    renamed), its mtime the server's Last-Modified and its ETag kept beside it (for ``-N``)."""

    name: str
    mtime: float | None = None
    etag: str | None = None
    # A name the server chose: never put over a file already there that is not from this URL (the
    # store raises NameTaken instead; the item picks another name or fails).
    exclusive: bool = False


@dataclass(slots=True)
class Stat(Step):
    """Read the final file's mtime and kept ETag (``-N``: is the server's copy newer?)."""


class HashPart(Step):
    """Hash the whole .part: a split download fills it out of order, so it was not hashed as written."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HashPart()"


@dataclass(slots=True)
class Split(Step):
    """Fetch the file over several connections, each writing its spans at their offsets.

    *fresh*: the .part is to be made for it (sparse, at the file's size, its validator and the map
    of what is done kept beside it); else it is open already (a split download resumed). *first*:
    the span the response in hand carries (the request that proved ranges work), if any.
    """

    segments: Segments
    fresh: bool
    first: Span | None = None
    source: int = 0  # the URL (0: the first; then its mirrors) the response in hand came from


INSPECT, REMOVE_PART, RECHECK, STAT, HASH_PART = Inspect(), RemovePart(), Recheck(), Stat(), HashPart()


@dataclass(slots=True)
class OpenPart(Step):
    """Open the .part to continue after its first *offset* bytes (hashing them)."""

    offset: int


@dataclass(slots=True)
class Request(Step):
    """Send a GET for *url* with *headers* (through *proxy*, if one) and report the response's
    status and headers. Redirects come back to the Item: the transport sends exactly this."""

    url: str
    headers: Mapping[str, str]
    proxy: Proxy | None = None


@dataclass(slots=True)
class Read(Step):
    """Read the response's body.

    ``into="memory"``: a small body, read whole, nothing on disk yet. ``into="part"``: streamed into
    the .part after *part* says how to prepare it: ``open`` a fresh one, ``keep`` appending, or
    ``restart`` it empty (the server sent the whole file instead of the range asked for). A
    *validator* is to be kept beside a fresh .part for a later resume. With *skip* the body is not
    the file (a 416 that proves the .part already complete): report the .part as it is.
    """

    into: Literal["memory", "part"]
    part: PartAction = "keep"
    validator: str | None = None
    skip: bool = False
    until: int | None = None  # the file's size where known: reading stops past it (a body without end)
    total: int | None = None  # the size the answer gives, kept beside a fresh .part (see validator)
    decode: str | None = None  # a Content-Encoding to undo (--compressed) before the bytes are the file
    max_ratio: float = 0.0  # ... and how far its bytes may inflate (--max-ratio; 0: no bound)


@dataclass(slots=True)
class Wait(Step):
    """Sleep *seconds* before the next attempt (*error* ended the last; None while another run
    holds the part); empty the .part first when *restart_part*."""

    seconds: float
    error: FetchError | None
    restart_part: bool = False


@dataclass(slots=True)
class Finish(Step):
    """The item is over: record *result*; delete the .part when *remove_part* (else keep it)."""

    result: Result
    remove_part: bool = False


class Halt:
    """The run's one stop sign: the first item that finds the disk full sets it, and engines look
    at it where they take their next job (each new one would fail the same way, after asking its
    server for the file)."""

    __slots__ = ("reason",)

    def __init__(self) -> None:
        self.reason: str | None = None

    def note(self, error: BaseException) -> None:
        """Stop the run if *error* says the disk is full (the first such error is the reason)."""
        if self.reason is None and isinstance(error, DiskFullError):
            self.reason = str(error)


@dataclass(frozen=True, slots=True)
class Rules:
    """What every item of a run obeys (from FetchOptions, made once per run)."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    overwrite: bool = False
    item_timeout: float | None = None
    small_body: int = SMALL_BODY  # memory reads stop once past this many bytes (check_body says why)
    http: HttpPolicy = field(default_factory=HttpPolicy)
    resume_unvalidated: bool = True  # continue a part the server cannot vouch for (reported as such)
    stream: bool = False  # the part is a stream (-o -): what went out cannot start over
    busy_wait: float = 300.0  # how long to wait for another run that holds the part
    timestamping: bool = False  # -N: a complete file is asked for again only if the server's is newer
    no_clobber: bool = False  # -nc: any file already under the name is kept and taken as done
    replace_strangers: bool = False  # -o FILE: a file there nothing vouches for is replaced
    remote_time: bool = True  # the file's mtime from Last-Modified
    decoders: tuple[str, ...] = ()  # --compressed: the encodings to ask for and undo
    max_filesize: int | None = None  # no file grows past this (decoded bytes, where decoded)
    max_ratio: float = 200.0  # --max-ratio: decoded bytes per encoded byte, without --max-filesize
    disposition: Names | None = None  # --content-disposition: the run's names, for late collisions
    split: int = 1  # --split: connections per file (where the file is large and ranges work)
    min_split: int = 20 * 1024 * 1024  # --min-split-size: no span shorter (none cut under twice it)
    rate: Bucket | None = None  # --limit-rate: one bucket for the run
    rate_per_file: float | None = None  # --limit-rate-per-file: bytes a second each file may take
    speed_limit: float | None = None  # -Y: a reader under this many bytes a second ...
    speed_time: float = 30.0  # ... for this many seconds (-y) is abandoned and retried
    halt: Halt = field(default_factory=Halt)  # set once the disk is full: no item starts after

    @property
    def limited(self) -> bool:
        """Whether readers must ask ``Item.throttle`` after each chunk."""
        return self.rate is not None or self.rate_per_file is not None or self.speed_limit is not None


READ_MEMORY = Read("memory")
READ_SKIP = Read("part", skip=True)
