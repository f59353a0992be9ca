"""Which proxy a URL goes through, decided without I/O, as curl and wget decide it.

``--proxy URL`` sends everything through one proxy; otherwise the environment speaks:
``http_proxy``, ``https_proxy``, ``all_proxy`` (either case, lower case first, as curl reads them),
unless ``--no-proxy`` or ``no_proxy`` lists the host (a suffix match; ``*`` for every host).
``--no-proxy '*'`` turns proxies off. ``http://`` and ``https://`` proxies get a plain request for an
http URL and a CONNECT tunnel for the rest; ``socks4://``, ``socks4a://``, ``socks5://`` and
``socks5h://`` (the proxy resolves the name) carry any URL (the curl transport speaks those).
Credentials in the proxy URL (or ``--proxy-user``) go only to the proxy.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiotulip.download.http.auth import Credentials, basic
from aiotulip.download.http.urls import redact, split_userinfo
from aiotulip.errors import ProxyError, UsageError

__all__ = ["SCHEMES", "Proxy", "Routes", "proxy_refused", "sends_credentials"]

_URL_SCHEMES = ("http", "https", "ftp", "ftps", "sftp")  # the URLs a proxy may carry


SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
_PORTS = {"http": 80, "https": 443}  # (curl's defaults; a SOCKS proxy's is 1080)


@dataclass(frozen=True, slots=True)
class Proxy:
    """A forward proxy: where to connect, and what to tell it (Proxy-Authorization)."""

    host: str
    port: int
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # hashable: part of a pool key
    scheme: str = "http"

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    @property
    def speaks_http(self) -> bool:
        """Whether it is an http:// proxy (the one kind every transport speaks to)."""
        return self.scheme == "http"


def parse_proxy(text: str, credentials: Credentials | None = None, where: str = "--proxy") -> Proxy:
    """Return the Proxy an option or environment variable names; raise UsageError if it cannot be used."""
    if "://" not in text:
        text = "http://" + text  # curl's default for a bare host:port
    shown = redact(text)
    try:
        bare, user, password = split_userinfo(text)
        parts = urlsplit(bare)
        scheme = parts.scheme.lower()
        port = parts.port or _PORTS.get(scheme, 1080)
    except ValueError:
        raise UsageError(f"{where}: cannot use {shown!r} as a proxy URL") from None
    if scheme not in SCHEMES:
        raise UsageError(f"{where}: {parts.scheme}:// is not a proxy tulip speaks to ({', '.join(SCHEMES)})")
    if not parts.hostname:
        raise UsageError(f"{where}: no host in {shown!r}")
    if parts.hostname.isdigit():
        # "4" is an address to libcurl (0.0.0.4): here it is a count typed where aria2c's -x (its
        # connections per server) would take one.
        raise UsageError(
            f"{where}: {parts.hostname!r} is not a proxy host (for connections per file: --split N)"
        )
    if user is not None:
        credentials = Credentials(user, password or "")
    headers = (("Proxy-Authorization", basic(credentials)),) if credentials is not None else ()
    return Proxy(parts.hostname, port, headers, scheme)


class Routes:
    """Answers "through which proxy?" for every URL of a run."""

    def __init__(
        self,
        proxy: str | None = None,
        no_proxy: str | None = None,
        *,
        credentials: Credentials | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._by_scheme: dict[str, Proxy | None] = {}
        self._unusable: dict[str, str] = {}  # scheme -> why the environment's proxy cannot be used
        if proxy is not None:
            chosen = parse_proxy(proxy, credentials) if proxy else None
            self._by_scheme = dict.fromkeys(_URL_SCHEMES, chosen)
        else:
            every = _env(env, "all_proxy")
            for scheme in _URL_SCHEMES:
                # curl ignores the upper-case HTTP_PROXY (a CGI script's client sets it); so do we.
                own = _env(env, f"{scheme}_proxy", upper=scheme != "http")
                if own or every:
                    where = f"${scheme}_proxy" if own else "$all_proxy"
                    try:
                        self._by_scheme[scheme] = parse_proxy(own or every or "", credentials, where=where)
                    except UsageError as exc:
                        # The environment may name a proxy for URLs this run has none of: its items
                        # fail (never going round it), the others go on.
                        self._unusable[scheme] = str(exc)
        listed = no_proxy if no_proxy is not None else _env(env, "no_proxy")
        self._skip = [_NoProxy.parse(entry) for entry in (listed or "").split(",") if entry.strip()]
        skip_all = any(entry.name == "*" for entry in self._skip)
        self.active = (any(self._by_scheme.values()) or bool(self._unusable)) and not skip_all

    def route(self, url: str) -> Proxy | None:
        """Return the proxy for *url*, or None to connect directly."""
        if not self.active:
            return None
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        proxy = self._by_scheme.get(scheme)
        if proxy is None and scheme not in self._unusable:
            return None
        host = (parts.hostname or "").lower()
        if any(entry.matches(host, parts.port) for entry in self._skip):
            return None
        if proxy is None:
            raise ProxyError(self._unusable[scheme], url=redact(url), transient=False)
        return proxy


@dataclass(frozen=True, slots=True)
class _NoProxy:
    """One ``no_proxy`` entry: a host or domain suffix, a network, an IP, each with an optional port."""

    name: str
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> _NoProxy:
        entry = entry.strip().lower()
        port: int | None = None
        if entry.startswith("["):  # [::1] or [::1]:8080
            host, _, tail = entry[1:].partition("]")
            if tail.startswith(":") and tail[1:].isdigit():
                port = int(tail[1:])
            return cls(host, port)
        head, colon, tail = entry.rpartition(":")
        if colon and tail.isdigit() and ":" not in head:  # host:port (a bare IPv6 address has more)
            entry, port = head, int(tail)
        name = entry.lstrip(".")
        if not name.isascii():
            with contextlib.suppress(UnicodeError):
                name = name.encode("idna").decode("ascii")  # as the URL's host goes on the wire
        return cls(name, port)

    def matches(self, host: str, port: int | None) -> bool:
        if self.port is not None and port is not None and port != self.port:
            return False
        name = self.name
        return host == name or host.endswith("." + name) or _in_network(host, name)


def _env(env: Mapping[str, str], name: str, *, upper: bool = True) -> str | None:
    value = env.get(name)
    if value is None and upper:
        value = env.get(name.upper())
    return value or None


def _in_network(host: str, entry: str) -> bool:
    if "/" not in entry:
        return False
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def proxy_refused(address: str, status: int, *, url: str, credentials: bool) -> ProxyError:
    """A proxy's own refusal, in the same words from every transport and never retried (as curl
    does not: asking the same proxy again gets the same answer). A 407 says whether credentials
    were sent: none (give some), or the wrong ones."""
    where = f"the proxy {address}".rstrip()
    if status == 407 and credentials:
        why = f"{where} refused the credentials given (HTTP 407): check --proxy-user or the proxy URL"
    elif status == 407:
        why = f"{where} needs credentials (HTTP 407): put them in the proxy URL or use --proxy-user"
    else:
        why = f"{where} refused the tunnel (HTTP {status})"
    return ProxyError(why, url=url, transient=False)


def sends_credentials(proxy: Proxy | None) -> bool:
    """Whether *proxy* is given credentials (a Proxy-Authorization header)."""
    return proxy is not None and any(name.lower() == "proxy-authorization" for name, _value in proxy.headers)
