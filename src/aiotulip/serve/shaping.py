"""How a body goes out under a Plan: paced, sliced, cut short, reset, or closed slowly.

The same code shapes a file from the corpus and an upstream's answer in proxy mode: a body is an
async iterator of chunks with a length when one is known. What each fault does to the wire:

drop       part of the body, then RST (linger 0)          truncate   part of the body, then FIN
reset      RST ``reset_after`` seconds into the answer; the last byte (or the chunked terminator)
           is held back until then, so a fast answer is still a broken one; 0 resets before any byte
limit_data FIN once the connection has carried that many body bytes (toxiproxy's limit_data)
slicer     pieces of ``slice_size`` bytes, ``slice_delay`` apart     bandwidth  paced per response
slow_close any close the server chooses waits this long first (toxiproxy's slow_close)
stall      nothing at all until the client gives up (or the server's stall limit)
corrupt    every byte sent, the length right, a few of them flipped at seeded offsets
malformed_chunk  a 200 head announcing chunks, then bytes that are no chunk, then FIN
garbage    random bytes where the status line should be, then FIN
empty      FIN before any byte
slow_headers     the head dribbled out over ``slow_headers_time`` seconds (then the body, then FIN)
huge_headers     the head padded with one header line of ``huge_headers_size`` bytes

``answer_early`` answers the kinds that need no body; ``answer`` sends a head and a body for the
rest. Both modes and the stubs call the same two, so a fault looks the same wherever it is met.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus

from aiohttp import web

from aiotulip.serve.faults import Plan
from aiotulip.serve.stats import Stats
from aiotulip.shared.shapes import Pace, cut_short, slice_ends, within_limit
from aiotulip.shared.sockets import linger_zero, unsent

__all__ = ["SourceBroken", "answer", "answer_early", "close", "dropped", "reset_now", "send_body", "stall"]

_BANDWIDTH_TICK = 0.05  # seconds of data per write when throttled
_STALL_POLL = 0.5
_UNKNOWN_CUT = 64 * 1024  # a body of unknown length is cut at this times the plan's fraction
_FLUSH_LIMIT = 2.0  # seconds a reset waits for the bytes already written to leave


class SourceBroken(Exception):
    """The body's source failed mid-way (a file vanished, an upstream hung up)."""


async def send_body(
    request: web.BaseRequest,
    response: web.StreamResponse,
    chunks: AsyncIterator[bytes],
    length: int | None,
    plan: Plan,
    stats: Stats,
) -> None:
    """Write the body of a prepared *response* from *chunks* as *plan* says, then end it.

    The response ends with its last byte, or the connection ends: a body that came short (its
    source broke or shrank) never ends cleanly, so a client cannot take it for the whole.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    stop = length
    if plan.kind == "corrupt":
        chunks = _corrupted(chunks, length, plan.salt, stats)
    if length is not None and plan.kind in ("drop", "truncate"):
        # Always short by at least one byte, so the fault is a fault even for a one-byte file.
        stop = cut_short(length, plan.cut)
    elif plan.kind in ("drop", "truncate"):
        # Chunked (an upstream's, or gzip made here): a cut at a fraction of 64 KiB, or of the last
        # chunk of a shorter body, so that real bytes are missing, not only the terminator.
        stop = int(_UNKNOWN_CUT * plan.cut)
        chunks = _short_of_end(chunks, plan.cut)
    elif length is not None and plan.kind == "reset":
        stop = max(0, length - 1)
    deadline = began + plan.reset_after if plan.kind == "reset" else None
    key = id(request.protocol)
    complete: int | None = 0
    try:
        async with asyncio.timeout_at(deadline):
            complete = await _write(response, chunks, stop, plan, stats, key, began)
        if complete is None:  # limit_data was reached
            stats.faults["limit_data"] += 1
            await close(request, reset=False, slow=plan.slow_close)
            return
        if plan.kind == "reset" and deadline is not None:
            await asyncio.sleep(max(0.0, deadline - loop.time()))
    except TimeoutError:
        pass  # the reset's moment came mid-body
    except SourceBroken:
        await close(request, reset=False)
        return
    except ConnectionError:  # the client went away mid-body: nothing to answer, nothing to log
        return
    if plan.kind in ("drop", "truncate", "reset"):
        stats.faults[plan.kind] += 1
        if plan.kind == "drop":
            await _flushed(request)  # a reset discards what is still queued: the cut would move
        await close(request, reset=plan.kind != "truncate", slow=plan.slow_close)
        return
    if length is not None and complete is not None and complete < length:
        await close(request, reset=False)  # the source shrank under us
        return
    with contextlib.suppress(ConnectionError):
        await response.write_eof()


async def answer_early(
    request: web.BaseRequest, plan: Plan, stats: Stats, stall_limit: float
) -> web.StreamResponse | None:
    """Answer a request the plan ends before any body is read (stall, error, reset before any byte,
    empty, garbage, malformed chunk), or return None: the body goes out with ``answer``."""
    kind = plan.kind
    if kind is None or (kind == "reset" and plan.reset_after) or kind not in _EARLY:
        return None
    stats.faults[kind] += 1
    if kind == "stall":
        return await stall(request, stall_limit)
    if kind == "error":
        retry = {} if plan.retry_after is None else {"Retry-After": str(max(0, round(plan.retry_after)))}
        return web.Response(status=plan.status, text=f"injected fault {plan.status}\n", headers=retry)
    if kind == "reset":
        reset_now(request)
        return dropped()
    rng = random.Random(plan.salt)
    if kind == "garbage":
        raw = rng.randbytes(rng.randrange(64, 1024))
        if raw[:1] in (b"H", b"h"):
            raw = b"\x00" + raw[1:]  # never the start of a status line, by chance
    elif kind == "malformed_chunk":
        junk = bytes(rng.choices(_NOT_HEX, k=rng.randrange(16, 256)))
        raw = _MALFORMED_HEAD + junk + b"\r\n"
    else:  # empty
        raw = b""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        if raw:
            transport.write(raw)
        await close(request, reset=False, slow=plan.slow_close)
    return dropped()


async def answer(
    request: web.BaseRequest,
    status: int,
    headers: Mapping[str, str],
    chunks: AsyncIterator[bytes],
    length: int | None,
    plan: Plan,
    stats: Stats,
    *,
    reason: str | None = None,
) -> web.StreamResponse:
    """Send a head and the body from *chunks* (*length* bytes, None when unknown), shaped by *plan*.

    The head itself is where slow_headers and huge_headers strike: a slow head is written by hand
    (aiohttp writes a head at once), so that answer ends with the connection.
    """
    if plan.kind == "slow_headers":
        return await _slow_head(request, status, headers, chunks, length, plan, stats, reason)
    response = web.StreamResponse(status=status, reason=reason, headers=headers)
    if length is not None:
        response.content_length = length
    if plan.kind == "huge_headers":
        stats.faults["huge_headers"] += 1
        response.headers["X-Tulip-Padding"] = "x" * plan.huge_headers_size
    try:
        await response.prepare(request)
    except ConnectionError:
        return response
    stats.statuses[status] += 1
    await send_body(request, response, chunks, length, plan, stats)
    return response


async def _slow_head(
    request: web.BaseRequest,
    status: int,
    headers: Mapping[str, str],
    chunks: AsyncIterator[bytes],
    length: int | None,
    plan: Plan,
    stats: Stats,
    reason: str | None,
) -> web.StreamResponse:
    stats.faults["slow_headers"] += 1
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in _FRAMING]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")  # the body ends with the connection when its length is unknown
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    pieces = min(len(head), _SLOW_PIECES)
    step = -(-len(head) // pieces)
    writer = request.writer
    try:
        for start in range(0, len(head), step):
            await writer.write(head[start : start + step])
            await asyncio.sleep(plan.slow_headers_time / pieces)
        stats.statuses[status] += 1
        if request.method != "HEAD":
            async for chunk in chunks:
                await writer.write(chunk)
                stats.bytes_sent += len(chunk)
    except SourceBroken:
        pass
    except ConnectionError:
        return dropped()
    await close(request, reset=False)
    return dropped()


async def _corrupted(
    chunks: AsyncIterator[bytes], length: int | None, salt: int, stats: Stats
) -> AsyncIterator[bytes]:
    """Yield *chunks* with a few bytes flipped at offsets drawn from *salt*: the length stays right."""
    rng = random.Random(salt)
    flips = 1 + salt % _MAX_FLIPS
    offsets: list[int] = sorted({rng.randrange(length) for _ in range(flips)}) if length else []
    masks = [rng.randrange(1, 256) for _ in range(_MAX_FLIPS)]
    position = 0
    flipped = False
    async for chunk in chunks:
        if length is None and not flipped and chunk:
            # A body of unknown length: the flips land in its first piece.
            offsets = sorted({position + rng.randrange(len(chunk)) for _ in range(flips)})
        end = position + len(chunk)
        inside = [offset for offset in offsets if position <= offset < end]
        if inside:
            changed = bytearray(chunk)
            for index, offset in enumerate(inside):
                changed[offset - position] ^= masks[index % len(masks)]
            chunk = bytes(changed)
            if not flipped:
                stats.faults["corrupt"] += 1
                flipped = True
        position = end
        yield chunk


_EARLY = frozenset({"stall", "error", "reset", "malformed_chunk", "garbage", "empty"})
_NOT_HEX = b"ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ!#$%&*+-.^_|~"
_MALFORMED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
_SLOW_PIECES = 20
_MAX_FLIPS = 4


async def _write(
    response: web.StreamResponse,
    chunks: AsyncIterator[bytes],
    stop: int | None,
    plan: Plan,
    stats: Stats,
    key: int,
    began: float,
) -> int | None:
    """Write up to *stop* bytes; return how many went, or None when limit_data closed the way."""
    loop = asyncio.get_running_loop()
    sent = 0
    step = _step(plan)
    pace = Pace(plan.bandwidth, began) if plan.bandwidth else None
    ledger = stats.carried
    async for chunk in chunks:
        if stop is not None and sent + len(chunk) > stop:
            chunk = chunk[: stop - sent]
        view = memoryview(chunk)
        start = 0
        for end in slice_ends(len(chunk), step):
            piece = view[start:end] if step else view
            start = end
            if plan.limit_data:
                allowed, reached = within_limit(ledger.get(key, 0), len(piece), plan.limit_data)
                if reached:
                    if allowed:
                        await response.write(bytes(piece[:allowed]))
                        stats.bytes_sent += allowed
                    ledger[key] = plan.limit_data
                    return None
                ledger[key] = ledger.get(key, 0) + len(piece)
            await response.write(bytes(piece) if step else chunk)
            sent += len(piece)
            stats.bytes_sent += len(piece)
            if pace is not None:
                # Paced as a whole from its start (ready at *began*): a stall is caught up after.
                pace.take(began, len(piece))
                ahead = pace.free_at - loop.time()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if plan.slice_delay and plan.slice_size:
                await asyncio.sleep(plan.slice_delay)
        if stop is not None and sent >= stop:
            break
    return sent


async def _short_of_end(chunks: AsyncIterator[bytes], cut: float) -> AsyncIterator[bytes]:
    """Yield *chunks*, the last one cut to *cut* of itself (a byte short at least)."""
    previous: bytes | None = None
    async for chunk in chunks:
        if previous:
            yield previous
        previous = chunk
    if previous:
        yield previous[: min(int(len(previous) * cut), len(previous) - 1)]


async def _flushed(request: web.BaseRequest) -> None:
    """Wait (a little) until every byte written has left this host: aiohttp's buffer, then the
    kernel's send queue (SIOCOUTQ, where there is one)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    deadline = asyncio.get_running_loop().time() + _FLUSH_LIMIT
    while asyncio.get_running_loop().time() < deadline and not transport.is_closing():
        if transport.get_write_buffer_size() == 0 and unsent(sock) == 0:
            return
        await asyncio.sleep(0.005)


def _step(plan: Plan) -> int:
    """Return the size of the pieces the body goes out in (0: each chunk whole)."""
    steps = [plan.slice_size] if plan.slice_size else []
    if plan.bandwidth:
        steps.append(max(1, int(plan.bandwidth * _BANDWIDTH_TICK)))
    return min(steps, default=0)


async def close(request: web.BaseRequest, *, reset: bool, slow: float = 0.0) -> None:
    """Close the connection under the response: with RST (a drop) or FIN (a truncation)."""
    if slow:
        await asyncio.sleep(slow)
    transport = request.transport
    if transport is None:
        return
    if reset:
        reset_now(request)
    else:
        transport.close()


def reset_now(request: web.BaseRequest) -> None:
    """Abort the connection with RST, as a peer that vanished would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        linger_zero(sock)  # so that the abort sends RST instead of FIN
    transport.abort()


async def stall(request: web.BaseRequest, limit: float) -> web.StreamResponse:
    """Send nothing until the client gives up (or *limit* passes), then close."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(min(_STALL_POLL, max(0.0, deadline - loop.time())))
    await close(request, reset=False)
    return dropped()


def dropped() -> web.Response:
    """What to return for a connection already closed: aiohttp finds the transport closed, skips
    writing this response, and drops the connection."""
    return web.Response(status=504)
