"""Where an item's requests go: the job's URL and its mirrors, each with its own credentials (sent to
their own origin only), and where redirects have led the request in flight. No I/O, no decision
about retries: the Item asks, this answers.
"""

from __future__ import annotations

import contextlib

from aiotulip.download.http.auth import Credentials
from aiotulip.download.http.urls import normalise, origin, split_userinfo
from aiotulip.download.models import Job
from aiotulip.errors import FetchError

__all__ = ["Route"]

Origin = tuple[str, str, int]


class Route:
    """The URLs of one job (number 0: its own; 1, 2, ...: its mirrors) and the request in flight."""

    __slots__ = ("_credentials", "_job", "_mirrors", "_origin", "_public", "_start", "hops", "url")

    def __init__(self, job: Job, public_url: str) -> None:
        self._job = job
        self._public = public_url  # the URL as outputs show it (its password as ***)
        self._start: str | None = None  # the job's URL as it goes on the wire (set on first use)
        self._credentials: Credentials | None = None  # from the job's URL, for its origin only
        self._origin: Origin | None = None  # where the credentials of the request in flight belong
        self._mirrors: dict[int, tuple[str, Credentials | None]] = {}  # index -> (URL now, credentials)
        self.url = ""  # the URL of the request in flight (redirects move it)
        self.hops = 0  # redirects followed in this attempt

    def start_url(self) -> str:
        """Return the job's URL as it goes on the wire, its credentials kept apart for its origin;
        raise FetchError if it cannot be requested."""
        if self._start is None:
            url, user, password = split_userinfo(self._job.url)
            if user is not None:
                self._credentials = Credentials(user, password or "")
            try:
                self._start = normalise(url)
            except ValueError as exc:
                raise FetchError(f"invalid URL: {exc}", url=self._public) from None
        return self._start

    def begin(self, source: int) -> str:
        """Begin an attempt at URL number *source*, from that URL itself (not where it led last time)."""
        if source:
            self._mirrors.pop(source, None)
            start = self.of(source, source)[0]
        else:
            start = self.start_url()
        self.url, self.hops, self._origin = start, 0, None
        return start

    def ready(self) -> None:
        """Make the job's URL the one in flight unless one is already (a split download resumed)."""
        if self._start is None:
            self.url = self.start_url()

    def credentials(self, source: int) -> tuple[Credentials | None, bool]:
        """Return the credentials of URL number *source* and whether the request in flight is still
        at their origin (a redirect may have left it)."""
        credentials = self._credentials if not source else self.of(source, source)[1]
        if not self.hops:
            return credentials, True
        if self._origin is None:
            start = self._start if not source else self.of(source, source)[0]
            self._origin = origin(start or self.url)
        return credentials, origin(self.url) == self._origin

    def of(self, source: int, current: int) -> tuple[str, Credentials | None]:
        """Where requests to URL number *source* go now, with its credentials (None once a redirect
        left its origin); *current* is the URL the single stream asks this attempt."""
        if source == 0:
            if current or not self.url:  # a mirror has this attempt's stream: from the start
                try:
                    return self.start_url(), self._credentials
                except FetchError:
                    return self._job.url, None  # (its request fails, and the URL is dropped)
            return self.url, self._credentials if self.at_origin(self.url) else None
        found = self._mirrors.get(source)
        if found is None:
            url, user, password = split_userinfo(self._job.mirrors[source - 1])
            with contextlib.suppress(ValueError):  # else sent as given: it fails, the mirror with it
                url = normalise(url)
            found = self._mirrors[source] = (
                url,
                Credentials(user, password or "") if user is not None else None,
            )
        return found

    def at_origin(self, url: str) -> bool:
        """Whether *url* is at the origin the job's credentials were given for (as far as known)."""
        return self._origin is None or origin(url) == self._origin

    def moved(self, source: int, url: str, to: str, credentials: Credentials | None) -> None:
        """A split download's request to *url* (URL number *source*) was redirected *to*."""
        if source == 0:
            if self._origin is None:
                self._origin = origin(url)
            self.url = to
        else:
            self._mirrors[source] = (to, credentials if origin(to) == origin(url) else None)
