"""The HTTP policy: what every request of a run carries, and where redirects may lead. No I/O.

Every engine and transport gets its requests from here (through the Item), which is what makes a
header, a credential, a cookie or a proxy behave the same whichever engine runs:

- headers: ``User-Agent``, ``Accept-Encoding: identity`` (bodies are saved exactly as served, and a
  hostile server's gzip bomb is never inflated), then ``--header`` lines, which may replace either;
- credentials (see ``auth``) as Basic, to the origin they were given for;
- the run's cookies (see ``cookies``);
- the proxy for the URL (see ``proxies``);
- redirects: 301, 302, 303, 307 and 308 with a Location, relative or absolute, at most
  ``max_redirects`` in a row; only to http, https, ftp and ftps (curl's defaults).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urljoin, urlsplit

from aiotulip._version import __version__
from aiotulip.download.http.auth import Credentials, Netrc, basic
from aiotulip.download.http.cookies import Jar
from aiotulip.download.http.proxies import Proxy, Routes
from aiotulip.download.http.urls import normalise, redact, split_userinfo
from aiotulip.errors import RedirectError

__all__ = ["REDIRECTS", "USER_AGENT", "HttpPolicy", "item_headers"]

USER_AGENT = f"tulip/{__version__}"
REDIRECTS = frozenset({301, 302, 303, 307, 308})

# Of the -H headers only those replacing tulip's own two follow a redirect to another origin (or go
# to a manifest's or a mirror's host): the rest stay on the origins the user named, as an API key
# must not reach a CDN or a stranger (curl's --location-trusted lets them all go).
_TRAVELS = frozenset({"user-agent", "accept-encoding"})


class HttpPolicy:
    """The request side of HTTP for one run."""

    def __init__(
        self,
        *,
        headers: Iterable[tuple[str, str]] = (),
        user_agent: str | None = None,
        auth: Credentials | None = None,
        netrc: Netrc | None = None,
        cookies: Jar | None = None,
        routes: Routes | None = None,
        max_redirects: int = 20,
        location_trusted: bool = False,
    ) -> None:
        base: dict[str, str] = {"User-Agent": user_agent or USER_AGENT, "Accept-Encoding": "identity"}
        custom: dict[str, str] = {}
        for name, value in headers:
            # A --header with a name tulip sets replaces tulip's (curl's rule); an empty value drops it.
            for key in [key for key in base if key.lower() == name.lower()]:
                del base[key]
            if value:
                custom[name] = value
        self.base = {**base, **custom}
        self._public = {name: value for name, value in self.base.items() if name.lower() in _TRAVELS}
        self._sets_authorization = any(name.lower() == "authorization" for name in custom)
        self.auth = auth
        self.netrc = netrc
        self.cookies = cookies
        self.routes = routes or Routes(proxy="")
        self.max_redirects = max_redirects
        self.location_trusted = location_trusted  # curl's --location-trusted: -u and -H follow redirects

    def request(
        self, url: str, *, origin_credentials: Credentials | None, same_origin: bool, given: bool = True
    ) -> tuple[Mapping[str, str], Proxy | None]:
        """Return the headers and the proxy of a GET for *url*.

        *origin_credentials* came with the URL the item started from; *same_origin* says whether *url*
        is still on that origin (a redirect may have left it); *given* whether the user gave that URL
        (a manifest's entry on another host is not trusted with --user or -H headers). Off the origin
        only a netrc entry for that very host applies, never the file's ``default``.
        """
        trusted = self.trusts(same_origin=same_origin, given=given)
        headers: Mapping[str, str] = self.base if trusted else self._public
        credentials = None
        if not self._sets_authorization or not trusted:
            if same_origin or self.location_trusted:
                credentials = origin_credentials or (self.auth if given else None)
            if credentials is None and self.netrc is not None:
                credentials = self.netrc.lookup(url, default=same_origin and given)
        cookie = self.cookies.header(url) if self.cookies is not None else None
        if credentials is not None or cookie is not None:
            headers = dict(headers)
            if credentials is not None:
                headers["Authorization"] = basic(credentials)
            if cookie is not None:
                headers["Cookie"] = cookie
        return headers, self.routes.route(url)

    def trusts(self, *, same_origin: bool, given: bool) -> bool:
        """Whether a request gets the run's -H headers and --user: a URL the user gave, on its
        origin (anywhere a redirect leads, with --location-trusted)."""
        return given and (same_origin or self.location_trusted)

    def redirect(self, url: str, location: str, hops: int) -> str:
        """Return where a redirect from *url* to *location* leads; raise RedirectError if it may not."""
        if hops >= self.max_redirects:
            raise RedirectError(f"too many redirects ({self.max_redirects})", url=redact(url))
        try:
            # A server may send UTF-8 in Location; the wire reader decoded it as Latin-1.
            location = location.strip().encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            location = location.strip()
        try:
            # Credentials a redirect names are never used (nor sent in a Host header).
            target = normalise(split_userinfo(urljoin(url, location))[0])
            urlsplit(target).port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:
            raise RedirectError(f"redirected to a URL that cannot be used: {exc}", url=redact(url)) from None
        scheme = target.partition(":")[0].lower()
        if scheme not in ("http", "https", "ftp", "ftps"):  # (curl's default redirect protocols)
            raise RedirectError(
                f"redirected to an unsupported URL: {redact(target)[:200]}", url=redact(url)
            )  # fmt: skip
        return target

    def absorb(self, url: str, headers: Mapping[str, str]) -> None:
        """Take what a response to *url* says that later requests must carry (its cookies)."""
        if self.cookies is not None:
            self.cookies.absorb(url, headers)


def item_headers(
    headers: Mapping[str, str], extra: Iterable[tuple[str, str]], *, trusted: bool
) -> Mapping[str, str]:
    """Return *headers* with one item's own (an -i file's ``header=`` lines) over them: a name given
    replaces the run's, an empty value drops it (curl's rule for -H). Where the request is not
    *trusted* (HttpPolicy.trusts) only those the run's -H would send there too."""
    merged = dict(headers)
    for name, value in extra:
        folded = name.lower()
        if folded not in _TRAVELS and not trusted:
            continue
        for key in [key for key in merged if key.lower() == folded]:
            del merged[key]
        if value:
            merged[name] = value
    return merged
