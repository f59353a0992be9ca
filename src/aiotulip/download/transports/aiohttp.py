"""``--transport aiohttp``: one aiohttp ClientSession for the whole run.

aiohttp sends exactly the request the Item decided: no redirects of its own, no cookies of its own,
no decompression, no environment proxies (the policy has chosen the proxy already), the run's
SSLContext. Its failures are mapped onto the words every transport uses (``_errors``).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from aiotulip.download.http.proxies import Proxy, proxy_refused, sends_credentials
from aiotulip.download.transports import TransportOptions
from aiotulip.download.transports._errors import builtin_only, connect_error, read_timeout, tls_error
from aiotulip.errors import FetchError, ProtocolError, TransportError

__all__ = ["AiohttpTransport"]


class _Response:
    __slots__ = ("_content", "_left", "headers", "http_version", "status", "url")

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self.status = response.status
        version = response.version
        self.http_version = f"{version.major}.{version.minor}" if version is not None else None
        headers: Mapping[str, str] = response.headers
        if not all(value.isascii() for value in headers.values()):
            # As tulip's own reader gives them: Latin-1 text, a character a byte (aiohttp's are UTF-8
            # with surrogate escapes), so both transports hand the Item the same names and validators.
            headers = CIMultiDict(
                (name, value.encode("utf-8", "surrogateescape").decode("latin-1"))
                for name, value in headers.items()
            )
        self.headers = headers
        self._content = response.content
        self.url = url
        self._left = response.content_length  # announced bytes not yet read

    async def read(self, n: int) -> bytes:
        if self._left == 0:
            return b""
        try:
            chunk = await self._content.read(n)
        except aiohttp.ClientResponseError as exc:
            # Bytes past the Content-Length in the same packet make aiohttp's parser fail the body it
            # had already received whole. The wire reader keeps the announced bytes and drops the
            # connection; so do we, from the stream's buffer, when all of them are there.
            rest = _buffered(self._content)
            if self._left is None or rest is None or len(rest) != self._left:
                raise _translate(exc, self.url, None) from exc
            chunk = rest
        except BaseException as exc:
            raise _translate(exc, self.url, None) from exc
        if self._left is not None:
            self._left -= len(chunk)
        return chunk


class AiohttpTransport:
    """GET through aiohttp with connection limits, timeouts, and nothing done behind the Item's back."""

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpTransport:
        options = self.options
        connector = aiohttp.TCPConnector(
            limit=options.concurrency,
            limit_per_host=options.per_host or 0,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=options.connect_timeout,  # a proxy's CONNECT too, not only the socket
                sock_connect=options.connect_timeout,
                sock_read=options.read_timeout,
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # the policy keeps the run's cookies
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
            trust_env=False,
            # The wire reader's limits, so a server with long headers is read alike (aiohttp's own are 8 KB).
            max_line_size=65536,
            max_field_size=65536,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def get(
        self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None
    ) -> AsyncIterator[_Response]:
        assert self._session is not None, "use the transport inside 'async with'"
        builtin_only(url, proxy, "aiohttp")
        https = url[:6].lower() == "https:"
        if not all(value.isascii() for value in headers.values()):
            # aiohttp sends strict UTF-8: a validator echoed with bytes that are not UTF-8 cannot
            # go, and without it the server simply sends the whole file.
            headers = {name: value for name, value in headers.items() if _utf8(value)}
        if proxy is not None and proxy.headers and not https:
            # A plain request through a proxy carries the proxy's credentials itself (aiohttp puts
            # proxy_headers on a CONNECT only).
            headers = {**headers, **dict(proxy.headers)}
        try:
            async with self._session.get(
                URL(url, encoded=True),  # as the policy wrote it: no second normalising by yarl
                headers=headers,
                allow_redirects=False,
                proxy=proxy.url if proxy is not None else None,
                proxy_headers=dict(proxy.headers) if proxy is not None and proxy.headers else None,
                ssl=self.options.tls.context() if https else True,
            ) as response:
                yield _Response(response, url)
        except FetchError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise _translate(exc, url, proxy) from exc


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _translate(exc: BaseException, url: str, proxy: Proxy | None) -> BaseException:
    """Return the tulip error for an aiohttp failure (or *exc* itself if it is not one)."""
    if isinstance(exc, FetchError | asyncio.CancelledError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        certificate = exc.certificate_error
        if isinstance(certificate, ssl.SSLError):
            return tls_error(certificate, url=url)
        return tls_error(ssl.SSLCertVerificationError(str(certificate)), url=url)
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return tls_error(exc.os_error if isinstance(exc.os_error, ssl.SSLError) else ssl.SSLError(), url=url)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return connect_error(exc.os_error, exc.host, exc.port or 0, url=url, proxy=True)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        address = proxy.address if proxy is not None else ""
        return proxy_refused(address, exc.status, url=url, credentials=sends_credentials(proxy))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return connect_error(exc.os_error, exc.host, exc.port or 0, url=url)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return read_timeout(url)
    if isinstance(exc, aiohttp.InvalidURL):
        return FetchError(f"invalid URL: {exc}", url=url)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return TransportError(_cut_short(exc), url=url)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return TransportError("server closed the connection", url=url)
    if isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp's parser (llhttp, as httptools) refusing a response: the same class as the wire reader.
        return ProtocolError(f"bad response: {_parser_words(str(exc.message))}", url=url)
    if isinstance(exc, aiohttp.ClientOSError):
        host = urlsplit(url).hostname or ""
        return connect_error(exc, host, urlsplit(url).port or 0, url=url)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return TransportError(_reason(exc) or type(exc).__name__, url=url)
    return exc


def _buffered(content: object) -> bytes | None:
    """Return the bytes an aiohttp StreamReader holds (None if its layout is not the one known)."""
    buffer = getattr(content, "_buffer", None)
    offset = getattr(content, "_buffer_offset", None)
    if buffer is None or not isinstance(offset, int):
        return None
    data = b"".join(buffer)[offset:]
    buffer.clear()
    content._buffer_offset = 0  # type: ignore[attr-defined]  # aiohttp's private buffer: see above
    return data


# aiohttp's words for a body that ended early, in the wire reader's and libcurl's (the same words
# whatever the transport: scripts match on them).
_RECEIVED = re.compile(r"received (\d+) of (\d+) bytes")


def _cut_short(exc: aiohttp.ClientPayloadError) -> str:
    found = _RECEIVED.search(str(exc))
    if found:
        return f"connection closed after {found[1]} of {found[2]} bytes"
    return "server closed the connection"


def _parser_words(message: str) -> str:
    """llhttp's message without the dump of the bytes it quotes (a multi-line picture with a caret):
    its first words, as the wire reader gives them ('Bad status line:' leads to the real reason)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].lower().startswith("bad status line"):
        lines = lines[1:]
    first = lines[0] if lines else "unreadable"
    return first.rstrip(":")[:200]


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
