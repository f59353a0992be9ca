"""One item's download as a state machine with no I/O: events in, the next step out.

Every engine runs every item through this object, so every engine makes the same decisions: an
engine only carries out the step it is given (a request, a disk operation, a wait) and reports what
happened. Nothing here touches a socket or a file, awaits or sleeps; time comes in through the clock
the engine passes (``loop.time`` or ``time.monotonic``). Models: h11's ``Connection`` (a protocol
with no I/O, its phases checked on every event) and httpx's pure redirect helpers.

    item = Item(job, path, local, rules, clock)
    step = item.begin()
    while not isinstance(step, Finish):
        carry out step, then report:       step = item.<event>(...)

Steps, and the event that answers each (any step may instead end in ``item.failed(error)``):

    Stat                read the final file's mtime and kept ETag (-N) -> item.stat_final(mtime, etag)
    Inspect             hash the complete file already there  -> item.inspected(size, sha256)
    RemovePart          delete the .part                      -> item.part_removed()
    OpenPart(offset)    open the .part to continue at offset  -> item.part_opened(size, validator)
    Request(url, hdrs, proxy)  send it, wait for the headers  -> item.response(status, headers)
    Read(...)           read the body into memory or the .part -> item.body_read(size, sha256)
    Split(segments)     fetch the file's spans over several connections into a sparse .part
                        (--split; ``split`` and ``segments`` decide each)  -> item.split_ended(...)
    HashPart            hash the whole .part (a split one fills out of order) -> item.body_read(...)
    Commit              make it the final file (rename)       -> item.committed() / name_taken()
    Wait(seconds)       sleep before the next attempt         -> item.waited()
    Recheck             look at the disk again (another run had the part)  -> item.rechecked(local)
    Finish(result, remove_part)  the end; the .part is kept for a later resume unless told

Which event each phase allows is the table in ``state``; the rules the decisions follow live beside
this module: ``plan`` (what a response and a body mean), ``retry`` (attempts and waits),
``routing`` (URLs, credentials, redirects), ``mirrors``, ``split`` and ``naming``.

The invariant that matters most — no bytes reach the final name before their size and sha256 have
been checked — is one ``if`` in ``body_read``, and a property test drives random event sequences at
it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from aiotulip.download import plan
from aiotulip.download.http.policy import REDIRECTS, item_headers
from aiotulip.download.http.proxies import Proxy, proxy_refused, sends_credentials
from aiotulip.download.http.ranges import echo, range_value, resume_headers, validator_changed
from aiotulip.download.http.urls import redact
from aiotulip.download.item.mirrors import Mirrors
from aiotulip.download.item.naming import Disposition
from aiotulip.download.item.routing import Route
from aiotulip.download.item.split import SplitSteps
from aiotulip.download.item.state import EVENTS, PHASE_AFTER, ItemStateError, Phase
from aiotulip.download.item.steps import (
    INSPECT,
    READ_MEMORY,
    READ_SKIP,
    RECHECK,
    REMOVE_PART,
    STAT,
    Commit,
    Finish,
    OpenPart,
    Read,
    Request,
    Rules,
    Split,
    Step,
    Wait,
)
from aiotulip.download.models import Job, Result
from aiotulip.download.rate import Bucket, Floor
from aiotulip.download.retry import Attempts
from aiotulip.download.segments import Changed, Connection, Failed, Fetch, Retry, Segments, Span
from aiotulip.errors import (
    BusyError,
    FetchError,
    IntegrityError,
    ProtocolError,
    Timeout,
    TransportError,
)
from aiotulip.shared.units import format_bytes

__all__ = ["Item"]

_AFTER = PHASE_AFTER


class Item(SplitSteps):
    """The decisions of one download, from what is on disk to a Result."""

    __slots__ = (
        "_beside",
        "_bucket",
        "_busy_since",
        "_conditional",
        "_encoding",
        "_mirrors",
        "_naming",
        "_part_open",
        "_part_size",
        "_part_total",
        "_pending",
        "_phase",
        "_proxied",
        "_reason",
        "_route",
        "_stamp",
        "_stranger",
        "_unvalidated",
        "_validator",
        "_verified",
        "_version",
        "clock",
        "floor",
        "job",
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
        self.retry = Attempts(0, self.started + rules.item_timeout if rules.item_timeout else None)
        self._phase = Phase.START
        self._pending = False  # an attempt has begun and is not counted yet (nothing went out)
        self.offset = 0  # the byte of the file the next request asks from
        self.kept = 0  # bytes found in a .part and not downloaded again (the Report's resumed_from)
        self._validator: str | None = None  # ETag or Last-Modified the .part was begun with
        self._part_open = False
        self._part_size = 0
        self._part_total: int | None = None  # the file's size the .part was begun for, if said
        self._body: plan.Body | None = None
        self._verified: tuple[int, str] | None = None  # (size, sha256) of bytes that passed the checks
        self._route = Route(job, self.public.url)
        self._unvalidated = False  # resumed bytes no validator or checksum vouches for
        self._busy_since: float | None = None  # when another run was first found holding the part
        self._proxied: Proxy | None = None  # the proxy the last request went through
        self.name = job.name  # the final name (a Content-Disposition may change it)
        self._conditional: dict[str, str] | None = None  # -N: If-None-Match / If-Modified-Since
        self._encoding: str | None = None  # the body's Content-Encoding, as saved (not undone)
        self._reason: str | None = None  # why a skipped item was skipped, when not the usual
        self._stamp: tuple[float | None, str | None] = (None, None)  # Last-Modified, ETag
        self._no_split = False  # a split download found the server changing its mind: one stream
        # --limit-rate-per-file: this file's bucket (made here: a split download's threads share it)
        self._bucket = Bucket(rules.rate_per_file) if rules.rate_per_file is not None else None
        self._mirrors = Mirrors(1 + len(job.mirrors)) if job.mirrors else None
        self._spans = False  # this attempt's bytes came as a split download's spans
        self._segments_now: Segments | None = None  # ... these (what a Ctrl-C finds written)
        self._version: str | None = None  # the protocol of the last answer
        self._stranger = False  # a file tulip cannot vouch for holds the name: never written over
        self._beside = False  # ... and this URL's own file is beside it, numbered, from an earlier run
        self.floor: Floor | None = None  # -Y: this attempt's reader against the speed floor
        names = rules.disposition
        self._naming = Disposition(names, job.name, path, job.url) if names is not None else None

    # -- what the engines read ----------------------------------------------------------------------

    @property
    def attempts(self) -> int:
        """Attempts that reached the network so far."""
        return self.retry.made

    @property
    def deadline(self) -> float | None:
        """When the item must be over (the engine's clock), None without --item-timeout."""
        return self.retry.deadline

    @property
    def announced(self) -> int | None:
        """The file's size as the last response gave it (for a progress bar), None if unknown."""
        body = self._body
        return body.total if body is not None else None

    @property
    def url(self) -> str:
        """The URL of the last request (where redirects led), with no credentials in it."""
        return self._route.url

    @property
    def phase(self) -> Phase:
        return self._phase

    # -- events: each checks the phase allows it, decides, and moves to the phase of its step -------

    def _check(self, event: str) -> None:
        # Each event's allowed phases, looked up here (the table is EVENTS), a few hundred
        # nanoseconds: an item sees four or five events, ten thousand items a second.
        if self._phase not in EVENTS[event]:
            raise ItemStateError(f"{event}() while the item is in phase {self._phase.value!r}")

    def _to(self, step: Step) -> Step:
        self._phase = _AFTER[step.__class__]
        return step

    def begin(self) -> Step:
        """Return the first step, from what is on disk."""
        self._check("begin")
        return self._to(self._begin())

    def stat_final(self, mtime: float | None, etag: str | None) -> Step:
        """The complete file there was last modified at *mtime* and kept the server's *etag* (-N)."""
        self._check("stat_final")
        # The ETag where it can be trusted, the date beside it (a server that has no ETag for this
        # answer goes by the date). But with --compressed the ETag is the encoded variant's, and a
        # server may vary it (Apache's mod_deflate suffixes -gzip) yet never match it again: it then
        # ignores If-Modified-Since too (RFC 9110 13.1.3). The date alone, as curl -z and wget2 -N
        # send it, gets the 304 there.
        conditional: dict[str, str] = {}
        if not self.local.final_ours:
            # Anybody else's file: its date says nothing of its bytes (a 5-byte note newer than a
            # 200 KB file got a 304). Asked plainly, and kept only if of the server's size and date
            # (wget's -N compares both), else replaced: -N's promise.
            self._conditional = None
            return self._to(self._attempt(0))
        if etag and not (self.rules.decoders and mtime is not None):
            conditional["If-None-Match"] = echo(etag)
        if mtime is not None:
            from email.utils import formatdate

            conditional["If-Modified-Since"] = formatdate(mtime, usegmt=True)
        self._conditional = conditional or None
        return self._to(self._attempt(0))

    def inspected(self, size: int, sha256: str, others: tuple[tuple[str, str], ...] = ()) -> Step:
        """The final file already there has *size* bytes hashing to *sha256* (and to *others*, the
        other digests the input gives)."""
        self._check("inspected")
        if self._reason is not None:  # -N, or the server's size and date: the file there is its copy
            result = Result(self.public.url, self.path, "skipped", size, sha256, self.attempts)
            result.reason = self._reason
            return self._to(self._finish(result))
        if plan.final_matches(self.job, size, sha256, others):
            # A part beside a complete file is a leftover (a run killed as it began again): it goes.
            leftover = self.local.part_size is not None
            result = Result(self.public.url, self.path, "skipped", size, sha256)
            if self._beside:
                result.reason = f"already complete, beside {self.job.name}, which is not from this URL"
            return self._to(self._finish(result, leftover))
        rules = self.rules
        if rules.no_clobber:
            error = IntegrityError(
                f"{self.name} is there and is not the file the input describes (--no-clobber keeps it)",
                url=self.public.url, transient=False,
            )  # fmt: skip
            return self._to(self._fail(error))
        # Not the file wanted: downloaded afresh. The rename replaces tulip's own file (or, with
        # -N, whatever is there); anybody else's stays, and this one takes the next free name.
        self._stranger = not (self.local.final_ours or rules.timestamping)
        return self._to(REMOVE_PART)

    def part_removed(self) -> Step:
        """The .part is gone."""
        self._check("part_removed")
        self._part_open = False
        self._part_size = 0
        self._unvalidated = False
        return self._to(self._attempt(0))

    def part_opened(
        self,
        size: int,
        validator: str | None,
        split: tuple[int, list[tuple[int, int]]] | None = None,
        total: int | None = None,
    ) -> Step:
        """The .part is open holding *size* bytes (of the offset asked for), begun at *validator*
        for a file of *total* bytes (None: not known); *split*: it is a split download's (the
        file's size, the ranges done)."""
        self._check("part_opened")
        self._part_open = True
        self._part_size = self.offset = self.kept = size
        self._validator = validator
        self._part_total = total
        if split is not None:
            return self._to(self._resume_split(validator, *split))
        if size and validator is None and not self._vouched_by_input:
            # Nothing but a size (if that) says these bytes are this file's: a server without
            # validators may have changed it since, and the splice of two versions would pass.
            if self.job.size is None or not self.rules.resume_unvalidated:
                self.kept = 0
                return self._to(REMOVE_PART)  # the attempt starts again, from nothing
            self._unvalidated = True
        return self._to(self._request(first=True))

    def busy(self) -> Step:
        """Another run holds the part: wait for it (it will usually leave the file complete)."""
        self._check("busy")
        now = self.clock()
        if self._busy_since is None:
            self._busy_since = now
        waited = now - self._busy_since
        if waited > self.rules.busy_wait or self.retry.expired(now):
            error = BusyError(
                f"another tulip run is downloading this file (waited {waited:.0f} s)", url=self.public.url
            )
            self._count()
            result = plan.result_for_error(self.public, self.path, error, self.attempts, 0.0)
            return self._to(self._finish(result))
        self._pending = False  # nothing went out: this was no attempt (the Report counts requests)
        self._part_open = False
        return self._to(Wait(min(2.0, 0.2 + waited / 10), None))

    def rechecked(self, local: plan.Local) -> Step:
        """What is on disk now, after waiting for another run."""
        self._check("rechecked")
        self.local = local
        return self._to(self._begin())

    def response(self, status: int, headers: Mapping[str, str], version: str | None = None) -> Step:
        """The server answered the last Request with *status* and *headers* (over *version*: "1.1",
        "2", "3", or the scheme of an ftp or sftp answer, when the transport says)."""
        self._check("response")
        if version is not None:
            self._version = version
        return self._to(self._response(status, headers))

    def body_read(self, size: int, sha256: str, others: tuple[tuple[str, str], ...] = ()) -> Step:
        """What was read now makes a file of *size* bytes hashing to *sha256* (memory or .part),
        and to *others* (the other digests the input gives, by hashlib's names)."""
        self._check("body_read")
        return self._to(self._body_read(size, sha256, others))

    def split_ended(self, outcome: Changed | Failed | None, retries: int, received: int) -> Step:
        """The split download is over: complete (*outcome* None), or the file *Changed*, or a span
        *Failed*; *retries* span requests failed on the way; the .part holds *received* bytes."""
        self._check("split_ended")
        return self._to(self._split_ended(outcome, retries, received))

    def committed(self) -> Step:
        """The file is complete under its final name."""
        self._check("committed")
        assert self._verified is not None
        size, sha256 = self._verified
        result = Result(self.public.url, self.path, "ok", size, sha256, self.attempts, resumed_from=self.kept)
        if self._unvalidated:
            result.resumed_unvalidated = True
        if self._mirrors is not None and not (self.job.sha256 or self.job.checksums):
            result.unverified = self._mirrors.sources.joined()
        beside = self._naming.beside if self._naming is not None else None
        if beside is not None and self.name != beside:
            result.reason = f"{beside} was there, not from this URL: kept, and this saved beside it"
        result.content_encoding = self._encoding
        return self._to(self._finish(result))

    @property
    def version(self) -> str | None:
        return self._version

    def name_taken(self) -> Step:
        """The name is a file already there, not from this URL: the next name, if any."""
        self._check("name_taken")
        naming = self._naming
        if naming is None:  # a stranger's file under the URL's name: numbered, whatever --on-collision
            naming = self._naming = Disposition(None, self.job.name, self.path)
            self._stranger = True  # (one may also appear while the download ran: said the same way)
        try:
            naming.taken()
        except ValueError as exc:
            return self._to(self._fail(FetchError(str(exc), url=self.public.url)))
        self.name, self.path = naming.name, naming.path
        mtime, etag = self._stamp
        return self._to(Commit(self.name, mtime if self.rules.remote_time else None, etag, exclusive=True))

    def interrupted(self, held: int) -> Result:
        """The run stopped while this item was under way (in any phase: no check); its part keeps
        *held* bytes for the next run (a split download's: those its spans wrote, not the size of
        its sparse part)."""
        if self._spans and self._segments_now is not None:
            held = min(held, self._segments_now.received)
        return Result(
            self.public.url, self.path, "interrupted", held, attempts=self.attempts, error="interrupted",
            resumed_from=min(self.kept, held), elapsed=self.clock() - self.started, error_kind="interrupted",
        )  # fmt: skip

    def failed(self, error: FetchError, part_size: int | None = None) -> Step:
        """The last step failed with *error*; *part_size* is what the .part holds now, if it is open.

        Returns a Wait before the next attempt, or the Finish that gives up.
        """
        self._check("failed")
        return self._to(self._fail(error, part_size))

    def timed_out(self, part_size: int | None = None) -> Step:
        """The item's total deadline passed during the last step (the .part holds *part_size* bytes)."""
        self._check("timed_out")
        error = Timeout("item took longer than its total timeout", url=self.public.url)
        return self._to(self._fail(error, part_size))

    def waited(self) -> Step:
        """The wait before the next attempt is over."""
        self._check("waited")
        if self._busy_since is not None and not self._part_open:
            return self._to(RECHECK)  # waited for another run: see what it left
        return self._to(self._attempt(self._part_size if self._part_open else 0))

    # -- questions while a step is carried out (no phase changes) ----------------------------------

    def throttle(self, received: int, connection: Connection | None = None) -> float:
        """*received* bytes of the body just arrived (on a split download's *connection*): the
        seconds to wait before reading on (rate limits; every connection of a split download shares
        the file's). Raises TransportError once the reader is under ``-Y`` for ``-y`` seconds: the
        attempt (or the span, which another connection may then take) is retried."""
        rules = self.rules
        if rules.speed_limit is not None:
            holder = connection if connection is not None else self
            floor = holder.floor
            if floor is None:
                floor = holder.floor = Floor(rules.speed_limit, rules.speed_time, self.clock)
            if floor.too_slow(received):
                holder.floor = None  # (the next attempt is timed afresh)
                raise TransportError(
                    f"slower than {format_bytes(floor.rate)}/s for {floor.seconds:g} s (-Y/-y)",
                    url=self.public.url,
                )
        wait = rules.rate.take(received) if rules.rate is not None else 0.0
        if self._bucket is not None:
            wait = max(wait, self._bucket.take(received))
        return wait

    def segment_request(self, fetch: Fetch) -> Request:
        """The request for one span of a split download: to its URL (where redirects led), the
        range added."""
        self._check("segment_request")
        return self._segment_request(fetch)

    def segment_response(
        self, connection: Connection, status: int, headers: Mapping[str, str]
    ) -> Span | Retry | Changed | Failed | Request:
        """A span's request was answered: the span to read, a redirect's Request, or what else to do."""
        self._check("segment_response")
        return self._segment_response(connection, status, headers)

    # -- decisions ----------------------------------------------------------------------------------

    def _begin(self) -> Step:
        rules = self.rules
        start = plan.start(
            self.job, self.local, overwrite=rules.overwrite, no_clobber=rules.no_clobber,
            timestamping=rules.timestamping, replace_strangers=rules.replace_strangers,
        )  # fmt: skip
        self._stranger = start.stranger
        if start.name is not None and start.local is not None:
            self.local, self._beside = start.local, True
            base = self.name.rpartition("/")[2]
            self.name, self.path = (
                start.name,
                self.path[: len(self.path) - len(base)] + start.name.rpartition("/")[2],
            )
        if start.check_final:
            if self.rules.timestamping and self.job.sha256 is None and self._reason is None:
                return STAT  # -N: ask the server whether its copy is newer (a checksum needs no asking)
            return INSPECT
        if start.discard_part:
            return REMOVE_PART
        return self._attempt(start.offset)

    def _response(self, status: int, headers: Mapping[str, str]) -> Step:
        http = self.rules.http
        route = self._route
        if headers.get("Set-Cookie") is not None:
            http.absorb(route.url, headers)  # a redirect's cookies count too
        if status in REDIRECTS:
            location = headers.get("Location")
            if location:
                try:
                    route.url = http.redirect(route.url, location, route.hops)
                except FetchError as error:
                    return self._fail(error)
                route.hops += 1
                return self._request()
        elif status == 407 and self._proxied is not None:
            proxy = self._proxied
            refused = proxy_refused(
                proxy.address, 407, url=self.public.url, credentials=sends_credentials(proxy)
            )
            return self._fail(refused)
        if status == 304 and self._conditional is not None:
            self._reason = "not modified"
            return INSPECT  # hashed for the Report, as every skipped file is
        rules = self.rules
        decode, self._encoding = plan.content_coding(headers, rules.decoders, self.name)
        try:
            body = plan.interpret(status, headers, self.offset, self.public, decoded=decode is not None)
        except FetchError as error:
            return self._fail(error)
        if decode is not None and body.offset:
            self.kept = 0  # a range of the encoded bytes cannot be decoded on its own: start over
            return REMOVE_PART
        if (
            (self._stranger or not self.local.final_ours)
            and self.local.final_size is not None
            and not body.offset
            and decode is None
            and plan.same_as_server(self.local, body.total, plan.http_date(headers.get("Last-Modified")))
        ):
            # A file nobody vouched for, of the server's size and date: a finished download by
            # another run or tool (tulip, wget and curl -R keep the date). Not read again.
            self._reason = "the same size and date as the server's copy"
            return INSPECT
        if rules.max_filesize is not None and body.total is not None and body.total > rules.max_filesize:
            message = f"the server has {body.total} bytes, more than --max-filesize {rules.max_filesize}"
            return self._fail(IntegrityError(message, url=self.public.url, transient=False))
        naming = self._naming
        if naming is not None:  # (a resumed part's 206 names the file too)
            try:
                if naming.suggested(headers.get("Content-Disposition")):
                    self.name, self.path = naming.name, naming.path
            except ValueError as exc:
                return self._fail(FetchError(str(exc), url=self.public.url))
        if rules.remote_time or rules.timestamping:
            self._stamp = (plan.http_date(headers.get("Last-Modified")), headers.get("ETag"))
        self._body = body
        total = body.total
        if (
            status == 206
            and not self._part_open
            and decode is None
            and total is not None
            and self._splits(total)
            and (body.validator is not None or self._vouched_by_input)
        ):
            # (a 206 that will not say the file's size is read in one stream: nothing to cut it by;
            # nor one without a validator: spans asked at different times could be of two versions,
            # and only a validator — If-Range on every span — or the input's checksum tells)
            segments = self._segments(total, body.validator, ())
            self._part_open = True
            self._validator = body.validator
            self._spans = True
            self._segments_now = segments
            return Split(segments, fresh=True, first=segments.spans[0], source=self._current)
        if decode is not None:  # decoded bytes are streamed and counted whatever the encoded length
            if not self._part_open:
                self._part_open = True
                return Read(
                    "part", "open", until=self._until(body), decode=decode, max_ratio=self.rules.max_ratio
                )
            self._validator = None
            return Read(
                "part", "restart", until=self._until(body), decode=decode, max_ratio=self.rules.max_ratio
            )
        if body.stale or self._other_size(body):
            # The .part is not part of this file (or of this version of it: a file of another size
            # under the same validator, as an ETag made of the date alone allows): remove it, ask
            # again from the start.
            self.kept = 0
            self._forget_served()
            return REMOVE_PART
        if body.complete:
            return READ_SKIP
        if not self._part_open:
            if body.total is not None and body.total <= self.rules.small_body:
                return READ_MEMORY
            self._part_open = True
            self._validator, self._part_total = body.validator, body.total
            return Read("part", "open", body.validator, until=self._until(body), total=body.total)
        if body.offset != self.offset:  # the whole file came instead of the rest: start the .part over
            self.kept = 0
            self._validator, self._part_total = body.validator, body.total
            return Read("part", "restart", body.validator, until=self._until(body), total=body.total)
        if validator_changed(self._validator, headers):
            # The range of another version (a server that ignored If-Range): the .part cannot be
            # continued with it; it starts over.
            self.kept = 0
            self._forget_served()
            return REMOVE_PART
        if body.validator:
            self._validator = body.validator
        if self._part_total is None and body.total is not None:  # (a part begun empty: its first answer)
            self._part_total = body.total
            return Read("part", "keep", until=self._until(body), total=body.total)
        return Read("part", "keep", until=self._until(body))

    def _body_read(self, size: int, sha256: str, others: tuple[tuple[str, str], ...] = ()) -> Step:
        body = self._body
        assert body is not None
        if self._part_open:
            self._part_size = size
        try:
            plan.check_body(self.public, body, size, sha256, self.rules.max_filesize, others)
        except FetchError as error:
            return self._fail(error)
        self._verified = (size, sha256)
        if self._mirrors is not None and not self._spans:
            self._mirrors.served(size - body.offset)
        mtime, etag = self._stamp
        # Never over a file that appeared since the look at the disk (another program, a user): only
        # --overwrite writes over whatever is there, and so do -N and -o (replace_strangers) over the
        # file they found; this URL's own earlier file is replaced anyway.
        rules = self.rules
        replaces = rules.timestamping or rules.replace_strangers
        exclusive = not (rules.overwrite or (replaces and self.local.final_size is not None))
        return Commit(self.name, mtime if rules.remote_time else None, etag, exclusive)

    def _fail(self, error: FetchError, part_size: int | None = None) -> Step:
        self._count()  # an attempt that fails on its way out counts (it was tried)
        self.rules.halt.note(error)
        self.retry = self.retry.failed(error)
        if part_size is not None and self._part_open:
            self._part_size = part_size
        delay = self.retry.next_wait(self.rules.policy, error, self.clock())
        if self._mirrors is not None:
            delay = self._mirrors.after(error, delay, self.rules.policy)
        # Bytes proved wrong, or from a response the policy rejected: nothing of them may stay.
        wrong = isinstance(error, IntegrityError | ProtocolError)
        if delay is None:
            # An empty .part helps no one; one whose bytes proved wrong would mislead a resume.
            result = plan.result_for_error(self.public, self.path, error, self.attempts, 0.0)
            if self.rules.stream:  # out on the stream already: the reader has them, nothing to remove
                result.bytes = self._streamed()
                return self._finish(result)
            remove = self._part_open and (self._part_size == 0 or wrong)
            return self._finish(result, remove)
        if self.rules.stream and self._part_open and self._part_size and (wrong or self._unvouched()):
            # Out on the stream already, and the next attempt would have to start over: the error
            # that made it so ends the item, in its own words.
            result = plan.result_for_error(self.public, self.path, error, self.attempts, 0.0)
            result.bytes = self._streamed()
            return self._finish(result)
        if wrong and self._part_open:  # wrong bytes: nothing of this .part can be trusted
            self._part_size = self.kept = 0
            self._unvalidated = False
            self._forget_served()
            return Wait(delay, error, restart_part=True)
        if self._part_open and self._part_size and self._validator is None and not self._vouched_by_input:
            # The next attempt would ask for the rest with nothing to say it is the same file (no
            # If-Range): a server that changed it meanwhile would have two versions spliced. The
            # rule of a part found on disk holds within a run too.
            if self.job.size is None or not self.rules.resume_unvalidated:
                self._part_size = self.kept = 0
                self._forget_served()
                return Wait(delay, error, restart_part=True)
            self._unvalidated = True
        return Wait(delay, error)

    def _streamed(self) -> int:
        """The bytes a stream's reader has: what came, up to --max-filesize (the stream stops there)."""
        if not self._part_open:
            return 0
        limit = self.rules.max_filesize
        return self._part_size if limit is None else min(self._part_size, limit)

    def _unvouched(self) -> bool:
        """Whether a resume of the part would have nothing to say it is the same file."""
        return (
            self._validator is None
            and not self._vouched_by_input
            and (self.job.size is None or not self.rules.resume_unvalidated)
        )

    @property
    def _vouched_by_input(self) -> bool:
        """A checksum from the input will judge the whole file, however it was joined."""
        return self.job.sha256 is not None or bool(self.job.checksums)

    def _attempt(self, offset: int) -> Step:
        self._pending = True
        self.floor = None  # (each attempt's reader is timed from its own start)
        self.offset = offset
        self._spans = False
        self._verified = None
        if offset and not self._part_open:
            return OpenPart(offset)
        return self._request(first=True)

    def _count(self) -> None:
        """The attempt begun goes to the network (or failed on its way): it counts, once."""
        if self._pending:
            self._pending = False
            self.retry = self.retry.sent()

    def _request(self, *, first: bool = False) -> Step:
        """The request for the current URL (the job's own when *first*: each attempt starts there)."""
        mirrors = self._mirrors
        source = mirrors.current if mirrors is not None else 0
        route = self._route
        if first:
            self._count()
            try:
                route.begin(source)
            except FetchError as error:
                return self._fail(error)
        credentials, same = route.credentials(source)
        try:
            headers, proxy = self.rules.http.request(
                route.url,
                origin_credentials=credentials,
                same_origin=same,
                given=self.job.given and not source,
            )
        except FetchError as error:  # a proxy the environment names that cannot be used
            return self._fail(error)
        if self.job.headers:  # the item's own header= lines (sources.py), over the run's
            trusted = self.rules.http.trusts(same_origin=same, given=self.job.given and not source)
            headers = item_headers(headers, self.job.headers, trusted=trusted)
        if self.offset:
            headers = {**headers, **resume_headers(self.offset, self._validator)}
        elif self._conditional is not None:
            headers = {**headers, **self._conditional}
        elif self._splits(self.job.size):
            headers = {**headers, "Range": range_value(0)}  # a 206 proves ranges work: a split may follow
        if self.rules.decoders:
            headers = {**headers, "Accept-Encoding": ", ".join(self.rules.decoders)}
        self._proxied = proxy
        return Request(route.url, headers, proxy)

    @property
    def _current(self) -> int:
        """The URL the single stream asks this attempt (0: the job's own; then its mirrors)."""
        mirrors = self._mirrors
        return mirrors.current if mirrors is not None else 0

    def _forget_served(self) -> None:
        if self._mirrors is not None:
            self._mirrors.forget_served()

    def _other_size(self, body: plan.Body) -> bool:
        """Whether an answer to a resume (or a 416) may be of another version than the .part: a file
        of another size than it was begun for, whatever the validator says — or one whose size was
        never said (a chunked first answer, a part of an earlier tulip), where nothing but the
        validator would tell, and a validator made of the date alone does not."""
        if not (self._part_open and self.offset > 0 and body.offset == self.offset):
            return False
        if self._vouched_by_input:  # the input's checksum judges the whole, however it was joined
            return False
        known = self._part_total if self._part_total is not None else self.job.size
        if known is None:
            return True
        return body.total is not None and body.total != known

    def _until(self, body: plan.Body) -> int | None:
        until = self.job.size if self.job.size is not None else body.total
        limit = self.rules.max_filesize
        return limit if until is None or (limit is not None and limit < until) else until

    def _finish(self, result: Result, remove_part: bool = False) -> Finish:
        result.elapsed = self.clock() - self.started
        if self._beside and result.reason is None:
            # (said, and so the Report, which keeps a path other than the job's only with a reason
            # or a server's name, keeps this one: the download was reported under the other's name)
            result.reason = f"beside {self.job.name}, which is not from this URL"
        result.http_version = self._version
        if self._mirrors is not None:
            result.sources = self._mirrors.report(
                [self.public.url, *(redact(url) for url in self.job.mirrors)]
            )
        return Finish(result, remove_part)
