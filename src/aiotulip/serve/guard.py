"""Who may call the admin (``/__admin/*``) and control (``/_tulip/*``) APIs, and what they may send.

They change how the server answers, so they are for this machine's tests:

- the client's address is loopback (or inside an ``--admin-allow`` CIDR);
- the ``Host`` header names this server: ``localhost``, ``127.0.0.1``, ``[::1]``, ``--host`` or the
  address the connection came in on, with the server's port. A web page that rebinds its own name
  to 127.0.0.1 (DNS rebinding) sends its own name, and is refused;
- an ``Origin`` header, when a browser sends one, names this server too: a page elsewhere cannot
  make a browser ``POST /__admin/reset`` behind its user's back (cross-site request forgery);
- a JSON body is at most 1 MiB, and on ``/__admin/*``, from a browser (a request with ``Origin``,
  ``Referer`` or ``Sec-Fetch-*``), says ``Content-Type: application/json`` (a browser sends that
  cross-site only after a preflight, which tulip never grants). curl and scripts, which send none of
  those, may send it as a form's type: WireMock's own examples are ``curl -d '{...}'``. ``/_tulip/*``
  takes JSON whatever its type says, as it always has (``curl -X PUT -d`` sends a form's type): its
  writes are PUT and DELETE, which no browser sends cross-site without that preflight either.

Every refusal is one line: 403 for who, 413 and 415 for what, 400 for JSON that does not parse.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["MAX_BODY", "Guard", "continue_body", "read_json"]

# (a typed key where aiohttp has them, which warns of plain strings; older ones take the string)
_CONTINUED: Any = web.RequestKey("tulip.continued", bool) if hasattr(web, "RequestKey") else "tulip.continued"


async def continue_body(request: web.BaseRequest) -> None:
    """Say ``100 Continue`` to a client that waits for it (``Expect: 100-continue``) before its body
    is read: aiohttp's low-level server leaves this to the handler, and curl waits a second for it.
    Once a request; not before a refusal (a handler refusing first never calls this)."""
    if request.headers.get("Expect", "").lower() == "100-continue" and not request.get(_CONTINUED):
        request[_CONTINUED] = True
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


MAX_BODY = 1024 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Guard:
    """The checks every admin and control request passes before its handler runs."""

    def __init__(self, host: str = "127.0.0.1", allow: Iterable[str] = ()) -> None:
        self.host = host.strip("[]").lower()
        self.allow: list[Network] = [ipaddress.ip_network(cidr, strict=False) for cidr in allow]

    def refusal(self, request: web.BaseRequest) -> web.Response | None:
        """Return the 403 for a request that may not use these APIs, or None."""
        if not self.client_allowed(request.remote):
            return _forbidden("the admin and control APIs answer loopback clients only (see --admin-allow)")
        port, local = _local(request)
        if not self._names_us(request.headers.get("Host", ""), port, local):
            return _forbidden("the Host header does not name this server (DNS rebinding is refused)")
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_is_us(origin, port, local):
            return _forbidden("a request from another origin may not use the admin and control APIs")
        return None

    def client_allowed(self, remote: str | None) -> bool:
        try:
            address = ipaddress.ip_address((remote or "").split("%")[0])
        except ValueError:
            return False
        # On a dual-stack socket (--host ::) an IPv4 client appears as ::ffff:127.0.0.1.
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        return address.is_loopback or any(address in network for network in self.allow)

    def _names_us(self, host: str, port: int | None, local: str) -> bool:
        name, given_port = _split_host(host)
        if name is None:
            return False
        if given_port is None:
            given_port = 80  # no port in Host: the default, which a test server rarely listens on
            if port == 443:
                given_port = 443
        if port is not None and given_port != port:
            return False
        return name in _LOOPBACK_NAMES or name == self.host or name == local

    def _origin_is_us(self, origin: str, port: int | None, local: str) -> bool:
        try:
            parts = urlsplit(origin)
            origin_port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        return self._names_us(f"[{parts.hostname}]:{origin_port}" if ":" in parts.hostname else
                              f"{parts.hostname}:{origin_port}", port, local)  # fmt: skip


def _local(request: web.BaseRequest) -> tuple[int | None, str]:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not sockname:
        return None, ""
    address = str(sockname[0]).split("%")[0].lower()
    if address.startswith("::ffff:"):
        address = address[7:]
    return int(sockname[1]), address


def _split_host(host: str) -> tuple[str | None, int | None]:
    """Return the name and port a Host header gives (None, None when it is not one)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None, None
        port_text = rest[1:]
    elif host.count(":") > 1:
        return None, None  # an IPv6 address without brackets is no Host
    else:
        name, _, port_text = host.partition(":")
    if not name:
        return None, None
    if not port_text:
        return name, None
    if not port_text.isdigit() or len(port_text) > 5:
        return None, None
    return name, int(port_text)


def _forbidden(text: str) -> web.Response:
    return web.Response(status=403, text=text + "\n")


_BROWSER_HEADERS = ("Origin", "Referer", "Sec-Fetch-Site", "Sec-Fetch-Mode")


def _from_a_browser(request: web.BaseRequest) -> bool:
    """Whether *request* shows a browser's marks (every browser now sends Origin with a POST)."""
    return any(name in request.headers for name in _BROWSER_HEADERS)


async def read_json(request: web.BaseRequest, *, strict_type: bool, empty: Any = None) -> Any:
    """Return the JSON body of *request*, or *empty* when it has none; raise HTTPException (one line)
    for a body too large, of another Content-Type, or not JSON."""
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise _too_large(length)
    await continue_body(request)
    # To its end: one read returns what has come so far (a body's first 600 KB, or its first bytes
    # from a client that paused), and the rest was refused as "not JSON".
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_BODY + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large(size, known=False)  # (read no further: a chunked body says no size)
    data = b"".join(chunks)
    if not data.strip():
        return empty
    media = request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if strict_type and media != "application/json" and _from_a_browser(request):
        raise web.HTTPUnsupportedMediaType(
            text=f"a body must be Content-Type: application/json, not {media or 'none'}\n"
        )
    try:
        parsed = json.loads(data)
        # A lone surrogate (\ud800) parses, and then no answer that holds it can be encoded: a 500.
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise web.HTTPBadRequest(
            text="not JSON: a lone surrogate (\\ud800-\\udfff) is no character\n"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f"not JSON: {' '.join(str(exc).split())}\n") from None
    except RecursionError:  # JSON nested deeper than any setting or mapping needs
        raise web.HTTPBadRequest(text="JSON nested too deep\n") from None
    return parsed


def _too_large(size: int, known: bool = True) -> web.HTTPRequestEntityTooLarge:
    """*known*: *size* is the body's (its Content-Length), not how far it was read before refused."""
    said = str(size) if known else f"more than {MAX_BODY}"
    return web.HTTPRequestEntityTooLarge(
        max_size=MAX_BODY, actual_size=size, text=f"a body of at most {MAX_BODY} bytes, not {said}\n"
    )
