"""URLs as they go on the wire and as they are shown: normalised, stripped of credentials, redacted.

A URL a user types may hold a non-ASCII host (``http://例え.jp/``), non-ASCII or spaces in its path
and query (``/café.txt``), and credentials (``http://alice:secret@host/``). On the wire the host goes
in IDNA, the path and query percent-encoded as UTF-8 (escapes already there are kept), and the
credentials become an Authorization header; in every output they are ``***``.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Origin", "normalise", "origin", "redact", "split_userinfo", "with_userinfo"]

# Printable ASCII with nothing that needs encoding: such a URL is used as it is (the usual case, and
# the cheap one: yarl costs microseconds a URL, a million URLs would pay seconds).
_PLAIN = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


def normalise(url: str) -> str:
    """Return *url* as it goes on the wire: IDNA host, UTF-8 percent-encoded path and query."""
    if _PLAIN.fullmatch(url) and not _BAD_ESCAPE.search(url):
        return url
    import yarl  # aiohttp's URL library: only URLs that need it pay for its import

    try:
        return str(yarl.URL(url))
    except (ValueError, UnicodeError) as exc:
        raise ValueError(f"cannot encode URL: {exc}") from None


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """Return (*url* without user:password, user, password), both decoded; (url, None, None) if none."""
    if "@" not in url:
        return url, None, None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    from urllib.parse import unquote

    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username or "")
    password = unquote(parts.password) if parts.password is not None else None
    return bare, user, password


def with_userinfo(url: str, user: str, password: str | None) -> str:
    """Return *url* (which has none) carrying *user* and *password* again, escaped."""
    from urllib.parse import quote

    scheme, _, rest = url.partition("://")
    info = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
    return f"{scheme}://{info}@{rest}"


_PORT_THEN_PATH = re.compile(r"\d*(?:[/?#]|$)")
_HOST_PORT = re.compile(r"(?:\[[^\]]*\]|[^:\[\]]*)(?::\d*)?")  # host, [v6] or either with a port


def redact(url: str) -> str:
    """Return *url* with its credentials shown as ``***`` (``http://***@host/x``): what every output
    shows. The user too: a user is as often a token as a name (``https://TOKEN@host/``,
    ``TOKEN:x-oauth-basic@``, an API key with an empty password), and curl blanks a ``-u`` whole.

    Careful rather than exact: a password a user typed with ``/``, ``?`` or ``#`` in it (which the
    URL grammar does not allow, and parsers read as the start of a path) is hidden all the same."""
    if "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    first_stop = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    if "@" in rest[:first_stop]:  # the usual case: user[:password]@host before the path
        userinfo, _, host = rest[:first_stop].rpartition("@")
        if ":" not in userinfo or _HOST_PORT.fullmatch(host) or "@" not in rest[first_stop:]:
            return f"{scheme}://***@{host}{rest[first_stop:]}"
        # No host where one should be (p@ss:w/rd@host: a password with "@" and "/" in it, which
        # the parsers cut at the "/"): hidden to the last "@", as below.
        return f"{scheme}://***@{rest[rest.rfind('@') + 1 :]}"
    if rest.startswith("["):
        return url  # an IPv6 address first: no user before it, the "@" is in the path or query
    at = rest.rfind("@")
    colon = rest.find(":", 0, at)
    if colon == -1 or colon > first_stop or _PORT_THEN_PATH.match(rest, colon + 1):
        return url  # an "@" in the path or the query, not credentials
    # A password with "/", "?" or "#" in it: hidden to the last "@", whatever the parsers make of it.
    return f"{scheme}://***@{rest[at + 1 :]}"


_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 990, "sftp": 22}


def origin(url: str) -> Origin:
    """Return the (scheme, host, port) a URL's credentials and cookies belong to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return Origin(scheme, (parts.hostname or "").lower(), parts.port or _PORTS.get(scheme, 80))
