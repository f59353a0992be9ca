"""The asyncio engine's default transport: one aiohttp ClientSession for the whole run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp

from tulip._fetch.transports import BASE_HEADERS, TransportOptions
from tulip.errors import FetchError, Timeout, TransportError

__all__ = ["AiohttpTransport"]


class _Response:
    __slots__ = ("_content", "headers", "status", "url")

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self.status = response.status
        self.headers = response.headers
        self._content = response.content
        self.url = url

    async def read(self, n: int) -> bytes:
        try:
            return await self._content.read(n)
        except BaseException as exc:
            raise _translate(exc, self.url) from exc


class AiohttpTransport:
    """GET through aiohttp with connection limits, timeouts and no decompression."""

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
                total=None, sock_connect=options.connect_timeout, sock_read=options.read_timeout
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # a downloader keeps no cookies; and skips their cost
            headers=BASE_HEADERS,
            skip_auto_headers=("Accept-Encoding",),
            trust_env=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def get(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[_Response]:
        assert self._session is not None, "use the transport inside 'async with'"
        try:
            async with self._session.get(
                url, headers=headers, max_redirects=self.options.max_redirects
            ) as response:
                yield _Response(response, url)
        except FetchError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise _translate(exc, url) from exc


def _translate(exc: BaseException, url: str) -> BaseException:
    """Return the tulip error for an aiohttp failure (or *exc* itself if it is not one)."""
    if isinstance(exc, FetchError | asyncio.CancelledError):
        return exc
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return Timeout("timed out waiting for the server", url=url)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return FetchError("too many redirects", url=url)
    if isinstance(exc, aiohttp.NonHttpUrlRedirectClientError | aiohttp.InvalidUrlRedirectClientError):
        return FetchError(f"redirected to an unsupported URL: {exc}", url=url)
    if isinstance(exc, aiohttp.InvalidURL):
        return FetchError(f"invalid URL: {exc}", url=url)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return TransportError(f"body cut short: {_reason(exc)}", url=url)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return TransportError("server closed the connection", url=url)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(f"cannot connect: {exc.os_error.strerror or exc.os_error}", url=url)
    if isinstance(exc, aiohttp.ClientResponseError):
        return TransportError(f"bad response: {exc.message}", url=url)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return TransportError(_reason(exc) or type(exc).__name__, url=url)
    return exc


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
