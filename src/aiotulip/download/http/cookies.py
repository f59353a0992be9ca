"""A cookie jar for the run: cookies a response sets (a redirect's included) go back to that site.

``http.cookiejar`` does the rules (domains, paths, expiry, Secure); this adapts it to the headers the
Item sees, since the jar wants urllib's Request and response objects. ``--load-cookies FILE`` reads
the Netscape format that curl (``-c``) and wget (``--save-cookies``) write.

A run that never meets a cookie pays nothing: with an empty jar, a request asks nothing of it, and a
response without Set-Cookie is not looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiotulip.errors import UsageError

__all__ = ["Jar"]


class _Request:
    """The little of urllib.request.Request that CookieJar reads and writes."""

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        self.full_url = url
        self._parts = urlsplit(url)
        self.cookie: str | None = None
        self.unverifiable = False

    def get_full_url(self) -> str:
        return self.full_url

    def get_host(self) -> str:
        return self._parts.netloc.rpartition("@")[2]

    def get_type(self) -> str:
        return self._parts.scheme

    @property
    def type(self) -> str:
        return self._parts.scheme

    @property
    def host(self) -> str:
        return self.get_host()

    @property
    def origin_req_host(self) -> str:
        return (self._parts.hostname or "").lower()

    def is_unverifiable(self) -> bool:
        return False

    def has_header(self, name: str) -> bool:
        return name.lower() == "cookie" and self.cookie is not None

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return self.cookie if name.lower() == "cookie" and self.cookie is not None else default

    def header_items(self) -> list[tuple[str, str]]:
        return [("Cookie", self.cookie)] if self.cookie is not None else []

    def add_unredirected_header(self, name: str, value: str) -> None:
        if name.lower() == "cookie":
            self.cookie = value


class _Response:
    def __init__(self, set_cookies: list[str]) -> None:
        from email.message import Message

        self._message = Message()
        for value in set_cookies:
            self._message["Set-Cookie"] = value

    def info(self) -> Any:
        return self._message


class Jar:
    """The run's cookies (thread-safe: CookieJar holds its own lock)."""

    def __init__(self, load: str | None = None) -> None:
        self._jar: Any = None  # an http.cookiejar.CookieJar, made when the first cookie comes
        self._empty = True
        if load is not None:
            self._jar = _load(load)
            self._empty = len(self._jar) == 0

    def header(self, url: str) -> str | None:
        """Return the Cookie header for a request to *url*, or None."""
        if self._empty:
            return None
        request = _Request(url)
        self._jar.add_cookie_header(request)
        return request.cookie

    def absorb(self, url: str, headers: Mapping[str, str]) -> None:
        """Keep the cookies a response to *url* sets."""
        values = _set_cookies(headers)
        if not values:
            return
        if self._jar is None:
            import http.cookiejar

            self._jar = http.cookiejar.CookieJar(_policy())
        self._jar.extract_cookies(_Response(values), _Request(url))
        self._empty = False


def _load(path: str) -> Any:
    """Read a Netscape cookies file as curl and wget write it (an http.cookiejar.CookieJar)."""
    import http.cookiejar
    import os
    import tempfile

    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        if "=" in path and not os.path.lexists(path):
            # curl's -b also takes a NAME=VALUE string: the value is a secret, never echoed
            raise UsageError("-b takes a cookies file here, and that is none (a NAME=VALUE string, "
                             "as curl takes it, goes in -H 'Cookie: NAME=VALUE')") from None  # fmt: skip
        raise UsageError(f"cannot load cookies from {path}: {exc.strerror or exc}") from None
    fixed = []
    for number, line in enumerate(lines, 1):
        bare = line.removeprefix("#HttpOnly_")
        if not bare.strip() or (bare.lstrip().startswith(("#", "$")) and bare is line):
            fixed.append(line)
            continue
        fields = bare.split("\t")
        if len(fields) != 7 or not fields[4].lstrip("-").isdigit():
            # Said without the line: it holds a cookie's value.
            raise UsageError(f"cannot load cookies from {path}: line {number} is not a Netscape cookie line")
        # Browsers' exports say TRUE (subdomains too) beside a host without its leading dot, and
        # FALSE beside one with it; http.cookiejar asserts the two agree: the dot follows the flag.
        if fields[1].upper() == "TRUE" and not fields[0].startswith("."):
            fields[0] = "." + fields[0]
        elif fields[1].upper() == "FALSE" and fields[0].startswith("."):
            fields[0] = fields[0].lstrip(".")
        fields[1] = fields[1].upper()
        if fields[4] == "0":  # curl's session cookie; http.cookiejar would read 0 as 1970
            fields[4] = ""
        if "." not in fields[0] and ":" not in fields[0]:
            # http.cookiejar files a dotless host (localhost) under "localhost.local", as RFC 2965
            # asked: so must its cookies be, or they are never sent back.
            fields[0] += ".local"
        prefix = line[: len(line) - len(bare)]
        fixed.append(prefix + "\t".join(fields))
    if not fixed or "HTTP Cookie File" not in fixed[0]:
        fixed.insert(0, "# Netscape HTTP Cookie File")
    handle, temp = tempfile.mkstemp(prefix="tulip-cookies-", suffix=".txt")
    try:
        with os.fdopen(handle, "w") as f:
            f.write("\n".join(fixed) + "\n")
        jar = http.cookiejar.MozillaCookieJar(temp, policy=_policy())
        jar.load(ignore_discard=True, ignore_expires=False)
    except (OSError, http.cookiejar.LoadError, ValueError, AssertionError):
        raise UsageError(f"cannot load cookies from {path}: not a Netscape cookies file") from None
    finally:
        os.unlink(temp)
    return jar


def _set_cookies(headers: Mapping[str, str]) -> list[str]:
    value = headers.get("Set-Cookie")
    if value is None:
        return []
    getall = getattr(headers, "getall", None)  # a multidict (a factory's transport's) keeps them apart
    if getall is not None:
        return list(getall("Set-Cookie"))
    # The wire reader joins repeated Set-Cookie fields with a newline (a comma sits inside Expires).
    return [part for part in value.split("\n") if part]


def _policy() -> Any:
    """http.cookiejar's rules, with RFC 6265's for IP addresses: a cookie set by an IP address (or
    for one) belongs to that very address, never to others that share a "domain" suffix (a cookie
    set by 127.0.0.1 with Domain=0.1 is not sent to 127.5.0.1)."""
    import http.cookiejar
    import ipaddress

    def is_ip(host: str) -> bool:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return True

    class Policy(http.cookiejar.DefaultCookiePolicy):
        def set_ok_domain(self, cookie: Any, request: Any) -> bool:
            host = request.origin_req_host
            if (is_ip(host) or is_ip(cookie.domain.lstrip("."))) and cookie.domain.lstrip(".") != host:
                return False
            return bool(super().set_ok_domain(cookie, request))

        def return_ok_domain(self, cookie: Any, request: Any) -> bool:
            host = request.origin_req_host
            if (is_ip(host) or is_ip(cookie.domain.lstrip("."))) and cookie.domain.lstrip(".") != host:
                return False
            return bool(super().return_ok_domain(cookie, request))

        def domain_return_ok(self, domain: str, request: Any) -> bool:
            host = request.origin_req_host
            if is_ip(host) and domain.lstrip(".") != host:
                return False
            return bool(super().domain_return_ok(domain, request))

    return Policy()
