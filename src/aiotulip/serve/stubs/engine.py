"""Stubs at work: the registry, scenarios, journal and body files of one server, and the answer a
matched stub gives on the wire.

A stub's delays, dribble and fault become a ``Plan``, the same value a file's or a proxied answer's
seeded faults are, so they go out through the same code (``shaping.answer_early``, ``shaping.answer``):
WireMock's ``EMPTY_RESPONSE`` is tulip's ``empty``, ``CONNECTION_RESET_BY_PEER`` its ``reset``, and
so on. A stub's own ``"tulip": {...}`` faults are drawn from ``--seed`` per stub and request, as a
file's are per name; without them the server's faults reach stubs as they reach files.

A quiet stub (a fixed answer, no delay, no fault) takes a short path: its head made once, its body
handed to aiohttp whole.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from aiotulip.serve.faults import QUIET, Faults, decide
from aiotulip.serve.guard import continue_body
from aiotulip.serve.shaping import answer as send_answer
from aiotulip.serve.shaping import answer_early
from aiotulip.serve.stats import Stats
from aiotulip.serve.stubs.files import BodyFiles, load_mappings
from aiotulip.serve.stubs.journal import Entry, Journal
from aiotulip.serve.stubs.match import Incoming
from aiotulip.serve.stubs.model import MappingError, Stub
from aiotulip.serve.stubs.nearmiss import report
from aiotulip.serve.stubs.registry import Registry
from aiotulip.serve.stubs.scenarios import Scenarios

__all__ = ["Stubs"]

_WHOLE = 256 * 1024  # a body file up to this size is read whole; a larger one is streamed
_READ_LIMIT = 1024 * 1024  # the request bodies read to be matched: aiohttp's own limit


class Stubs:
    """Everything a server knows of stubs, and how it answers with one."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        seed: int = 0,
        journal: int = 10_000,
        stall_limit: float = 300.0,
        scheme: str = "http",
    ) -> None:
        self.root = root
        self.defaults: list[Stub] = []
        self.files = BodyFiles(None)
        if root is not None:
            self.defaults, self.files = load_mappings(root)
        self.registry = Registry()
        self.scenarios = Scenarios()
        self.journal = Journal(journal, scheme)
        self.seed = seed
        self.stall_limit = stall_limit
        self.fixed_delay = 0.0  # seconds, from POST /__admin/settings
        self._heads: dict[str, CIMultiDict[str]] = {}
        self._nth: defaultdict[str, int] = defaultdict(int)
        self.reset_to_defaults()

    def reload(self) -> None:
        """Read the mappings directory again (as WireMock's resets do): files added or edited since
        count. Raise UsageError, keeping what was read before, if the files now cannot be served."""
        if self.root is not None:
            self.defaults, self.files = load_mappings(self.root)

    def reset_to_defaults(self) -> None:
        """Keep only the stubs the mappings directory holds, as they were read."""
        self.registry.clear()
        self._heads.clear()
        for stub in self.defaults:
            self.registry.add(dataclasses.replace(stub))

    def check(self, stub: Stub) -> Stub:
        """Return *stub* if the body file it names is inside __files (raise MappingError if not)."""
        if stub.answer.body_file is not None:
            self.files.path(stub.answer.body_file)
        return stub

    def changed(self) -> None:
        """A stub was added, replaced or removed: no head made before may be sent again."""
        self._heads.clear()

    # -- answering -----------------------------------------------------------------------------------

    async def answer(
        self,
        request: web.BaseRequest,
        entry: Entry,
        faults: Faults | None,
        stats: Stats,
        *,
        streams: bool = False,
    ) -> web.StreamResponse | None:
        """Answer *request* with the stub that matches it; None when none does (files, or the upstream
        when *streams*, come next)."""
        body = b""
        length = request.content_length
        if request.body_exists and (not streams or (length is not None and length <= _READ_LIMIT)):
            # Read to match it and to journal it (aiohttp refuses more than 1 MiB: a 413). In front of
            # an upstream, a larger or unsized upload goes on as it came, unread: no stub sees its body.
            await continue_body(request)
            body = entry.body = await request.read()
            entry.body_read = True
        incoming = Incoming(request.method, entry.url, request.headers, body)
        stub = self.registry.find(incoming, self.scenarios.allows)
        if stub is None:
            return None
        entry.stub = stub
        if stub.scenario is not None:
            self.scenarios.passed(stub)
        answer = stub.answer
        rules = stub.faults if stub.faults is not None else faults
        if rules is None and answer.fixed and not self.fixed_delay:
            stats.bytes_sent += len(answer.body)
            head = self._heads.get(stub.id) or self._head(stub)
            return web.Response(status=answer.status, reason=answer.reason, body=answer.body, headers=head)
        return await self._shaped(request, stub, rules, stats)

    def _head(self, stub: Stub) -> CIMultiDict[str]:
        head = self._heads.get(stub.id)
        if head is None:
            answer = stub.answer
            head = self._heads[stub.id] = CIMultiDict(answer.headers)
            head["Matched-Stub-Id"] = stub.id  # as WireMock says which stub answered
            if "Content-Type" not in head and (answer.body or answer.body_file is not None):
                # What aiohttp sends with any body that names none (RFC 9110 8.3), said here so that
                # HEAD, which has no body, says it too: the two disagreed.
                head["Content-Type"] = "application/octet-stream"
        return head

    async def _shaped(
        self, request: web.BaseRequest, stub: Stub, rules: Faults | None, stats: Stats
    ) -> web.StreamResponse:
        answer = stub.answer
        nth = self._nth[stub.id]
        self._nth[stub.id] = nth + 1
        plan = decide(rules, self.seed, stub.id, nth) if rules is not None and rules.active() else QUIET
        if answer.fault is not None:
            plan = dataclasses.replace(plan, kind=answer.fault, status=0, reset_after=0.0)
        delay = self.fixed_delay + answer.fixed_delay + plan.delay + self._random_delay(stub, nth)
        if plan.upstream_delay:
            await asyncio.sleep(plan.upstream_delay)
        if delay:
            await asyncio.sleep(delay)
        early = await answer_early(request, plan, stats, self.stall_limit)
        if early is not None:
            return early
        headers = CIMultiDict(self._head(stub))
        if answer.body_file is not None:
            try:
                path = self.files.path(answer.body_file)
                length = path.stat().st_size
            except (MappingError, OSError):
                return web.Response(status=500, text=f"body file {answer.body_file!r} is gone from __files\n")
            if (length <= _WHOLE and not plan.shapes_body()) or answer.dribble is not None:
                content = await asyncio.to_thread(path.read_bytes)
                length = len(content)
            else:
                content = None
        else:
            content, length = answer.body, len(answer.body)
        if request.method == "HEAD":  # (the length GET would send: aiohttp says none for no body)
            if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                headers["Content-Length"] = str(length)
            return web.Response(status=answer.status, reason=answer.reason, headers=headers)
        if answer.dribble is not None and content is not None:
            pieces, seconds = answer.dribble
            chunks = _dribbled(content, pieces, seconds / pieces)
        elif content is not None and not plan.shapes_body():
            stats.bytes_sent += length
            return web.Response(status=answer.status, reason=answer.reason, body=content, headers=headers)
        elif content is not None:
            chunks = _one(content)
        else:
            chunks = self._file_chunks(answer.body_file or "")
        return await send_answer(
            request, answer.status, headers, chunks, length, plan, stats, reason=answer.reason
        )

    def _random_delay(self, stub: Stub, nth: int) -> float:
        distribution = stub.answer.distribution
        if distribution is None:
            return 0.0
        rng = random.Random(f"{self.seed}:{stub.id}:{nth}:delay")  # seeded, as the faults are
        kind, a, b = distribution
        if kind == "uniform":
            return rng.uniform(a, b)
        return min(3600.0, a * math.exp(rng.gauss(0.0, b)))  # lognormal around the median a

    async def _file_chunks(self, name: str) -> AsyncIterator[bytes]:
        chunks = self.files.chunks(name)
        while True:
            try:
                chunk = await asyncio.to_thread(next, chunks, None)
            except (OSError, MappingError):
                return  # gone meanwhile: send_body ends the connection, as for a shrunk file
            if chunk is None:
                return
            yield chunk

    def not_found(self, entry: Entry) -> web.Response:
        """The 404 for a request no stub (and nothing behind them) answered: the closest stub named."""
        incoming = entry.incoming()
        text = report(incoming, self.registry.nearest(incoming, 1))
        return web.Response(status=404, text=text, content_type="text/plain")

    def near_misses(self, incoming: Incoming, n: int = 3) -> list[tuple[float, Stub]]:
        return self.registry.nearest(incoming, n)

    def describe(self) -> dict[str, Any]:
        return {"stubs": len(self.registry), "journal": len(self.journal)}


async def _one(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _dribbled(body: bytes, pieces: int, interval: float) -> AsyncIterator[bytes]:
    """Yield *body* in *pieces* parts, *interval* seconds apart (WireMock's chunkedDribbleDelay: the
    last part takes what the others leave)."""
    size = max(1, len(body) // pieces)
    for index in range(pieces):
        part = body[index * size :] if index == pieces - 1 else body[index * size : (index + 1) * size]
        if part:
            yield part
        await asyncio.sleep(interval)
