"""The Item's steps for a split download (``--split``): when a file is split, the requests of its
spans, their answers, and what the end of the connections means for the item.

``segments`` decides which spans exist and who fetches which; this is the glue between those
decisions and the item's own (its URLs, attempts, the .part). A mixin of ``Item``: the methods use the
item's state, declared below, and are its events while its phase is SPLIT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiotulip.download import plan
from aiotulip.download.http.policy import REDIRECTS, item_headers
from aiotulip.download.item.mirrors import Mirrors
from aiotulip.download.item.routing import Route
from aiotulip.download.item.steps import HASH_PART, REMOVE_PART, Request, Rules, Split, Step
from aiotulip.download.models import Job, Result
from aiotulip.download.retry import Attempts
from aiotulip.download.segments import Changed, Connection, Failed, Fetch, Retry, Segments, Span
from aiotulip.errors import FetchError

__all__ = ["SplitSteps"]


class SplitSteps:
    """What an Item does for a split download (see ``machine.Item`` for the state it shares)."""

    # The Item's state these steps change (slots here, so that the Item keeps no __dict__) ...
    __slots__ = ("_body", "_no_split", "_segments_now", "_spans", "kept", "retry")
    kept: int
    retry: Attempts
    _no_split: bool
    _spans: bool
    _segments_now: Segments | None
    _body: plan.Body | None

    # ... and what they read.
    job: Job
    public: Job
    path: str
    rules: Rules
    clock: Callable[[], float]
    _route: Route
    _mirrors: Mirrors | None

    def _fail(self, error: FetchError, part_size: int | None = None) -> Step:
        raise NotImplementedError

    def _finish(self, result: Result, remove_part: bool = False) -> Step:
        raise NotImplementedError

    def _forget_served(self) -> None:
        raise NotImplementedError

    def _count(self) -> None:
        raise NotImplementedError

    @property
    def _current(self) -> int:
        raise NotImplementedError

    # -- when a file is split ---------------------------------------------------------------------

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
            done=done, sources=self._mirrors.sources if self._mirrors else None, source=self._current,
            clock=self.clock,
        )  # fmt: skip

    def _resume_split(self, validator: str | None, total: int, done: list[tuple[int, int]]) -> Step:
        """Go on with a split download's .part: the spans not done yet, each from where it stopped."""
        job = self.job
        if (job.size is not None and total != job.size) or (validator is None and job.sha256 is None):
            # Another file's, or bytes nothing can vouch for now: the .part starts over.
            self.kept = 0
            return REMOVE_PART
        segments = self._segments(total, validator, done)
        self.kept = segments.received
        self._body = plan.Body(0, total, validator)
        try:
            self._route.ready()
        except FetchError as error:
            return self._fail(error)
        self._spans = True
        self._count()
        if segments.complete:
            return HASH_PART
        self._segments_now = segments
        return Split(segments, fresh=False)

    # -- the spans' requests and answers (questions asked while the phase is SPLIT) ----------------

    def _segment_request(self, fetch: Fetch) -> Request:
        route = self._route
        url, credentials = route.of(fetch.source, self._current)
        same = fetch.source != 0 or route.at_origin(url)
        headers, proxy = self.rules.http.request(
            url, origin_credentials=credentials, same_origin=same, given=self.job.given and fetch.source == 0
        )
        if self.job.headers:  # the item's own header= lines, on every span as on its first request
            trusted = self.rules.http.trusts(same_origin=same, given=self.job.given and not fetch.source)
            headers = item_headers(headers, self.job.headers, trusted=trusted)
        return Request(url, {**headers, **fetch.headers}, proxy)

    def _segment_response(
        self, connection: Connection, status: int, headers: Mapping[str, str]
    ) -> Span | Retry | Changed | Failed | Request:
        http = self.rules.http
        source = connection.source or 0
        url, credentials = self._route.of(source, self._current)
        if headers.get("Set-Cookie") is not None:
            http.absorb(url, headers)
        if status in REDIRECTS and (location := headers.get("Location")):
            try:
                moved = http.redirect(url, location, connection.hops)
            except FetchError as error:
                return connection.failed(error)
            connection.hops += 1
            self._route.moved(source, url, moved, credentials)
            return self._segment_request(connection.fetch())
        return connection.response(status, headers)

    # -- the end of the connections -----------------------------------------------------------------

    def _split_ended(self, outcome: Changed | Failed | None, retries: int, received: int) -> Step:
        self.retry = self.retry.spans(retries)
        if outcome is None:
            return HASH_PART
        if isinstance(outcome, Changed):
            self._no_split = True  # once is enough: the next attempt takes the file in one stream
            self.kept = 0
            self._forget_served()
            return REMOVE_PART
        self.rules.halt.note(outcome.error)  # (a span that met a full disk: the run starts no more)
        result = plan.result_for_error(self.public, self.path, outcome.error, self.retry.made, 0.0)
        return self._finish(result, remove_part=received == 0)
