"""MockTransport: canned responses instead of sockets, for tests of every engine.

Give it a function from request to response (as httpx's MockTransport takes one), or a mapping of
URL to one response or to a list of them, consumed in order (the last one repeats)::

    mock = MockTransport({
        "http://h/a.bin": [MockResponse(503, {"Retry-After": "0"}), MockResponse(200, body=b"data")],
        "http://h/b.bin": MockResponse(error=TransportError("cannot connect: refused")),
    })
    report = aiotulip.fetch(["http://h/a.bin", "http://h/b.bin"], "out", transport=mock)
    mock.requests  # every request sent, in order: url and headers

Bodies can come in chunks, be cut short by an error after the chunks (``body_error``), or wait
(``delay``) before answering. The same object serves the blocking and the asyncio engines.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from aiotulip.download.http.proxies import Proxy
from aiotulip.download.transports import TransportOptions

__all__ = ["MockRequest", "MockResponse", "MockTransport"]


@dataclass(frozen=True, slots=True)
class MockRequest:
    url: str
    headers: Mapping[str, str]
    proxy: Proxy | None = None


@dataclass(frozen=True, slots=True)
class MockResponse:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Sequence[bytes] = b""
    error: Exception | None = None  # raised instead of answering
    body_error: Exception | None = None  # raised once the body chunks are read
    delay: float = 0.0  # seconds before the answer (or the error)

    def chunks(self) -> list[bytes]:
        return [self.body] if isinstance(self.body, bytes) else list(self.body)


Handler = Callable[[MockRequest], MockResponse]


class _Body:
    __slots__ = ("_chunks", "_error", "headers", "status")

    def __init__(self, response: MockResponse) -> None:
        self.status = response.status
        self.headers = _headers(response.headers)
        self._chunks = [chunk for chunk in response.chunks() if chunk]
        self._error = response.body_error

    def take(self, n: int) -> bytes:
        if not self._chunks:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return b""
        chunk = self._chunks[0]
        if len(chunk) > n:
            self._chunks[0] = chunk[n:]
            return chunk[:n]
        self._chunks.pop(0)
        return chunk


class _SyncResponse(_Body):
    def read(self, n: int) -> bytes:
        return self.take(n)


class _AsyncResponse(_Body):
    async def read(self, n: int) -> bytes:
        return self.take(n)


class MockTransport:
    """A TransportFactory whose transports answer from *handler* (a function or a URL mapping)."""

    def __init__(self, handler: Handler | Mapping[str, MockResponse | Sequence[MockResponse]]) -> None:
        self.requests: list[MockRequest] = []
        self._lock = threading.Lock()
        if callable(handler):
            self._handler: Handler = handler
        else:
            queues = {url: [r] if isinstance(r, MockResponse) else list(r) for url, r in handler.items()}
            self._handler = lambda request: _next(queues, request.url)

    def answer(self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None) -> MockResponse:
        request = MockRequest(url, dict(headers), proxy)
        with self._lock:
            self.requests.append(request)
            return self._handler(request)

    # -- the TransportFactory interface -----------------------------------------------------------

    def open_sync(self, options: TransportOptions) -> _SyncSide:
        return _SyncSide(self)

    def open_async(self, options: TransportOptions) -> _AsyncSide:
        return _AsyncSide(self)


class _SyncSide:
    def __init__(self, mock: MockTransport) -> None:
        self.mock = mock

    def __enter__(self) -> _SyncSide:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    @contextmanager
    def get(
        self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None, deadline: float | None = None
    ) -> Iterator[_SyncResponse]:
        response = self.mock.answer(url, headers, proxy)
        if response.delay:
            time.sleep(response.delay)
        if response.error is not None:
            raise response.error
        yield _SyncResponse(response)


class _AsyncSide:
    def __init__(self, mock: MockTransport) -> None:
        self.mock = mock

    async def __aenter__(self) -> _AsyncSide:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    @asynccontextmanager
    async def get(
        self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None
    ) -> AsyncIterator[_AsyncResponse]:
        response = self.mock.answer(url, headers, proxy)
        if response.delay:
            await asyncio.sleep(response.delay)
        if response.error is not None:
            raise response.error
        yield _AsyncResponse(response)


def _next(queues: dict[str, list[MockResponse]], url: str) -> MockResponse:
    queue = queues.get(url)
    if not queue:
        return MockResponse(404)
    return queue.pop(0) if len(queue) > 1 else queue[0]


def _headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    return _Caseless({name.lower(): value for name, value in headers.items()})


class _Caseless(dict[str, str]):
    """Headers looked up whatever the case of the name, like every real transport's."""

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]  # dict.get, case-insensitive
        return dict.get(self, key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key.lower() if isinstance(key, str) else key)
