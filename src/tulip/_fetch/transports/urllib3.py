"""The threads and sequential engines' transport: one urllib3 PoolManager shared by the threads."""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)

from tulip._fetch.transports import BASE_HEADERS, TransportOptions
from tulip.errors import FetchError, Timeout, TransportError

__all__ = ["Urllib3Transport"]


class _Response:
    __slots__ = ("_response", "headers", "status", "url")

    def __init__(self, response: urllib3.BaseHTTPResponse, url: str) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers
        self.url = url

    def read(self, n: int) -> bytes:
        try:
            return self._response.read1(n, decode_content=False)
        except BaseException as exc:
            raise _translate(exc, self.url) from exc


class Urllib3Transport:
    """GET through a pooled, thread-safe urllib3 client: keep-alive, timeouts, no decompression."""

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self._pool: urllib3.PoolManager | None = None

    def __enter__(self) -> Urllib3Transport:
        per_pool = self.options.per_host or self.options.concurrency
        self._pool = urllib3.PoolManager(
            num_pools=64,
            maxsize=per_pool,
            block=self.options.per_host is not None,  # a per-host limit waits for a free connection
            timeout=urllib3.Timeout(connect=self.options.connect_timeout, read=self.options.read_timeout),
            retries=urllib3.Retry(
                total=None, connect=0, read=0, status=0, other=0, redirect=self.options.max_redirects
            ),
            headers=BASE_HEADERS,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.clear()
            self._pool = None

    @contextmanager
    def get(self, url: str, headers: Mapping[str, str]) -> Iterator[_Response]:
        assert self._pool is not None, "use the transport inside 'with'"
        try:
            # A short body is judged by the engine (plan.check_body), as for every transport, so that
            # all engines report it in the same words and resume it the same way.
            response = self._pool.request(
                "GET", url, headers={**BASE_HEADERS, **headers}, preload_content=False, decode_content=False,
                enforce_content_length=False,
            )  # fmt: skip
        except BaseException as exc:
            raise _translate(exc, url) from exc
        try:
            yield _Response(response, url)
        finally:
            # Read what is left so the connection can be reused; a broken one is dropped instead.
            with contextlib.suppress(Exception):  # whatever went wrong, this connection is done
                response.drain_conn()
            response.release_conn()


def _translate(exc: BaseException, url: str) -> BaseException:
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, MaxRetryError):
        reason = exc.reason
        if isinstance(reason, ResponseError) or reason is None:
            return FetchError("too many redirects", url=url)
        return _translate(reason, url)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | TimeoutError):
        return Timeout("timed out waiting for the server", url=url)
    if isinstance(exc, NewConnectionError):
        return TransportError(f"cannot connect: {_reason(exc)}", url=url)
    if isinstance(exc, ProtocolError):
        return TransportError(f"body cut short: {_reason(exc)}", url=url)
    if isinstance(exc, urllib3.exceptions.LocationValueError):
        return FetchError(f"invalid URL: {exc}", url=url)
    if isinstance(exc, HTTPError | OSError | http.client.HTTPException):
        # http.client's own complaints (too many headers, a bad status line) reach us unwrapped.
        return TransportError(f"bad response: {_reason(exc)}", url=url)
    return exc


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
