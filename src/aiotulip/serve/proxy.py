"""Proxy mode: tulip serve in front of any HTTP server, its seeded faults on the real answers.

``tulip serve --upstream http://127.0.0.1:8080`` forwards every request but ``/_tulip/...``,
``/__admin/...`` and those its stubs answer to the upstream, as a reverse proxy does (nginx's
``proxy_pass``): hop-by-hop headers dropped, ``Host`` the upstream's, ``X-Forwarded-*`` added,
redirects to the upstream rewritten to the proxy (``proxy_redirect default``), bodies passed
through as they are (no decompression). A fault plan is drawn per URL path exactly as for files;
errors, stalls and immediate resets are answered without troubling the upstream, everything else
shapes the upstream's body on its way through, a chunk at a time: nothing is held whole but small
quiet bodies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from aiotulip.serve.faults import Plan
from aiotulip.serve.guard import continue_body
from aiotulip.serve.record import LOCATIONS, MAX_RECORDED, without_userinfo
from aiotulip.serve.shaping import SourceBroken
from aiotulip.serve.shaping import answer as send_answer
from aiotulip.serve.upstream import check_upstream, upstream_context

if TYPE_CHECKING:
    from aiotulip.serve.record import Recorder
    from aiotulip.serve.stats import Stats

__all__ = ["Upstream"]

# RFC 9110 7.6.1: meant for one connection, never forwarded (plus those a Connection header names).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_WHOLE = 64 * 1024  # a quiet body up to this size is read whole and sent in one write
_NO_BODY = frozenset({204, 304})


def _dot_segment(raw_path: str) -> bool:
    """Whether a path has a "." or ".." segment however it is spelled: it could leave the prefix.

    Decoded first (``%2e%2e``, ``..%2f``, ``%252e`` decoded twice, as some upstreams do), and split
    at slashes and backslashes alike (``%5c``: Windows servers and some frameworks take it for one):
    an upstream that decodes what it is sent once more must still not be led out of its prefix.
    """
    from urllib.parse import unquote

    path = raw_path
    for _ in range(3):  # %252e%252e -> %2e%2e -> ..
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return any(part in (".", "..") for part in path.replace("\\", "/").split("/"))


class Upstream:
    """Where proxied requests go, over one pool of keep-alive connections."""

    def __init__(
        self, url: str, timeout: float = 60.0, *, ca_file: Path | None = None, insecure: bool = False
    ) -> None:
        parsed = check_upstream(url)
        self._ssl = upstream_context(ca_file, insecure)
        self.origin = str(parsed.origin())
        self.prefix = parsed.raw_path.rstrip("/")
        self.base = self.origin + self.prefix
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.recorder: Recorder | None = None  # --record: every whole answer is written down

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=60, ssl=self._ssl),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=self.timeout),
                max_line_size=65536,  # upstreams send long cookies and CSP headers
                max_field_size=65536,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(
        self, request: web.BaseRequest, plan: Plan, stats: Stats, read: bytes | None = None
    ) -> web.StreamResponse:
        """Send *request* upstream and its answer back, shaped by *plan* (*read*: its body, when it was
        read already)."""
        if request.method == "CONNECT":
            return _gateway(405, "a reverse proxy does not tunnel (CONNECT)")
        raw_path = request.rel_url.raw_path
        if not raw_path.startswith("/"):  # OPTIONS *, or an authority
            return _gateway(400, "the request target must be a path")
        if _dot_segment(raw_path):
            return _gateway(400, "dot segments in the path")
        query = request.rel_url.raw_query_string
        target = URL(self.base + raw_path + (f"?{query}" if query else ""), encoded=True)
        headers = self._request_headers(request)
        if request.headers.get("Expect", "").lower() == "100-continue":
            await continue_body(request)
            headers.popall("Expect", None)
        # Streamed, not read whole: an upload of any size goes through as it comes (read whole only
        # to record it, within aiohttp's 1 MiB).
        data: object = request.content if request.body_exists else None
        if read is not None:
            data = read
        elif self.recorder is not None and request.body_exists:
            data = await request.read()
        try:
            answer = await self.session().request(
                request.method,
                target,
                headers=headers,
                data=data,
                allow_redirects=False,
                compress=None,
                chunked=None,
            )
        except TimeoutError:
            return _gateway(504, "upstream timed out")
        except (aiohttp.ClientError, OSError) as exc:
            return _gateway(502, f"upstream unreachable: {exc}")
        try:
            return await self._answer(request, answer, plan, stats)
        finally:
            answer.close()  # a body we did not read to the end must not go back to the pool

    async def _answer(
        self, request: web.BaseRequest, answer: aiohttp.ClientResponse, plan: Plan, stats: Stats
    ) -> web.StreamResponse:
        if plan.delay:
            await asyncio.sleep(plan.delay)  # downstream latency: the answer is here, held back
        headers = self._answer_headers(request, answer)
        length = answer.content_length
        bodyless = request.method == "HEAD" or answer.status in _NO_BODY or 100 <= answer.status < 200
        if bodyless or (not plan.shapes_body() and length is not None and length <= _WHOLE):
            try:
                content = b"" if bodyless else await answer.read()
            except (aiohttp.ClientError, OSError, TimeoutError):
                return _gateway(502, "upstream broke off its answer")
            if not bodyless:
                headers.pop("Content-Length", None)
            stats.bytes_sent += len(content)
            await self._record(request, answer, headers, content)
            return web.Response(status=answer.status, reason=answer.reason, body=content, headers=headers)
        headers.pop("Content-Length", None)
        chunks = _chunks(answer)
        if self.recorder is not None:
            chunks = self._recorded(request, answer, headers, chunks, length)
        return await send_answer(
            request, answer.status, headers, chunks, length, plan, stats, reason=answer.reason
        )

    async def _record(
        self, request: web.BaseRequest, answer: aiohttp.ClientResponse, headers: CIMultiDict[str], body: bytes
    ) -> None:
        if self.recorder is None or request.method == "HEAD":
            return
        request_body = await request.read() if request.body_exists else b""  # (read already: kept)
        # A Location the proxy made its own is recorded without this server's address: replayed on
        # another port, it sent clients to the port the recording ran on.
        here = f"{request.scheme}://{request.host}"
        kept = [
            (
                key,
                value[len(here) :] if key.lower() in LOCATIONS and value.startswith(here + "/") else value,
            )
            for key, value in headers.items()
        ]
        await self.recorder.record(request.method, request.rel_url.raw_path_qs, request.headers.items(),
                                   request_body, answer.status, kept, body)  # fmt: skip

    async def _recorded(
        self,
        request: web.BaseRequest,
        answer: aiohttp.ClientResponse,
        headers: CIMultiDict[str],
        chunks: AsyncIterator[bytes],
        length: int | None,
    ) -> AsyncIterator[bytes]:
        """Pass *chunks* on, and record the whole once the upstream has sent its last byte (of
        *length*, when it said: the writer stops asking once it has that many, and an answer
        over 64 KiB was never recorded)."""
        kept: list[bytes] | None = []
        size = 0
        async for chunk in chunks:
            if kept is not None:
                size += len(chunk)
                if size <= MAX_RECORDED:
                    kept.append(chunk)
                else:
                    kept = None  # too large to record: passed on only
            if kept is not None and length is not None and size >= length:
                await self._record(request, answer, headers, b"".join(kept))
                kept = None
            yield chunk
        if kept is not None and length is None:
            await self._record(request, answer, headers, b"".join(kept))

    def _request_headers(self, request: web.BaseRequest) -> CIMultiDict[str]:
        named = _connection_named(request.headers)
        headers: CIMultiDict[str] = CIMultiDict()
        for key, value in request.headers.items():
            lower = key.lower()
            if lower in _HOP_BY_HOP or lower in named or lower == "host":
                continue
            headers.add(key, value)
        peer = request.remote or ""
        forwarded = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Proto"] = request.scheme
        return headers

    def _answer_headers(self, request: web.BaseRequest, answer: aiohttp.ClientResponse) -> CIMultiDict[str]:
        named = _connection_named(answer.headers)
        headers: CIMultiDict[str] = CIMultiDict()
        for key, value in answer.headers.items():
            lower = key.lower()
            if lower in _HOP_BY_HOP or lower in named:
                continue
            if lower in LOCATIONS and (bare := without_userinfo(value)).startswith(self.origin):
                # The upstream named itself: the client must come back through the proxy (without
                # the credentials it may have put there: the upstream's are no client's).
                value = bare
                rest = value[len(self.origin) :]
                after = rest[len(self.prefix) :]
                if rest.startswith(self.prefix) and (not after or after[0] in "/?#"):
                    value = f"{request.scheme}://{request.host}{after}"
            headers.add(key, value)
        return headers


async def _chunks(answer: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.content.iter_any():
            yield chunk
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise SourceBroken(str(exc)) from exc


def _connection_named(headers: object) -> set[str]:
    values = headers.getall("Connection", [])  # type: ignore[attr-defined]  # aiohttp's CIMultiDictProxy, typed as a Mapping
    return {name.strip().lower() for value in values for name in value.split(",") if name.strip()}


def _gateway(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n")
