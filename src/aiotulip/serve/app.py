"""The request handler: files, manifest, and the loopback-only control endpoints.

Routes:
    GET|HEAD /files/{name}     a file, with Range, ETag, Last-Modified, If-None-Match and
                               If-Modified-Since (304), and the configured faults; as other
                               servers do, ?disposition=NAME adds a Content-Disposition and
                               ?encoding=gzip sends the file gzipped
    GET      /manifest.json    {"files": [{"name", "size", "sha256", "url"}, ...]}
    GET|PUT  /_tulip/faults    the fault settings; PUT changes them while the server runs
    PUT      /_tulip/corpus    {"version": N}: every synthetic file changes (new bytes, ETag, date)
    GET      /_tulip/stats     requests, bytes, faults by kind, connections now and at peak
    DELETE   /_tulip/stats     reset the counters (the bench does, between runs)
    *        /__admin/...      WireMock's admin API (``stubs/admin.py``)

Stubs answer first (``stubs/engine.py``), then the files or the upstream; a request none of them
has a route for is a 404 that names the closest stub. The admin and control APIs pass the guard
(``guard.py``: loopback or --admin-allow, a Host that names this server, no foreign Origin) first.

The handler runs under aiohttp's low-level ``web.Server``, not a ``web.Application``: with five
routes, a few string comparisons do the router's work, and skipping the router and middleware chain
serves a small file about 30% faster (``benchmarks/serve_rps.py``). aiohttp still parses HTTP.

A quiet server (no faults) takes a short path: one dictionary lookup and, for a small synthetic file,
a cached body handed to aiohttp whole. Faults cost only when they are on.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from aiohttp import web

from aiotulip.errors import UsageError
from aiotulip.serve.config import Faults, ServeConfig, check_header_value
from aiotulip.serve.corpus import Corpus, DirectoryCorpus, Entry, SyntheticCorpus
from aiotulip.serve.faults import QUIET, Plan, decide, overrides_from_query
from aiotulip.serve.guard import Guard, read_json
from aiotulip.serve.media import accepts_gzip, compressible, content_type
from aiotulip.serve.proxy import Upstream
from aiotulip.serve.ranges import UNSATISFIABLE, resolve_range
from aiotulip.serve.record import Recorder
from aiotulip.serve.shaping import answer, answer_early, close, dropped
from aiotulip.serve.stats import Stats
from aiotulip.serve.stubs import Stubs, admin
from aiotulip.serve.stubs.journal import Entry as Logged

__all__ = ["FileServer", "create_app"]


class FileServer:
    """The handler (``await server(request)``) and everything it keeps: corpus, faults, stats."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.corpus: Corpus = (
            DirectoryCorpus(config.root)
            if config.root is not None
            else SyntheticCorpus(config.files, config.size, config.seed)
        )
        self._synthetic = self.corpus if isinstance(self.corpus, SyntheticCorpus) else None
        self.upstream: Upstream | None = None
        if config.upstream is not None:
            self.upstream = Upstream(
                config.upstream, ca_file=config.upstream_ca, insecure=config.upstream_insecure
            )
            if config.record is not None:
                self.upstream.recorder = Recorder(config.record, secrets=config.record_secrets)
            self._synthetic = None
        self.stats = Stats()
        self.faults = config.faults
        self.faulty = config.faults.active()
        self._headers: dict[str, dict[str, str]] = {}  # per file; a quiet small GET sends them as they are
        self._nth: defaultdict[str, int] = defaultdict(int)
        self._manifest: dict[tuple[str, str], str] = {}  # (name, etag) -> sha256
        self._manifest_body: tuple[object, bytes] | None = None  # (corpus signature, JSON) of the last
        self._manifest_lock = asyncio.Lock()
        self._dates: dict[float, str] = {}
        self.cache_control = config.cache_control
        self.heard: set[int] = set()  # connections (their handlers' ids) that sent a whole request
        scheme = "https" if config.tls else "http"
        self.stubs = Stubs(config.mappings, seed=config.seed, journal=config.journal,
                           stall_limit=config.stall_limit, scheme=scheme)  # fmt: skip
        self.journal = self.stubs.journal
        self.guard = Guard(config.host, config.admin_allow)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.faulty = faults.active()

    def plan(self, name: str, request: web.BaseRequest) -> Plan:
        """Return the plan for this request of *name*: seeded rates, then query overrides."""
        if not (self.faulty or request.query_string):
            return QUIET
        plan, nth = self.draw(name, request.path[1:])
        return overrides_from_query(request.query, plan, nth)

    def draw(self, key: str, path: str) -> tuple[Plan, int]:
        """Return the seeded plan for the next request of *key* (a file's name, or a URL path in
        proxy mode) and how many came before it; QUIET where the faults do not reach *path*."""
        nth = self._nth[key]
        self._nth[key] = nth + 1
        reached = self.faulty and self.faults.reaches(path)
        return (decide(self.faults, self.config.seed, key, nth) if reached else QUIET), nth

    def forget_files(self) -> None:
        """The corpus changed: no header or manifest entry of the old files may be served again."""
        self._headers.clear()
        self._manifest_body = None

    def headers(self, entry: Entry) -> dict[str, str]:
        """Return the headers every answer about *entry* carries (shared: copy before changing)."""
        headers = self._headers.get(entry.name)
        if headers is None or headers["ETag"] != entry.etag:
            media = content_type(entry.name)
            headers = self._headers[entry.name] = {
                "Content-Type": media,
                "Accept-Ranges": "bytes",
                "ETag": entry.etag,
                "Last-Modified": self.http_date(entry.mtime),
            }
            if self.cache_control:
                headers["Cache-Control"] = self.cache_control
            if self.config.gzip and compressible(media):
                headers["Vary"] = "Accept-Encoding"  # caches must keep both forms apart
        return headers

    def http_date(self, mtime: float) -> str:
        text = self._dates.get(mtime)
        if text is None:
            text = self._dates[mtime] = formatdate(mtime, usegmt=True)
        return text

    async def manifest(self) -> list[dict[str, Any]]:
        """Return every file's name, size, sha256 and URL, hashing (off the loop) what is new."""
        return json.loads(await self.manifest_json())

    async def manifest_json(self) -> bytes:
        """Return the manifest as JSON, built again only when the corpus changed since the last time."""
        async with self._manifest_lock:
            return await asyncio.to_thread(self._manifest_bytes)

    def _manifest_bytes(self) -> bytes:
        signature = self.corpus.signature()
        cached = self._manifest_body
        if cached is not None and cached[0] == signature:
            return cached[1]
        body = json.dumps({"files": self._build_manifest()}).encode()
        self._manifest_body = (signature, body)
        return body

    def _build_manifest(self) -> list[dict[str, Any]]:
        files = []
        for name in self.corpus.names():
            entry = self.corpus.lookup(name)
            if entry is None:  # vanished while we listed
                continue
            digest = self._manifest.get((name, entry.etag))
            if digest is None:
                try:
                    digest = self._manifest[(name, entry.etag)] = self.corpus.sha256(entry)
                except OSError:  # replaced or gone since the lookup: not a file to list now
                    continue
            files.append({"name": name, "size": entry.size, "sha256": digest, "url": files_url(name)})
        return files

    async def close(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        self.heard.add(id(request.protocol))
        path = request.path
        if path.startswith("/files/"):
            if (
                self._synthetic
                and not self.faulty
                and request.method == "GET"
                and not request.query_string
                and not self.stubs.registry.size
            ):
                # The hot path of every small-file benchmark: nothing to decide, a cached body to send.
                headers = request.headers
                entry = self.corpus.lookup(path[7:])
                if entry is not None and not _CONDITIONAL.intersection(headers):
                    content = self._synthetic.content(entry)
                    if content is not None:
                        stats = self.stats
                        stats.requested()
                        stats.bytes_sent += len(content)
                        stats.statuses[200] += 1
                        self.journal.note(
                            "GET", request.raw_path, request.raw_headers, request.remote or "", 200
                        )
                        return web.Response(body=content, headers=self.headers(entry))
        elif path.startswith(("/_tulip/", "/__admin")):
            return await self._controlled(request, path)
        logged = self.journal.start(
            request.method, request.raw_path, request.raw_headers, request.remote or ""
        )
        try:
            response = await self._serve(request, path, logged)
        except web.HTTPException as refused:  # (aiohttp answers it: a body over 1 MiB is a 413)
            logged.status = refused.status
            self.journal.keep(logged)
            raise
        logged.status = response.status
        self.journal.keep(logged)
        return response

    async def _controlled(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        """Answer the admin and control APIs, for the clients the guard lets through."""
        if not self.config.control:
            return _plain(404, "not found")
        refusal = self.guard.refusal(request)
        if refusal is not None:
            return refusal
        if path.startswith("/__admin"):
            return await admin.handle(request, self.stubs)
        route = _ROUTES.get((request.method, path))
        if route is None:
            known = {method for method, known_path in _ROUTES if known_path == path}
            if known:
                return _plain(405, "method not allowed", {"Allow": ", ".join(sorted(known))})
            return _plain(404, "not found")
        return await route(request, self)

    async def _serve(self, request: web.BaseRequest, path: str, logged: Logged) -> web.StreamResponse:
        if self.stubs.registry.size:
            faults = self.faults if self.faulty and self.faults.reaches(path[1:]) else None
            answered = await self.stubs.answer(
                request, logged, faults, self.stats, streams=self.upstream is not None
            )
            if answered is not None:
                if not answered.prepared:  # (a streamed answer counted itself)
                    self.stats.requested()
                    self.stats.statuses[answered.status] += 1
                return answered
        if self.upstream is not None:
            # The stubs read a body to match it: the upstream gets those bytes, not the spent stream.
            read = logged.body if logged.body_read else None
            return await _count(request, self, _proxy(request, self, self.upstream, read))
        if path.startswith("/files/"):
            if request.method not in ("GET", "HEAD"):
                return _plain(405, "method not allowed", {"Allow": "GET, HEAD"})
            if self.config.index and (path.endswith("/") or self.corpus.lookup(path[7:]) is None):
                return await _listing(request, self, path[7:])
            return await _file(request, self, path[7:])
        route = _ROUTES.get((request.method, path))
        if route is None:
            known = {method for method, known_path in _ROUTES if known_path == path}
            if known:
                return _plain(405, "method not allowed", {"Allow": ", ".join(sorted(known))})
            return self.stubs.not_found(logged) if self.stubs.registry else _plain(404, "not found")
        return await route(request, self)


def files_url(name: str) -> str:
    """Return the server path of file *name* (percent-encoded, ``/`` kept between directories)."""
    return "/files/" + quote(name, safe="/")


def create_app(config: ServeConfig | None = None) -> FileServer:
    """Return the request handler for *config* (the defaults: a quiet synthetic corpus)."""
    return FileServer(config or ServeConfig())


# -- files ------------------------------------------------------------------------------------------


async def _file(request: web.BaseRequest, state: FileServer, name: str) -> web.StreamResponse:
    return await _count(request, state, _serve_file(request, state, name))


async def _count(
    request: web.BaseRequest, state: FileServer, answer: Awaitable[web.StreamResponse]
) -> web.StreamResponse:
    state.stats.requested()
    return _counted(request, state, await answer, requested=False)


def _counted(
    request: web.BaseRequest, state: FileServer, response: web.StreamResponse, *, requested: bool = True
) -> web.StreamResponse:
    if requested:
        state.stats.requested()
    # A streamed response counted itself when its headers went out (its client may already have
    # asked for the stats); a stalled one was never sent.
    transport = request.transport
    if not response.prepared and transport is not None and not transport.is_closing():
        state.stats.statuses[response.status] += 1
    return response


async def _serve_file(request: web.BaseRequest, state: FileServer, name: str) -> web.StreamResponse:
    corpus = state.corpus
    entry = corpus.lookup(name)
    if entry is None:
        return _plain(404, "not found")
    try:
        plan = state.plan(entry.name, request)
        if (encoding := request.query.get("encoding", "gzip")) not in ("gzip", "identity"):
            raise UsageError(f"bad option in query: encoding={encoding!r} is not gzip or identity")
    except UsageError as exc:
        return _plain(400, str(exc))
    if plan.upstream_delay:
        await asyncio.sleep(plan.upstream_delay)
    if plan.delay:
        await asyncio.sleep(plan.delay)
    if (early := await answer_early(request, plan, state.stats, state.config.stall_limit)) is not None:
        return early

    headers = dict(state.headers(entry))
    gzipped = _gzip_wanted(request, state, headers)
    if _none_match(request.headers.get("If-None-Match"), entry.etag, _gzip_etag(entry.etag)):
        if gzipped:
            headers["ETag"] = _gzip_etag(entry.etag)
        return web.Response(status=304, headers=headers)
    if "If-None-Match" not in request.headers and _not_modified_since(request, entry.mtime):
        return web.Response(status=304, headers=headers)
    query = request.query
    if "disposition" in query:
        # As a server that names the file itself (curl -J, wget2 --content-disposition).
        named = quote(query["disposition"], safe="")
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{named}"
    if gzipped:
        headers.update(
            {"Content-Encoding": "gzip", "Vary": "Accept-Encoding", "ETag": _gzip_etag(entry.etag)}
        )
        headers.pop("Accept-Ranges", None)
        if request.method == "HEAD":
            return web.Response(status=200, headers=headers)  # the length is known only by sending
        chunks = _gzip(_chunks(corpus, entry, 0, entry.size))
        return await answer(request, 200, headers, chunks, None, plan, state.stats)
    span = _requested_span(request, entry, headers["Last-Modified"])
    if span is UNSATISFIABLE:
        headers["Content-Range"] = f"bytes */{entry.size}"
        return _plain(416, "range not satisfiable", headers)
    start, end = span or (0, entry.size)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        # aiohttp keeps an explicit Content-Length on HEAD: the size of what GET would send.
        return web.Response(status=status, headers=headers)

    if not plan.shapes_body():
        try:
            body = await _whole_body(corpus, entry, start, end)
        except OSError:  # vanished between the lookup and the read: it is not here
            return _plain(404, "not found")
        if body is not None and len(body) != end - start:
            # Shrank meanwhile: no honest answer now. The connection goes; aiohttp then sends nothing.
            await close(request, reset=False)
            return dropped()
        if body is not None:
            state.stats.bytes_sent += len(body)
            headers.pop("Content-Length")
            return web.Response(status=status, body=body, headers=headers)
    return await _stream(request, state, entry, start, end, status, headers, plan)


async def _proxy(
    request: web.BaseRequest, state: FileServer, upstream: Upstream, read: bytes | None = None
) -> web.StreamResponse:
    # The query belongs to the upstream: faults come from the settings alone, keyed by the path.
    plan = state.draw(request.path, request.path[1:])[0] if state.faulty else QUIET
    if plan.upstream_delay:
        await asyncio.sleep(plan.upstream_delay)
    if plan.kind == "error" and plan.delay:
        await asyncio.sleep(plan.delay)  # else the delay is downstream: once the upstream has answered
    if (early := await answer_early(request, plan, state.stats, state.config.stall_limit)) is not None:
        return early
    return await upstream.forward(request, plan, state.stats, read)


def _requested_span(request: web.BaseRequest, entry: Entry, last_modified: str) -> tuple[int, int] | None:
    if "Range" not in request.headers:
        return None
    if _SUFFIX_ZERO.fullmatch(request.headers["Range"].strip()):
        return UNSATISFIABLE  # "the last 0 bytes": RFC 9110 makes that unsatisfiable (aiohttp reads 0-)
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range not in (entry.etag, last_modified):
        return None  # the client's copy is stale: send the whole new file
    try:
        requested = request.http_range
    except ValueError:
        return None  # malformed or multiple ranges: RFC 9110 lets us ignore the header
    return resolve_range(requested, entry.size)


_MAX_VERSION = 1_000_000  # each version moves the files' dates an hour on: this one is in 2138


_SUFFIX_ZERO = re.compile(r"bytes\s*=\s*-0+", re.IGNORECASE)
_CONDITIONAL = frozenset({"Range", "If-None-Match", "If-Modified-Since"})


def _not_modified_since(request: web.BaseRequest, mtime: float) -> bool:
    since = request.headers.get("If-Modified-Since")
    if not since:
        return False
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError, IndexError):
        return False
    return int(mtime) <= when  # HTTP dates have whole seconds


def _none_match(header: str | None, *etags: str) -> bool:
    # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or not tags.isdisjoint(etags)


def _gzip_wanted(request: web.BaseRequest, state: FileServer, headers: dict[str, str]) -> bool:
    """Whether to send this GET gzipped: asked by ?encoding=gzip, or --gzip, text and Accept-Encoding."""
    if request.query.get("encoding") == "gzip":
        return True  # as a server that compresses whatever the client asked for (gzip_static always)
    return (
        state.config.gzip
        and "Vary" in headers  # a compressible type
        and "Range" not in request.headers  # ranges are of the file itself, as nginx answers them
        and accepts_gzip(request.headers.get("Accept-Encoding"))
    )


def _gzip_etag(etag: str) -> str:
    # Another representation, another validator (Apache's way): a cache must not mix the two.
    return etag[:-1] + '-gzip"' if etag.endswith('"') else etag + "-gzip"


async def _gzip(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip header and trailer
    async for chunk in chunks:
        if packed := packer.compress(chunk):
            yield packed
    yield packer.flush()


async def _whole_body(corpus: Corpus, entry: Entry, start: int, end: int) -> bytes | None:
    """Return the body in one piece when that is cheap (small files), else None to stream it."""
    if isinstance(corpus, SyntheticCorpus):
        content = corpus.content(entry)
        return None if content is None else content[start:end]
    if end - start <= 256 * 1024:
        return await asyncio.to_thread(lambda: b"".join(corpus.read(entry, start, end)))
    return None


async def _stream(
    request: web.BaseRequest,
    state: FileServer,
    entry: Entry,
    start: int,
    end: int,
    status: int,
    headers: dict[str, str],
    plan: Plan,
) -> web.StreamResponse:
    """Send the body chunk by chunk, shaped as the plan says."""
    headers.pop("Content-Length", None)
    chunks = _chunks(state.corpus, entry, start, end)
    return await answer(request, status, headers, chunks, end - start, plan, state.stats)


async def _chunks(corpus: Corpus, entry: Entry, start: int, end: int) -> AsyncIterator[bytes]:
    chunks = corpus.read(entry, start, end)
    blocking = corpus.blocking
    while True:
        try:
            chunk = await asyncio.to_thread(next, chunks, None) if blocking else next(chunks, None)
        except OSError:  # vanished: send_body ends the connection, as it does for a shrunk file
            return
        if chunk is None:
            return
        yield chunk


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers=headers)


# -- listings (--index) ---------------------------------------------------------------------------


async def _listing(request: web.BaseRequest, state: FileServer, folder: str) -> web.StreamResponse:
    """List the files and folders directly in *folder* ("" or "a/b/"), as HTML or JSON; a folder
    named without its slash is redirected to it (as nginx and http.server do)."""
    corpus = state.corpus
    if folder and not folder.endswith("/"):
        inside = folder + "/"
        found = await asyncio.to_thread(lambda: any(name.startswith(inside) for name in corpus.names()))
        if not found:
            return await _file(request, state, folder)  # not a folder: the file's own 404
        return web.Response(status=301, headers={"Location": files_url(folder) + "/"})

    def gather() -> list[dict[str, Any]] | None:
        seen: dict[str, dict[str, Any]] = {}
        for name in corpus.names():
            if not name.startswith(folder):
                continue
            rest = name[len(folder) :]
            head, slash, _ = rest.partition("/")
            if slash:
                seen.setdefault(
                    head + "/", {"name": head + "/", "type": "folder", "url": files_url(folder + head) + "/"}
                )
            elif (entry := corpus.lookup(name)) is not None:
                seen[head] = {"name": head, "type": "file", "size": entry.size, "url": files_url(name),
                              "modified": state.http_date(entry.mtime)}  # fmt: skip
        return sorted(seen.values(), key=lambda item: item["name"]) if seen or not folder else None

    entries = await asyncio.to_thread(gather)
    if entries is None:
        return _plain(404, "not found")
    state.stats.requested()
    state.stats.statuses[200] += 1
    title = "/files/" + folder
    accept = request.headers.get("Accept", "")
    if request.query.get("format") == "json" or ("json" in accept and "html" not in accept):
        return web.json_response({"path": title, "entries": entries})
    rows = "\n".join(
        f'<li><a href="{html.escape(item["url"])}">{html.escape(item["name"])}</a>'
        + (f" {item['size']} bytes" if item["type"] == "file" else "")
        + "</li>"
        for item in entries
    )
    parent = '<li><a href="../">../</a></li>\n' if folder else ""
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Index of {html.escape(title)}</title>'
        f"</head>\n<body><h1>Index of {html.escape(title)}</h1>\n<ul>\n{parent}{rows}\n</ul></body></html>\n"
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


# -- manifest, index, control ------------------------------------------------------------------------


async def _manifest(request: web.BaseRequest, state: FileServer) -> web.Response:
    return web.Response(body=await state.manifest_json(), content_type="application/json")


async def _index(request: web.BaseRequest, state: FileServer) -> web.Response:
    return _plain(
        200,
        f"tulip serve: {state.corpus.describe()}\n"
        "GET /manifest.json, /files/NAME; /_tulip/faults and /_tulip/stats from loopback",
    )


def _loopback_only(request: web.BaseRequest) -> None:
    """Raise 403 unless the client is on loopback (the guard's first check, without --admin-allow)."""
    if not Guard().client_allowed(request.remote):
        raise web.HTTPForbidden(text="control endpoints answer loopback clients only\n")


async def _get_faults(request: web.BaseRequest, state: FileServer) -> web.Response:
    return web.json_response(state.faults.to_json())


async def _put_faults(request: web.BaseRequest, state: FileServer) -> web.Response:
    changes = await read_json(request, strict_type=False)
    try:
        if not isinstance(changes, dict):
            raise UsageError("expected a JSON object of fault settings")
        state.set_faults(state.faults.updated(changes))
    except UsageError as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    return web.json_response(state.faults.to_json())


async def _put_corpus(request: web.BaseRequest, state: FileServer) -> web.Response:
    """Replace every synthetic file (``{"version": N}``: "the file changed on the server"), or change
    the Cache-Control every file is sent with (``{"cache_control": "max-age=60"}``, null for none)."""
    corpus = state.corpus
    change = await read_json(request, strict_type=False)
    try:
        if not isinstance(change, dict) or not change or set(change) - {"version", "cache_control"}:
            raise ValueError("only version and cache_control can change")
        version = change.get("version")
        if version is not None and (
            not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= _MAX_VERSION
        ):
            raise ValueError(f"version must be a whole number from 0 to {_MAX_VERSION}")
        cache_control = change.get("cache_control", state.cache_control)
        check_header_value("cache_control", cache_control, ", or null")
    except (ValueError, KeyError, TypeError, RecursionError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f'expected {{"version": N, "cache_control": "..."}}: {exc}\n') from None
    if version is not None and state.upstream is not None:
        raise web.HTTPBadRequest(text="a proxy's files are the upstream's: change them there\n")
    if version is not None and not isinstance(corpus, SyntheticCorpus):
        raise web.HTTPBadRequest(text="a directory corpus changes on disk, not here\n")
    state.cache_control = cache_control
    if isinstance(corpus, SyntheticCorpus) and version is not None:
        corpus.bump(version)
    state.forget_files()
    return web.json_response({"version": getattr(corpus, "version", None), "cache_control": cache_control})


async def _get_stats(request: web.BaseRequest, state: FileServer) -> web.Response:
    return web.json_response(state.stats.to_json())


async def _reset_stats(request: web.BaseRequest, state: FileServer) -> web.Response:
    state.stats.reset()
    return web.json_response(state.stats.to_json())


_ROUTES: dict[tuple[str, str], Callable[[web.BaseRequest, FileServer], Awaitable[web.StreamResponse]]] = {
    ("GET", "/"): _index,
    ("GET", "/manifest.json"): _manifest,
    ("GET", "/_tulip/faults"): _get_faults,
    ("PUT", "/_tulip/faults"): _put_faults,
    ("PUT", "/_tulip/corpus"): _put_corpus,
    ("GET", "/_tulip/stats"): _get_stats,
    ("DELETE", "/_tulip/stats"): _reset_stats,
}
