"""The decisions of one download, free of I/O: skip, resume or start over; what a response means;
whether the bytes that arrived are the file. Every engine calls these, so all engines agree.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from aiotulip.download.http.ranges import parse_content_range, parse_unsatisfied, validator_of
from aiotulip.download.models import Job, Result, Status
from aiotulip.download.retry import parse_retry_after
from aiotulip.errors import (
    ChecksumError,
    FetchError,
    HTTPStatusError,
    IntegrityError,
    ProtocolError,
    TransportError,
)

__all__ = [
    "Body",
    "Local",
    "Start",
    "check_body",
    "content_coding",
    "final_matches",
    "http_date",
    "internal_failure",
    "interpret",
    "processes",
    "result_for_error",
    "same_as_server",
    "start",
]


@dataclass(frozen=True, slots=True)
class Local:
    """What is on disk for a job before it starts: sizes of the final file and of its .part, and
    whether the final file is vouched for by tulip's own record of it (written for this URL, and
    unchanged since: the same size and mtime)."""

    final_size: int | None = None
    part_size: int | None = None
    final_ours: bool = False
    final_mtime: float | None = None
    # Where the final file is not vouched for: this URL's own earlier download under the next name
    # (NAME.1.EXT, saved beside somebody else's NAME.EXT) that its record vouches for: name, size, mtime.
    numbered: tuple[str, int, float] | None = None


@dataclass(slots=True)
class Start:
    """How to begin: check an existing final file, or download from *offset* (0 = fresh).
    *stranger*: a file tulip cannot vouch for holds the name, and is never written over."""

    check_final: bool = False
    offset: int = 0
    discard_part: bool = False
    stranger: bool = False
    # The item's file is this URL's earlier download under a numbered name: its name, and what is
    # on disk as the item is to see it from now on (that file, and the URL's part).
    name: str | None = None
    local: Local | None = None


def start(
    job: Job,
    local: Local,
    *,
    overwrite: bool,
    no_clobber: bool = False,
    timestamping: bool = False,
    replace_strangers: bool = False,
) -> Start:
    """Decide how to begin *job* given what is on disk.

    A file already under the name is taken as done only when something vouches for it: tulip's own
    record, a checksum or size the input gives (checked when it is inspected), the user's word
    (``--no-clobber``), or -N's question to the server. Any other file is a stranger's: the download
    goes to the name's next free variant (as wget2 and aria2c do), and only ``--overwrite`` replaces it
    — or *replace_strangers* (``-o FILE``, as curl -o), which still resumes a part.
    """
    if overwrite:
        return Start(discard_part=local.part_size is not None)
    final = local.final_size
    stranger = False
    if final is not None:
        if no_clobber:
            return Start(check_final=True)
        if local.numbered is not None and not (local.final_ours or replace_strangers):
            # (-N too: the file it asks the server about is this URL's, not the one it went beside)
            return _beside(job, local.numbered, local.part_size, timestamping)
        if timestamping or local.final_ours:
            # -N asks the server about the file there; tulip's own file is its complete download.
            # Of another size than the input's, either is replaced by this download.
            if job.size is None or final == job.size:
                return Start(check_final=True)
        elif job.sha256 is not None or job.checksums or final == job.size:
            return Start(check_final=True)  # the input vouches for it, if it matches
        else:
            stranger = not replace_strangers
    elif local.numbered is not None and not replace_strangers:  # (a folder or a link holds the name)
        return _beside(job, local.numbered, local.part_size, timestamping)
    part = local.part_size
    if part is None:
        return Start(stranger=stranger)
    if part == 0 or (job.size is not None and part > job.size):
        return Start(discard_part=True, stranger=stranger)
    return Start(offset=part, stranger=stranger)


def _beside(job: Job, numbered: tuple[str, int, float], part: int | None, timestamping: bool) -> Start:
    """Saved beside somebody else's file in an earlier run: that file is this URL's, looked at as
    its own file is (its part is still the URL's)."""
    name, size, mtime = numbered
    mine = Local(size, part, True, mtime)
    begun = start(job, mine, overwrite=False, timestamping=timestamping)
    begun.name, begun.local = name, mine
    return begun


def final_matches(job: Job, size: int, sha256: str, others: tuple[tuple[str, str], ...] = ()) -> bool:
    """Whether an existing final file is the one *job* describes (*others*: its other digests)."""
    if job.size is not None and size != job.size:
        return False
    if job.sha256 is not None and sha256 != job.sha256:
        return False
    got = dict(others)
    return all(got.get(name) == wanted for name, wanted in job.checksums)


def same_as_server(local: Local, total: int | None, last_modified: float | None) -> bool:
    """Whether the file already there (not vouched for otherwise) has the size and the date the
    server's answer gives for its copy: the mark a finished download by tulip, wget or curl -R leaves."""
    return (
        total is not None
        and local.final_size == total
        and last_modified is not None
        and local.final_mtime is not None
        and int(local.final_mtime) == int(last_modified)
    )


@dataclass(slots=True)
class Body:
    """A response worth reading: its bytes start at *offset* of the file of *total* bytes."""

    offset: int
    total: int | None  # None when the server does not say (chunked, no Content-Length)
    validator: str | None  # ETag (strong only) or Last-Modified, for If-Range on a later resume
    complete: bool = False  # the .part already holds the whole file (a 416 for its exact size)
    stale: bool = False  # the .part is not a beginning of this file (a 416 otherwise): start over


_ALIASES = {"x-gzip": "gzip"}  # RFC 9110 8.4.1.3: the same coding by its old name
# Names that say the file is itself compressed so: a server that sends a .tar.gz with
# "Content-Encoding: gzip" (Apache's AddEncoding does) means the file, not a wrapping of it (wget's rule).
_ITSELF = {
    "gzip": (".gz", ".tgz", ".svgz"),
    "deflate": (".zz", ".zlib"),
    "br": (".br",),
    "zstd": (".zst", ".zstd", ".tzst"),
}


def content_coding(
    headers: Mapping[str, str], decoders: Collection[str], name: str = ""
) -> tuple[str | None, str | None]:
    """Return the Content-Encoding to decode (one of *decoders*) and the one the saved bytes keep:
    never decoded when the file's *name* says it is compressed that way."""
    encoding = headers.get("Content-Encoding")
    if encoding is None:
        return None, None
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None, None
    encoding = _ALIASES.get(encoding, encoding)
    if encoding in decoders and not name.lower().endswith(_ITSELF.get(encoding, ())):
        return encoding, None
    return None, encoding


def interpret(status: int, headers: Mapping[str, str], offset: int, job: Job, decoded: bool = False) -> Body:
    """Return what a response means for *job* asked from *offset*; raise FetchError if it is a failure.

    A 200 to a range request means the server ignored the range: the body is the whole file and the
    caller starts its .part over (offset 0). *decoded*: the body is encoded and will be decoded, so
    its length says nothing of the file's.
    """
    if status == 200:
        body = Body(0, _int(headers.get("Content-Length")), validator_of(headers))
    elif status == 204:  # No Content: an empty file, as curl and wget2 save it
        body = Body(0, 0, validator_of(headers))
    elif status == 206:
        # A range answered wrongly: the .part starts over and the next attempt asks for the whole
        # file (IntegrityError: its bytes cannot be trusted). Retried as it was, the same wrong
        # answer came six times, and on every later run.
        found = parse_content_range(headers.get("Content-Range"))
        if found is None:
            raise IntegrityError("206 without a usable Content-Range", url=job.url)
        first, last, total = found
        if first != offset and not (first == 0 and total is not None and last == total - 1):
            wrong = f"asked for bytes from {offset}, got {first}-{last}"
            raise IntegrityError(wrong, url=job.url)
        # (from 0 to the end: the whole file, the range ignored as a 200 would, read as one)
        if total is None and job.size is None:
            # The server will not say how long the file is: these bytes may be all of it or a
            # beginning, and nothing can tell a complete file from a cut one.
            raise ProtocolError(
                f"206 with an unknown total size (Content-Range: bytes {first}-{last}/*): "
                "nothing can tell the file is complete",
                url=job.url,
            )
        body = Body(first, total, validator_of(headers))
        length = _int(headers.get("Content-Length"))
        if length is not None and length != last - first + 1:
            raise IntegrityError("Content-Length disagrees with Content-Range", url=job.url)
    elif status == 416 and offset:
        total = parse_unsatisfied(headers.get("Content-Range"))
        if total == offset and (job.size is None or total == job.size):
            return Body(offset, total, validator_of(headers), complete=True)
        # The .part is longer than the file now is (or the server says so): it belongs to another
        # version. Its bytes are worthless; the body of this answer too.
        return Body(0, total, None, stale=True)
    else:
        raise HTTPStatusError(status, url=job.url, retry_after=parse_retry_after(headers.get("Retry-After")))
    if decoded:
        body.total = None
    elif job.size is not None and body.total is not None and body.total != job.size:
        encoding = headers.get("Content-Encoding", "").strip()
        hint = f" (sent with Content-Encoding {encoding}: --compressed decodes it)" if encoding else ""
        raise IntegrityError(
            f"server has {body.total} bytes, expected {job.size}{hint}", url=job.url, transient=False
        )
    return body


def check_body(
    job: Job,
    body: Body,
    received: int,
    sha256: str,
    limit: int | None = None,
    others: tuple[tuple[str, str], ...] = (),
) -> None:
    """Raise if the file now in the .part (*received* bytes in all, hashing to *sha256*) is wrong.

    A short file is a TransportError (the connection ended early; a retry resumes), anything else
    an IntegrityError. *limit* is --max-filesize: reading stopped just past it when the size was not
    announced (or was, compressed).
    """
    if limit is not None and received > limit:
        raise IntegrityError(
            f"the file has more than --max-filesize {limit} bytes", url=job.url, transient=False
        )
    for expected in (body.total, job.size):  # both, when both are known: a 416 can lie about the size
        if expected is not None and received < expected:
            raise TransportError(f"connection closed after {received} of {expected} bytes", url=job.url)
        if expected is not None and received > expected:
            # More than the file's size: the server will send as much again (a body without end).
            raise IntegrityError(
                f"received {received} bytes, expected {expected}", url=job.url, transient=False
            )
    if job.sha256 is not None and sha256 != job.sha256:
        raise ChecksumError(f"sha256 mismatch: got {sha256[:16]}…, expected {job.sha256[:16]}…", url=job.url)
    got = dict(others)
    for name, wanted in job.checksums:
        found = got.get(name)
        if found != wanted:
            shown = found[:16] if found else "nothing"
            raise ChecksumError(f"{name} mismatch: got {shown}…, expected {wanted[:16]}…", url=job.url)


def result_for_error(job: Job, path: str, error: FetchError, attempts: int, elapsed: float) -> Result:
    """Return the Result of a job that ended with *error*."""
    status: Status = "failed"
    if isinstance(error, HTTPStatusError) and error.status in (404, 410):
        status = "not_found"
    return Result(
        job.url, path, status, attempts=attempts, error=str(error), elapsed=elapsed, error_kind=error.kind
    )


def internal_failure(job: Job, path: str, exc: BaseException) -> Result:
    """Return a failed Result for an unexpected error: a bug in one item must not sink the run."""
    return Result(
        job.url, path, "failed", error=f"internal error: {type(exc).__name__}: {exc}", error_kind="internal"
    )


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


_MONTHS = {
    "Jan": 1,
    "Feb": 2,
    "Mar": 3,
    "Apr": 4,
    "May": 5,
    "Jun": 6,
    "Jul": 7,
    "Aug": 8,
    "Sep": 9,
    "Oct": 10,
    "Nov": 11,
    "Dec": 12,
}


@functools.lru_cache(maxsize=4096)
def http_date(text: str | None) -> float | None:
    """Return the time an HTTP date (``Tue, 15 Nov 1994 08:12:31 GMT``) names, None if it is not one.
    Cached: the files of one server often share their Last-Modified, and parsing costs microseconds.

    The form every server sends now (RFC 9110's IMF-fixdate) is read here; the obsolete ones go to
    ``email.utils``, whose import was 3 ms of every run's start (a test holds the two to one answer)."""
    if not text:
        return None
    if (
        len(text) == 29
        and text[3:5] == ", "
        and text[25:] == " GMT"
        and text[7] == text[11] == text[16] == " "
        and text[:3].isalpha()  # (the day's name: email.utils, too, reads past whatever it says)
        and text.isascii()
    ):
        month = _MONTHS.get(text[8:11])
        fields = (text[12:16], text[5:7], text[17:19], text[20:22], text[23:25])
        # (a year under 100 email.utils reads as 19xx or 20xx; a day or time out of range it judges:
        # both go there, so every answer stays what it was)
        if month is not None and text[19] == text[22] == ":" and all(map(str.isdigit, fields)):
            year, day, hour, minute, second = map(int, fields)
            if year >= 100:
                with contextlib.suppress(ValueError):
                    when = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
                    return when.timestamp()
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:  # asctime, or "-0000": HTTP dates are GMT (RFC 9110 5.6.7)
            when = when.replace(tzinfo=datetime.UTC)
        return when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):  # a date no clock can hold
        return None


# --workers auto (the command line's default). A process more pays for its fork, and for the pipe
# its Results cross, once it has this many items: from nginx on 2 cores, 1,000 x 1 KB took as long
# in 2 processes as in 1, 3,000 took 15% less, 10,000 27% less.
ITEMS_PER_PROCESS = 1500
# ... and only where the items come in waves. A run whose items are all in flight at once waits on
# its servers, not on the CPU: 10,000 at c=10,000 behind a 1 s delay took 15% longer in 2 processes,
# in 40% more memory.
WAVES = 10
MOST_PROCESSES = 4


def processes(items: int, concurrency: int, engine: str, cores: int) -> int:
    """How many processes ``--workers auto`` spreads *items* over: one a core (up to
    MOST_PROCESSES), each with ITEMS_PER_PROCESS items at least, where there are WAVES times as many
    items as connections; one for the sequential engine (one item at a time is what it is for)."""
    if engine == "sequential" or items < WAVES * concurrency:
        return 1
    return max(1, min(cores, MOST_PROCESSES, items // ITEMS_PER_PROCESS, concurrency))
