"""One item's download as a state machine with no I/O: events in, the next step out.

Every engine runs every item through this object, so every engine makes the same decisions: an
engine only carries out the step it is given (a request, a disk operation, a wait) and reports what
happened. Nothing here touches a socket or a file, awaits or sleeps; time comes in through the clock
the engine passes (``loop.time`` or ``time.monotonic``). Models: h11's ``Connection`` (a protocol
with no I/O) and httpx's pure redirect helpers under twin sync/async clients.

    item = Item(job, path, local, rules, clock)
    step = item.begin()
    while not isinstance(step, Finish):
        carry out step, then report:       step = item.<event>(...)

Steps, and the event that answers each (any step may instead end in ``item.failed(error)``):

    Inspect             hash the complete file already there  -> item.inspected(size, sha256)
    RemovePart          delete the .part                      -> item.part_removed()
    OpenPart(offset)    open the .part to continue at offset  -> item.part_opened(size, validator)
    Request(url, hdrs, proxy)  send it, wait for the headers  -> item.response(status, headers)
    Read(...)           read the body into memory or the .part -> item.body_read(size, sha256)
    Split(segments)     fetch the file's spans over several connections into a sparse .part
                        (--split; aiotulip.download.segments decides each)  -> item.split_ended(outcome)
    HashPart            hash the whole .part (a split one fills out of order) -> item.body_read(...)
    Commit              make it the final file (rename)       -> item.committed()
    Wait(seconds)       sleep before the next attempt         -> item.waited()
    Recheck             look at the disk again (another run had the part)  -> item.rechecked(local)
    Finish(result, remove_part)  the end; the .part is kept for a later resume unless told

The invariant that matters most — no bytes reach the final name before their size and sha256 have
been checked — is one ``if`` in ``body_read``, and a property test drives random event sequences at
it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiotulip.download import plan
from aiotulip.download.http.auth import Credentials
from aiotulip.download.http.policy import REDIRECTS, HttpPolicy
from aiotulip.download.http.proxies import Proxy
from aiotulip.download.http.urls import normalise, origin, redact, split_userinfo
from aiotulip.download.models import Job, Result
from aiotulip.download.names import Names
from aiotulip.download.rate import Bucket
from aiotulip.download.retry import RetryPolicy
from aiotulip.download.segments import Changed, Connection, Failed, Fetch, Retry, Segments, Sources, Span
from aiotulip.errors import BusyError, FetchError, IntegrityError, ProtocolError, ProxyError, Timeout

__all__ = [
    "INSPECT",
    "RECHECK",
    "REMOVE_PART",
    "SMALL_BODY",
    "Commit",
    "Finish",
    "HashPart",
    "Inspect",
    "Item",
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
    decode: str | None = None  # a Content-Encoding to undo (--compressed) before the bytes are the file


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


@dataclass(frozen=True, slots=True)
class Rules:
    """What every item of a run obeys (from FetchOptions, made once per run)."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    overwrite: bool = False
    item_timeout: float | None = None
    small_body: int = SMALL_BODY  # memory reads stop once past this many bytes (check_body says why)
    http: HttpPolicy = field(default_factory=HttpPolicy)
    resume_unvalidated: bool = True  # continue a part the server cannot vouch for (reported as such)
    busy_wait: float = 300.0  # how long to wait for another run that holds the part
    timestamping: bool = False  # -N: a complete file is asked for again only if the server's is newer
    remote_time: bool = True  # the file's mtime from Last-Modified
    decoders: tuple[str, ...] = ()  # --compressed: the encodings to ask for and undo
    max_filesize: int | None = None  # no file grows past this (decoded bytes, where decoded)
    disposition: Names | None = None  # --content-disposition: the run's names, for late collisions
    split: int = 1  # --split: connections per file (where the file is large and ranges work)
    min_split: int = 20 * 1024 * 1024  # --min-split-size: no span shorter (none cut under twice it)
    rate: Bucket | None = None  # --limit-rate: one bucket for the run
    rate_per_file: float | None = None  # --limit-rate-per-file: bytes a second each file may take

    @property
    def limited(self) -> bool:
        """Whether readers must ask ``Item.throttle`` after each chunk."""
        return self.rate is not None or self.rate_per_file is not None


_READ_MEMORY = Read("memory")
_READ_SKIP = Read("part", skip=True)


class Item:
    """The decisions of one download, from what is on disk to a Result."""

    __slots__ = (
        "_body",
        "_bucket",
        "_busy_since",
        "_conditional",
        "_credentials",
        "_encoding",
        "_hops",
        "_mirrors",
        "_no_split",
        "_number",
        "_origin",
        "_part_open",
        "_part_size",
        "_proxied",
        "_reason",
        "_sent",
        "_source",
        "_sources",
        "_spans",
        "_stamp",
        "_start_url",
        "_unvalidated",
        "_url",
        "_validator",
        "_verified",
        "_wanted",
        "attempts",
        "clock",
        "deadline",
        "job",
        "kept",
        "local",
        "name",
        "offset",
        "path",
        "public",
        "rules",
        "started",
    )  # fmt: skip

    def __init__(
        self, job: Job, path: str, local: plan.Local, rules: Rules, clock: Callable[[], float]
    ) -> None:
        self.job = job
        self.path = path
        # What outputs show of the job: its URL with the password (if any) as ***.
        self.public = job if "@" not in job.url else dataclasses.replace(job, url=redact(job.url))
        self.local = local
        self.rules = rules
        self.clock = clock
        self.started = clock()
        self.deadline = self.started + rules.item_timeout if rules.item_timeout else None
        self.attempts = 0
        self.offset = 0  # the byte of the file the next request asks from
        self.kept = 0  # bytes found in a .part and not downloaded again (the Report's resumed_from)
        self._validator: str | None = None  # ETag or Last-Modified the .part was begun with
        self._part_open = False
        self._part_size = 0
        self._body: plan.Body | None = None
        self._verified: tuple[int, str] | None = None  # (size, sha256) of bytes that passed the checks
        self._start_url: str | None = None  # the job's URL as it goes on the wire (set on first use)
        self._credentials: Credentials | None = None  # from the job's URL, for its origin only
        self._origin: tuple[str, str, int] | None = None
        self._url = ""  # the URL of the request in flight (redirects move it)
        self._hops = 0  # redirects followed in this attempt
        self._unvalidated = False  # resumed bytes no validator or checksum vouches for
        self._busy_since: float | None = None  # when another run was first found holding the part
        self._sent = True  # a request has gone out in the current attempt
        self._proxied = False  # the last request went through a proxy
        self.name = job.name  # the final name (a Content-Disposition may change it)
        self._conditional: dict[str, str] | None = None  # -N: If-None-Match / If-Modified-Since
        self._encoding: str | None = None  # the body's Content-Encoding, as saved (not undone)
        self._reason: str | None = None  # why a skipped item was skipped, when not the usual
        self._stamp: tuple[float | None, str | None] = (None, None)  # Last-Modified, ETag
        self._no_split = False  # a split download found the server changing its mind: one stream
        # --limit-rate-per-file: this file's bucket (made here: a split download's threads share it)
        self._bucket = Bucket(rules.rate_per_file) if rules.rate_per_file is not None else None
        # Mirrors: the file's other URLs, how each has done, and which one a single stream asks now.
        self._sources = Sources(1 + len(job.mirrors)) if job.mirrors else None
        self._source = 0
        self._spans = False  # this attempt's bytes came as a split download's spans
        self._mirrors: dict[int, tuple[str, Credentials | None]] = {}  # index -> (URL now, credentials)
        self._wanted: str | None = None  # the name a Content-Disposition asked for
        self._number = 0  # ... numbered this far (0: as asked)

    # -- events -------------------------------------------------------------------------------------

    def begin(self) -> Step:
        """Return the first step, from what is on disk."""
        start = plan.start(self.job, self.local, overwrite=self.rules.overwrite)
        if start.check_final:
            if self.rules.timestamping and self.job.sha256 is None and self._reason is None:
                return STAT  # -N: ask the server whether its copy is newer (a checksum needs no asking)
            return INSPECT
        if start.discard_part:
            return REMOVE_PART
        return self._attempt(start.offset)

    def stat_final(self, mtime: float | None, etag: str | None) -> Step:
        """The complete file there was last modified at *mtime* and kept the server's *etag* (-N)."""
        if etag:
            self._conditional = {"If-None-Match": plan.echo(etag)}
        elif mtime is not None:
            from email.utils import formatdate

            self._conditional = {"If-Modified-Since": formatdate(mtime, usegmt=True)}
        return self._attempt(0)

    def inspected(self, size: int, sha256: str) -> Step:
        """The final file already there has *size* bytes hashing to *sha256*."""
        if self._reason is not None:  # -N: the server said it is not modified
            result = Result(self.public.url, self.path, "skipped", size, sha256, self.attempts)
            result.reason = self._reason
            return self._finish(result)
        if plan.final_matches(self.job, size, sha256):
            # A part beside a complete file is a leftover (a run killed as it began again): it goes.
            leftover = self.local.part_size is not None
            return self._finish(Result(self.public.url, self.path, "skipped", size, sha256), leftover)
        return REMOVE_PART  # not the file wanted: download it afresh (the rename replaces it)

    def part_removed(self) -> Step:
        self._part_open = False
        self._part_size = 0
        return self._attempt(0)

    def part_opened(
        self, size: int, validator: str | None, split: tuple[int, list[tuple[int, int]]] | None = None
    ) -> Step:
        """The .part is open holding *size* bytes (of the offset asked for), begun at *validator*;
        *split*: it is a split download's (the file's size, the ranges done)."""
        self._part_open = True
        self._part_size = self.offset = self.kept = size
        self._validator = validator
        if split is not None:
            return self._resume_split(validator, *split)
        if size and validator is None and self.job.sha256 is None:
            # Nothing but a size (if that) says these bytes are this file's: a server without
            # validators may have changed it since, and the splice of two versions would pass.
            if self.job.size is None or not self.rules.resume_unvalidated:
                self.attempts -= 1  # the attempt starts again, from nothing, after the removal
                self.kept = 0
                return REMOVE_PART
            self._unvalidated = True
        return self._request(first=True)

    def busy(self) -> Step:
        """Another run holds the part: wait for it (it will usually leave the file complete)."""
        now = self.clock()
        if self._busy_since is None:
            self._busy_since = now
        waited = now - self._busy_since
        if waited > self.rules.busy_wait or (self.deadline is not None and now >= self.deadline):
            error = BusyError(
                f"another tulip run is downloading this file (waited {waited:.0f} s)", url=self.public.url
            )
            return self._finish(plan.result_for_error(self.public, self.path, error, self.attempts, 0.0))
        if not self._sent and self.attempts:
            self.attempts -= 1  # no request went out: this was no attempt (the report counts requests)
        self._part_open = False
        return Wait(min(2.0, 0.2 + waited / 10), None)

    def rechecked(self, local: plan.Local) -> Step:
        """What is on disk now, after waiting for another run."""
        self.local = local
        return self.begin()

    def response(self, status: int, headers: Mapping[str, str]) -> Step:
        """The server answered the last Request with *status* and *headers*."""
        http = self.rules.http
        if headers.get("Set-Cookie") is not None:
            http.absorb(self._url, headers)  # a redirect's cookies count too
        if status in REDIRECTS:
            location = headers.get("Location")
            if location:
                try:
                    self._url = http.redirect(self._url, location, self._hops)
                except FetchError as error:
                    return self.failed(error)
                self._hops += 1
                return self._request()
        elif status == 407 and self._proxied:
            return self.failed(
                ProxyError(
                    "the proxy needs credentials (HTTP 407): put them in the proxy URL or use --proxy-user",
                    url=self.public.url, transient=False,
                )
            )  # fmt: skip
        if status == 304 and self._conditional is not None:
            self._reason = "not modified"
            return INSPECT  # hashed for the Report, as every skipped file is
        rules = self.rules
        decode, self._encoding = plan.content_coding(headers, rules.decoders)
        try:
            body = plan.interpret(status, headers, self.offset, self.public, decoded=decode is not None)
        except FetchError as error:
            return self.failed(error)
        if decode is not None and body.offset:
            self.kept = 0  # a range of the encoded bytes cannot be decoded on its own: start over
            return REMOVE_PART
        if rules.max_filesize is not None and body.total is not None and body.total > rules.max_filesize:
            message = f"the server has {body.total} bytes, more than --max-filesize {rules.max_filesize}"
            return self.failed(IntegrityError(message, url=self.public.url, transient=False))
        if rules.disposition is not None:  # (a resumed part's 206 names the file too)
            step = self._disposition(headers.get("Content-Disposition"))
            if step is not None:
                return step
        if rules.remote_time or rules.timestamping:
            self._stamp = (plan.http_date(headers.get("Last-Modified")), headers.get("ETag"))
        self._body = body
        if status == 206 and not self._part_open and decode is None and self._splits(body.total):
            assert body.total is not None
            segments = self._segments(body.total, body.validator, ())
            self._part_open = True
            self._validator = body.validator
            self._spans = True
            return Split(segments, fresh=True, first=segments.spans[0], source=self._source)
        if decode is not None:  # decoded bytes are streamed and counted whatever the encoded length
            if not self._part_open:
                self._part_open = True
                return Read("part", "open", None, until=self._until(body), decode=decode)
            self._validator = None
            return Read("part", "restart", None, until=self._until(body), decode=decode)
        if body.stale:  # the .part is not part of this file: remove it, ask again from the start
            self.kept = 0
            return REMOVE_PART
        if body.complete:
            return _READ_SKIP
        if not self._part_open:
            if body.total is not None and body.total <= self.rules.small_body:
                return _READ_MEMORY
            self._part_open = True
            self._validator = body.validator
            return Read("part", "open", body.validator, until=self._until(body))
        if body.offset != self.offset:  # the whole file came instead of the rest: start the .part over
            self.kept = 0
            self._validator = body.validator
            return Read("part", "restart", body.validator, until=self._until(body))
        if plan.validator_changed(self._validator, headers):
            # The range of another version (a server that ignored If-Range): the .part cannot be
            # continued with it; it starts over.
            self.kept = 0
            self._forget_served()
            return REMOVE_PART
        if body.validator:
            self._validator = body.validator
        return Read("part", "keep", until=self._until(body))

    def body_read(self, size: int, sha256: str) -> Step:
        """What was read now makes a file of *size* bytes hashing to *sha256* (memory or .part)."""
        body = self._body
        assert body is not None, "body_read() before a response"
        if self._part_open:
            self._part_size = size
        try:
            plan.check_body(self.public, body, size, sha256, self.rules.max_filesize)
        except FetchError as error:
            return self.failed(error)
        self._verified = (size, sha256)
        if self._sources is not None and not self._spans:
            self._sources.states[self._source].bytes += size - body.offset
        mtime, etag = self._stamp
        exclusive = self.name != self.job.name
        return Commit(self.name, mtime if self.rules.remote_time else None, etag, exclusive)

    def throttle(self, received: int) -> float:
        """*received* bytes of the body just arrived: the seconds to wait before reading on (rate
        limits; every connection of a split download shares the file's)."""
        rules = self.rules
        wait = rules.rate.take(received) if rules.rate is not None else 0.0
        if self._bucket is not None:
            wait = max(wait, self._bucket.take(received))
        return wait

    def segment_request(self, fetch: Fetch) -> Request:
        """The request for one span of a split download: to its URL (where redirects led), the
        range added."""
        url, credentials = self._route(fetch.source)
        same = True
        if fetch.source == 0 and self._origin is not None:
            same = origin(url) == self._origin
        headers, proxy = self.rules.http.request(
            url, origin_credentials=credentials, same_origin=same, given=self.job.given and fetch.source == 0
        )
        return Request(url, {**headers, **fetch.headers}, proxy)

    def segment_response(
        self, connection: Connection, status: int, headers: Mapping[str, str]
    ) -> Span | Retry | Changed | Failed | Request:
        """A span's request was answered: the span to read, a redirect's Request, or what else to do."""
        http = self.rules.http
        source = connection.source or 0
        url, credentials = self._route(source)
        if headers.get("Set-Cookie") is not None:
            http.absorb(url, headers)
        if status in REDIRECTS and (location := headers.get("Location")):
            try:
                moved = http.redirect(url, location, connection.hops)
            except FetchError as error:
                return connection.failed(error)
            connection.hops += 1
            if source == 0:
                if self._origin is None:
                    self._origin = origin(url)
                self._url = moved
            else:
                self._mirrors[source] = (moved, credentials if origin(moved) == origin(url) else None)
            return self.segment_request(connection.fetch())
        return connection.response(status, headers)

    def _route(self, source: int) -> tuple[str, Credentials | None]:
        """Where requests to the file's URL number *source* go now, and its credentials."""
        if source == 0:
            if self._source or not self._url:  # a mirror has this attempt's stream: from the start
                try:
                    return self._start_url or self._begin_url(), self._credentials
                except FetchError:
                    return self.job.url, None  # (its request fails, and the URL is dropped)
            same = self._origin is None or origin(self._url) == self._origin
            return self._url, self._credentials if same else None
        found = self._mirrors.get(source)
        if found is None:
            url, user, password = split_userinfo(self.job.mirrors[source - 1])
            with contextlib.suppress(ValueError):  # else sent as given: it fails, the mirror with it
                url = normalise(url)
            found = self._mirrors[source] = (
                url,
                Credentials(user, password or "") if user is not None else None,
            )
        return found

    def split_ended(self, outcome: Changed | Failed | None, retries: int, received: int) -> Step:
        """The split download is over: complete (*outcome* None), or the file *Changed*, or a span
        *Failed*; *retries* span requests failed on the way; the .part holds *received* bytes."""
        self.attempts += retries
        if outcome is None:
            return HASH_PART
        if isinstance(outcome, Changed):
            self._no_split = True  # once is enough: the next attempt takes the file in one stream
            self.kept = 0
            self._forget_served()
            return REMOVE_PART
        result = plan.result_for_error(self.public, self.path, outcome.error, self.attempts, 0.0)
        return self._finish(result, remove_part=received == 0)

    def committed(self) -> Step:
        """The file is complete under its final name."""
        assert self._verified is not None, "committed() before a verified body"
        size, sha256 = self._verified
        result = Result(self.public.url, self.path, "ok", size, sha256, self.attempts, resumed_from=self.kept)
        if self._unvalidated and self.kept:
            result.resumed_unvalidated = True
        result.content_encoding = self._encoding
        return self._finish(result)

    def failed(self, error: FetchError, part_size: int | None = None) -> Step:
        """The last step failed with *error*; *part_size* is what the .part holds now, if it is open.

        Returns a Wait before the next attempt, or the Finish that gives up.
        """
        if part_size is not None and self._part_open:
            self._part_size = part_size
        remaining = None if self.deadline is None else self.deadline - self.clock()
        delay = self.rules.policy.delay(self.attempts, error, remaining)
        if self._sources is not None:
            delay = self._next_source(error, delay)
        # Bytes proved wrong, or from a response the policy rejected: nothing of them may stay.
        wrong = isinstance(error, IntegrityError | ProtocolError)
        if delay is None:
            # An empty .part helps no one; one whose bytes proved wrong would mislead a resume.
            remove = self._part_open and (self._part_size == 0 or wrong)
            result = plan.result_for_error(self.public, self.path, error, self.attempts, 0.0)
            return self._finish(result, remove)
        if wrong and self._part_open:  # wrong bytes: nothing of this .part can be trusted
            self._part_size = self.kept = 0
            self._forget_served()
            return Wait(delay, error, restart_part=True)
        return Wait(delay, error)

    def _next_source(self, error: FetchError, delay: float | None) -> float | None:
        """With mirrors, which URL the next attempt asks (and the wait before it, None for none):
        the next one round, a URL that failed for good dropped while others remain; bytes of
        several URLs that fail their checksum are fetched again from one URL at a time."""
        sources = self._sources
        assert sources is not None
        if isinstance(error, IntegrityError) and "sha256" in str(error):
            if sources.only is not None:
                sources.drop(sources.only, "its bytes failed the checksum")
            live = [i for i, s in enumerate(sources.states) if s.dropped is None]
            sources.only = live[0] if live else None
            if sources.only is None:
                return None
            self._source = sources.only
            return delay
        live = sources.live()
        if delay is None and not self.rules.policy.retryable(error) and len(live) > 1:
            sources.drop(self._source, str(error) or type(error).__name__)
            delay = 0.0  # others remain: on to the next at once
        live = sources.live()
        if live:
            later = [i for i in live if i > self._source]
            self._source = later[0] if later else live[0]
        return delay

    def _forget_served(self) -> None:
        """The .part starts over: what each URL had served is no longer in the file."""
        if self._sources is not None:
            for state in self._sources.states:
                state.bytes = 0

    def _sources_report(self) -> list[dict[str, object]] | None:
        sources = self._sources
        if sources is None:
            return None
        urls = [self.public.url, *(redact(url) for url in self.job.mirrors)]
        return [
            {"url": url, "bytes": state.bytes, "dropped": state.dropped}
            for url, state in zip(urls, sources.states, strict=True)
        ]

    @property
    def announced(self) -> int | None:
        """The file's size as the last response gave it (for a progress bar), None if unknown."""
        body = self._body
        return body.total if body is not None else None

    @property
    def url(self) -> str:
        """The URL of the last request (where redirects led), with no credentials in it."""
        return self._url

    def timed_out(self, part_size: int | None = None) -> Step:
        """The item's total deadline passed during the last step (the .part holds *part_size* bytes)."""
        error = Timeout("item took longer than its total timeout", url=self.public.url)
        return self.failed(error, part_size)

    def waited(self) -> Step:
        """The wait before the next attempt is over."""
        if self._busy_since is not None and not self._part_open:
            return RECHECK  # waited for another run: see what it left
        return self._attempt(self._part_size if self._part_open else 0)

    # -- internals ----------------------------------------------------------------------------------

    def _attempt(self, offset: int) -> Step:
        self.attempts += 1
        self.offset = offset
        self._spans = False
        self._verified = None
        self._sent = False
        if offset and not self._part_open:
            return OpenPart(offset)
        return self._request(first=True)

    def _request(self, *, first: bool = False) -> Step:
        """The request for the current URL (the job's own when *first*: each attempt starts there)."""
        if first:
            if self._source:  # a mirror: this attempt asks it (the one before failed elsewhere)
                self._mirrors.pop(self._source, None)  # from its own URL, not where it led last time
                start = self._route(self._source)[0]
            else:
                start = self._start_url
                if start is None:
                    try:
                        start = self._begin_url()
                    except FetchError as error:
                        return self.failed(error)
            self._url, self._hops, self._origin = start, 0, None
        url = self._url
        self._sent = True
        http = self.rules.http
        same = True
        credentials = self._credentials if not self._source else self._route(self._source)[1]
        if self._hops:  # a redirect may have left the origin the credentials were given for
            if self._origin is None:
                start = self._start_url if not self._source else self._route(self._source)[0]
                self._origin = origin(start or url)
            same = origin(url) == self._origin
        try:
            headers, proxy = http.request(
                url,
                origin_credentials=credentials,
                same_origin=same,
                given=self.job.given and not self._source,
            )
        except FetchError as error:  # a proxy the environment names that cannot be used
            return self.failed(error)
        if self.offset:
            headers = {**headers, **plan.range_headers(self.offset, self._validator)}
        elif self._conditional is not None:
            headers = {**headers, **self._conditional}
        elif self._splits(self.job.size):
            headers = {**headers, "Range": "bytes=0-"}  # a 206 proves ranges work, a split may follow
        if self.rules.decoders:
            headers = {**headers, "Accept-Encoding": ", ".join(self.rules.decoders)}
        self._proxied = proxy is not None
        return Request(url, headers, proxy)

    def _begin_url(self) -> str:
        """Return the job's URL as it goes on the wire, its credentials kept apart for its origin."""
        url, user, password = split_userinfo(self.job.url)
        if user is not None:
            self._credentials = Credentials(user, password or "")
        try:
            self._start_url = start = normalise(url)
        except ValueError as exc:
            raise FetchError(f"invalid URL: {exc}", url=self.public.url) from None
        return start

    def _splits(self, total: int | None) -> bool:
        """Whether a file of *total* bytes (None: not known yet) may be split over connections."""
        rules = self.rules
        if rules.split < 2 or self._no_split or rules.decoders:
            return False
        return total is None or total >= 2 * rules.min_split

    def _segments(
        self, total: int, validator: str | None, done: list[tuple[int, int]] | tuple[()]
    ) -> Segments:
        rules = self.rules
        return Segments(
            total, validator, connections=max(1, rules.split), min_size=rules.min_split, policy=rules.policy,
            done=done, sources=self._sources, source=self._source, clock=self.clock,
        )  # fmt: skip

    def _resume_split(self, validator: str | None, total: int, done: list[tuple[int, int]]) -> Step:
        """Go on with a split download's .part: the spans not done yet, each from where it stopped."""
        job = self.job
        if (job.size is not None and total != job.size) or (validator is None and job.sha256 is None):
            # Another file's, or bytes nothing can vouch for now: the .part starts over.
            self.attempts -= 1
            self.kept = 0
            return REMOVE_PART
        segments = self._segments(total, validator, done)
        self.kept = segments.received
        self._body = plan.Body(0, total, validator)
        if self._start_url is None:
            try:
                self._url = self._begin_url()
            except FetchError as error:
                return self.failed(error)
        self._spans = True
        if segments.complete:
            return HASH_PART
        return Split(segments, fresh=False)

    def _until(self, body: plan.Body) -> int | None:
        until = self.job.size if self.job.size is not None else body.total
        limit = self.rules.max_filesize
        return limit if until is None or (limit is not None and limit < until) else until

    def _disposition(self, header: str | None) -> Step | None:
        """Take the name a Content-Disposition gives (None to go on); a failure if it cannot be."""
        names = self.rules.disposition
        suggested = plan.disposition_name(header) if header else None
        if names is None or suggested is None:
            return None
        folder, slash, _base = self.job.name.rpartition("/")
        self._wanted = f"{folder}{slash}{suggested}"
        return self._rename(0)

    def _rename(self, first: int) -> Step | None:
        names = self.rules.disposition
        assert names is not None and self._wanted is not None
        try:
            chosen, self._number = names.take(self._wanted, self.job.name, first)
        except ValueError as exc:
            return self.failed(FetchError(str(exc), url=self.public.url))
        if chosen != self.name:
            base = self.name.rpartition("/")[2]
            self.name = chosen
            self.path = self.path[: len(self.path) - len(base)] + chosen.rpartition("/")[2]
        return None

    def name_taken(self) -> Step:
        """The server's name is a file already there, not from this URL: the next name, if any."""
        step = self._rename(self._number + 1)
        if step is not None:
            return step
        assert self._verified is not None
        mtime, etag = self._stamp
        return Commit(self.name, mtime if self.rules.remote_time else None, etag, exclusive=True)

    def _finish(self, result: Result, remove_part: bool = False) -> Finish:
        result.elapsed = self.clock() - self.started
        if self._sources is not None:
            result.sources = self._sources_report()
        return Finish(result, remove_part)
