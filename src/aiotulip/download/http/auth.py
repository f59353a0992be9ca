"""Credentials: from the URL, from ``--user``, from ``~/.netrc``; sent as Basic, to one origin only.

Precedence, as curl has it: an explicit ``Authorization`` header wins; then credentials in the URL;
then ``--user``; then the netrc entry for the host. Credentials belong to the origin they were given
for: a redirect to another scheme, host or port drops them (the netrc is asked again for the new host,
which is what it is for).
"""

from __future__ import annotations

import base64
import netrc
import os
import threading
from dataclasses import dataclass, field

from aiotulip.errors import UsageError

__all__ = ["Credentials", "Netrc", "basic", "parse_user"]


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str
    password: str = field(repr=False)


def basic(credentials: Credentials) -> str:
    """Return the value of an Authorization (or Proxy-Authorization) header for Basic auth."""
    token = f"{credentials.user}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def parse_user(text: str) -> Credentials:
    """Return the credentials of a ``USER:PASSWORD`` option (curl's ``--user``)."""
    user, colon, password = text.partition(":")
    if not colon or not user:
        raise UsageError("--user takes USER:PASSWORD")
    return Credentials(user, password)


class Netrc:
    """Entries of a netrc file, read once and only when a host without other credentials asks."""

    def __init__(self, path: str | None = None, *, required: bool = False) -> None:
        self.path = path or os.path.join(os.path.expanduser("~"), ".netrc")
        self._required = required
        self._entries: netrc.netrc | None = None
        self._loaded = False
        self._lock = threading.Lock()

    def check(self) -> None:
        """Read the file now: a file named on the command line that cannot be read is a usage error."""
        self._load()

    def lookup(self, url: str, *, default: bool = True) -> Credentials | None:
        """Return the credentials the file gives for *url*'s host, if any (its ``default`` entry
        too, unless *default* is False)."""
        entries = self._entries if self._loaded else self._load()
        if entries is None:
            return None
        from aiotulip.download.http.urls import origin

        host = origin(url).host
        found = entries.authenticators(host) if default else entries.hosts.get(host)
        if found is None:
            return None
        login, _account, password = found
        return Credentials(login or "", password or "")

    def _load(self) -> netrc.netrc | None:
        with self._lock:
            if not self._loaded:
                self._loaded = True
                try:
                    self._entries = netrc.netrc(self.path)
                except FileNotFoundError:
                    if self._required:
                        raise UsageError(f"cannot read netrc file {self.path}: no such file") from None
                except (UnicodeDecodeError, netrc.NetrcParseError, OSError) as exc:
                    if self._required:
                        raise UsageError(f"cannot read netrc file {self.path}: {_trouble(exc)}") from None
            return self._entries


def _trouble(exc: Exception) -> str:
    """What is wrong with a netrc file, in words that hold nothing of it: the parser's own quote
    the token it stopped at (maybe a password); a file that is not UTF-8 made a traceback."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, netrc.NetrcParseError):
        return f"not in netrc's form (line {exc.lineno})"
    return str(getattr(exc, "strerror", None) or exc)
