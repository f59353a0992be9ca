"""An upstream URL and how its TLS is checked, decided before anything starts (no aiohttp here: the
configuration is checked where the command line is read, and a bad URL is one line and exit 2)."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from yarl import URL

from aiotulip.errors import UsageError

__all__ = ["check_upstream", "upstream_context"]

_USERINFO = re.compile(r"//[^/?#]*@")


def check_upstream(url: str) -> URL:
    """Return *url* parsed, or raise UsageError unless it is an http(s) URL with a host.

    Credentials are refused first, and no message shows them: they would be printed and never sent.
    """
    shown = _USERINFO.sub("//***@", url)
    if shown != url:
        raise UsageError("upstream URL must not carry credentials: the client's Authorization goes through")
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"bad upstream URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"upstream must be an http:// or https:// URL with a host, not {url!r}")
    if parsed.query_string or parsed.fragment:
        raise UsageError(f"upstream URL must not have a query or fragment: {url!r}")
    try:
        port = parsed.port
    except ValueError:
        port = None
    if any(char.isspace() for char in url) or port is None:
        raise UsageError(f"bad upstream URL {url!r}")
    try:
        parsed.host.encode("idna")  # (an empty label: every request would have been a 500)
    except UnicodeError:
        raise UsageError(f"bad upstream URL {url!r}: not a valid host name") from None
    return parsed


def upstream_context(ca_file: Path | None, insecure: bool) -> ssl.SSLContext | bool:
    """How an https upstream is checked: the system's CAs (True), plus *ca_file*, or not (False)."""
    if insecure:
        return False
    if ca_file is None:
        return True
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(
            f"--upstream-ca {ca_file} holds no CA certificate: {getattr(exc, 'reason', None) or exc}"
        ) from None
    context.load_default_certs()
    return context
