"""WireMock's admin API at ``/__admin``, in WireMock's JSON shapes, so that mapping files and
WireMock's clients (the ``wiremock`` package for Python among them) work unchanged.

    GET|POST|DELETE  /__admin/mappings              list ({"mappings", "meta"}) | create (201) | remove all
    POST             /__admin/mappings/new          create (WireMock 1's path)
    GET|PUT|DELETE   /__admin/mappings/{id}         one stub
    POST             /__admin/mappings/reset        back to the stubs of --mappings DIR, read again
    POST             /__admin/mappings/import       {"mappings": [...], "importOptions": {...}}
    GET|DELETE       /__admin/requests              the journal ({"requests", "meta"}) | forget it
    GET|DELETE       /__admin/requests/{id}         one serve event
    POST             /__admin/requests/reset        forget the journal (older clients)
    POST             /__admin/requests/find|count|remove   by request pattern
    GET              /__admin/requests/unmatched[/near-misses]
    POST             /__admin/near-misses/request|request-pattern
    GET              /__admin/scenarios             {"scenarios": [...]}
    POST             /__admin/scenarios/reset       every scenario back to Started
    PUT              /__admin/scenarios/{name}/state  {"state": "..."} (no body: Started)
    POST             /__admin/reset                 stubs back to --mappings DIR, journal and scenarios reset
    GET|POST         /__admin/settings              {"fixedDelay": ms}
    GET              /__admin/health

tulip never writes mapping files through this API (``POST /__admin/mappings/save`` is a 501 that
says so): ``--record DIR`` is the one writer. The guard (``serve/guard.py``) has run before any of
these handlers.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from aiotulip.errors import UsageError
from aiotulip.serve.guard import read_json
from aiotulip.serve.stubs.engine import Stubs
from aiotulip.serve.stubs.files import mapping_list
from aiotulip.serve.stubs.journal import Entry
from aiotulip.serve.stubs.match import Incoming, RequestPattern, request_of
from aiotulip.serve.stubs.model import MappingError, Stub, parse_stub

__all__ = ["handle"]

Handler = Callable[[web.BaseRequest, Stubs, re.Match[str]], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data, indent=2).encode(), content_type="application/json"
    )


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n")


async def _body(request: web.BaseRequest, empty: Any = None) -> Any:
    return await read_json(request, strict_type=True, empty=empty)


def _stub(data: Any, stubs: Stubs, stub_id: str | None = None) -> Stub:
    try:
        return stubs.check(parse_stub(data, stub_id=stub_id))
    except MappingError as exc:
        raise web.HTTPBadRequest(text=f"bad mapping: {exc}\n") from None


def _pattern(data: Any) -> RequestPattern:
    try:
        return RequestPattern(data if data is not None else {}, "")
    except MappingError as exc:
        raise web.HTTPBadRequest(text=f"bad request pattern: {exc}\n".replace(": .", ": ")) from None


def _page(request: web.BaseRequest, items: list[Any]) -> list[Any]:
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query["limit"]) if "limit" in request.query else None
    except ValueError:
        raise web.HTTPBadRequest(text="limit and offset must be whole numbers\n") from None
    if offset < 0 or (limit is not None and limit < 0):
        raise web.HTTPBadRequest(text="limit and offset must be >= 0\n")
    return items[offset:] if limit is None else items[offset : offset + limit]


# -- mappings ----------------------------------------------------------------------------------------


async def _list(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    every = [stub.to_json() for stub in sorted(stubs.registry, key=lambda s: -s.seq)]
    return _json({"mappings": _page(request, every), "meta": {"total": len(every)}})


async def _create(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    stub = _stub(await _body(request), stubs)
    stubs.registry.add(stub)
    stubs.changed()
    return _json(stub.to_json(), 201)


async def _delete_all(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    stubs.registry.clear()
    stubs.changed()
    return _json({})


def _reload(stubs: Stubs) -> None:
    try:
        stubs.reload()
    except UsageError as exc:  # (a file edited into nonsense: said, and the stubs left as they are)
        raise web.HTTPUnprocessableEntity(text=f"cannot reload the mappings: {exc}\n") from None


async def _reset_mappings(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    _reload(stubs)
    stubs.reset_to_defaults()
    return _json({})


async def _import(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    data = await _body(request, {})
    options = data.get("importOptions", {}) if isinstance(data, dict) else {}
    if not isinstance(options, dict):
        raise web.HTTPBadRequest(text="importOptions must be an object\n")
    try:
        items = mapping_list(data, "")
    except MappingError as exc:
        raise web.HTTPBadRequest(text=f"bad mapping: {exc}\n") from None
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(stubs.check(parse_stub(item, f"mappings[{index}]")))
        except MappingError as exc:
            raise web.HTTPBadRequest(text=f"bad mapping: {exc}\n") from None
    if options.get("deleteAllNotInImport"):
        stubs.registry.clear()
    for stub in parsed:
        if options.get("duplicatePolicy") == "IGNORE" and stubs.registry.get(stub.id) is not None:
            continue
        stubs.registry.add(stub)
    stubs.changed()
    return _json({})


async def _save(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    return _plain(501, "tulip serve never writes mapping files through the API (--record DIR writes them)")


async def _get_one(request: web.BaseRequest, stubs: Stubs, match: re.Match[str]) -> web.Response:
    stub = stubs.registry.get(match["id"])
    if stub is None:
        return _plain(404, f"no stub {match['id']}")
    return _json(stub.to_json())


async def _put_one(request: web.BaseRequest, stubs: Stubs, match: re.Match[str]) -> web.Response:
    if stubs.registry.get(match["id"]) is None:
        return _plain(404, f"no stub {match['id']}")
    stub = _stub(await _body(request), stubs, match["id"])
    stubs.registry.replace(stub)
    stubs.changed()
    return _json(stub.to_json())


async def _delete_one(request: web.BaseRequest, stubs: Stubs, match: re.Match[str]) -> web.Response:
    if stubs.registry.remove(match["id"]) is None:
        return _plain(404, f"no stub {match['id']}")
    stubs.changed()
    return _json({})


# -- the journal -----------------------------------------------------------------------------------


def _journal(stubs: Stubs, requests: list[Any], **extra: Any) -> web.Response:
    return _json({"requests": requests, **extra, "requestJournalDisabled": stubs.journal.disabled})


async def _requests(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    entries = list(stubs.journal.newest_first())
    if "since" in request.query:  # (WireMock's: those logged after it; the wiremock client sends it)
        since = _instant(request.query["since"])
        entries = [entry for entry in entries if entry.when > since]
    if request.query.get("unmatched") == "true":
        entries = [entry for entry in entries if not entry.matched]
    if "matchingStub" in request.query:
        wanted = request.query["matchingStub"]
        entries = [entry for entry in entries if entry.stub is not None and entry.stub.id == wanted]
    total = len(entries)
    return _journal(stubs, [entry.event_json() for entry in _page(request, entries)], meta={"total": total})


def _instant(text: str) -> float:
    """An ISO 8601 date (``2026-12-07T16:34:50Z``, with or without its fraction or offset; UTC when
    it has none) as seconds since the epoch; a 400 if it is not one."""
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise web.HTTPBadRequest(
            text=f"since must be an ISO 8601 date, such as 2026-01-31T12:00:00Z: {text[:60]!r}\n"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


async def _forget(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    stubs.journal.reset()
    return _json({})


async def _request_one(request: web.BaseRequest, stubs: Stubs, match: re.Match[str]) -> web.Response:
    entry = stubs.journal.get(match["id"])
    if entry is None:
        return _plain(404, f"no request {match['id']} in the journal")
    if request.method == "DELETE":
        stubs.journal.remove(lambda kept: kept.seq != entry.seq)
        return _json({})
    return _json(entry.event_json())


async def _find(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    found = stubs.journal.find(_pattern(await _body(request, {})))
    return _journal(stubs, [entry.request_json() for entry in found])


async def _count(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    found = stubs.journal.find(_pattern(await _body(request, {})))
    if stubs.journal.disabled:  # (WireMock's -1: a check for "requested 0 times" must not pass)
        return _json({"count": -1, "requestJournalDisabled": True})
    return _json({"count": len(found), "requestJournalDisabled": False})


async def _remove(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    pattern = _pattern(await _body(request, {}))
    gone = stubs.journal.remove(lambda entry: not pattern.matches(entry.incoming()))
    return _journal(stubs, [entry.request_json() for entry in gone])


async def _unmatched(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    return _journal(stubs, [entry.request_json() for entry in stubs.journal.unmatched()])


def _near(entry: Entry | None, request_json: dict[str, Any], stub: Stub | None, pattern: Any,
          distance: float) -> dict[str, Any]:  # fmt: skip
    near: dict[str, Any] = {"request": request_json}
    if stub is not None:
        near["stubMapping"] = stub.to_json()
    if pattern is not None:
        near["requestPattern"] = pattern
    near["matchResult"] = {"distance": distance}
    return near


_TURN = 20  # requests weighed between two turns of the loop (each against up to 1,000 stubs)


async def _unmatched_near(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    misses = []
    for count, entry in enumerate(list(stubs.journal.unmatched()), 1):
        for distance, stub in stubs.near_misses(entry.incoming(), 3):
            misses.append(_near(entry, entry.request_json(), stub, None, distance))
        if count % _TURN == 0:
            await asyncio.sleep(0)  # (thousands of misses weighed: the stubs answer meanwhile)
    return _json({"nearMisses": misses})


async def _near_request(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    data = await _body(request, {})
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a logged request: {url, method, headers, body}\n")
    try:
        method, url, headers, body = request_of(data)
    except MappingError as exc:
        raise web.HTTPBadRequest(text=f"bad request: {exc}\n") from None
    incoming = Incoming(method, url, CIMultiDict(headers), body)
    return _json(
        {"nearMisses": [_near(None, data, stub, None, d) for d, stub in stubs.near_misses(incoming)]}
    )


async def _near_pattern(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    data = await _body(request, {})
    pattern = _pattern(data)
    weighed = []
    for count, entry in enumerate(list(stubs.journal.entries), 1):
        weighed.append((pattern.distance(entry.incoming()), entry))
        if count % (_TURN * 10) == 0:
            await asyncio.sleep(0)
    scored = sorted(weighed, key=lambda p: p[0])[:3]
    return _json({"nearMisses": [_near(e, e.request_json(), None, data, d) for d, e in scored]})


# -- scenarios, settings, reset ----------------------------------------------------------------------


async def _scenarios(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    return _json({"scenarios": stubs.scenarios.to_json(stubs.registry)})


async def _reset_scenarios(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    stubs.scenarios.reset()
    return _json({})


async def _scenario_state(request: web.BaseRequest, stubs: Stubs, match: re.Match[str]) -> web.Response:
    name = match["name"]
    if not stubs.scenarios.known(stubs.registry, name):
        return _plain(404, f"no scenario {name!r}")
    data = await _body(request, {})
    state = data.get("state") if isinstance(data, dict) else None
    if state is not None and (not isinstance(state, str) or not state):
        raise web.HTTPBadRequest(text="state must be a non-empty string\n")
    stubs.scenarios.set(name, state)
    return _json({})


async def _reset_all(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    _reload(stubs)
    stubs.reset_to_defaults()
    stubs.journal.reset()
    stubs.scenarios.reset()
    return _json({})


async def _settings(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    if request.method == "POST":
        data = await _body(request, {})
        delay = data.get("fixedDelay", 0) if isinstance(data, dict) else None
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 3_600_000:
            raise web.HTTPBadRequest(text="fixedDelay must be milliseconds from 0 to 3600000\n")
        stubs.fixed_delay = delay / 1000
    return _json({"settings": {"fixedDelay": round(stubs.fixed_delay * 1000)}})


async def _health(request: web.BaseRequest, stubs: Stubs, _: re.Match[str]) -> web.Response:
    return _json({"status": "healthy", "message": "tulip serve is ok", **stubs.describe()})


_ID = r"(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(path), handler)
    for method, path, handler in (
        ("GET", "/mappings", _list),
        ("POST", "/mappings", _create),
        ("POST", "/mappings/new", _create),  # (WireMock 1's path, still in its docs and old clients)
        ("DELETE", "/mappings", _delete_all),
        ("POST", "/mappings/reset", _reset_mappings),
        ("POST", "/mappings/import", _import),
        ("POST", "/mappings/save", _save),
        ("GET", f"/mappings/{_ID}", _get_one),
        ("PUT", f"/mappings/{_ID}", _put_one),
        ("DELETE", f"/mappings/{_ID}", _delete_one),
        ("GET", "/requests", _requests),
        ("DELETE", "/requests", _forget),
        ("POST", "/requests/reset", _forget),
        ("POST", "/requests/find", _find),
        ("POST", "/requests/count", _count),
        ("POST", "/requests/remove", _remove),
        ("GET", "/requests/unmatched", _unmatched),
        ("GET", "/requests/unmatched/near-misses", _unmatched_near),
        ("GET", f"/requests/{_ID}", _request_one),
        ("DELETE", f"/requests/{_ID}", _request_one),
        ("POST", "/near-misses/request", _near_request),
        ("POST", "/near-misses/request-pattern", _near_pattern),
        ("GET", "/scenarios", _scenarios),
        ("POST", "/scenarios/reset", _reset_scenarios),
        ("PUT", "/scenarios/(?P<name>[^/]+)/state", _scenario_state),
        ("POST", "/reset", _reset_all),
        ("GET", "/settings", _settings),
        ("POST", "/settings", _settings),
        ("GET", "/health", _health),
    )
]


async def handle(request: web.BaseRequest, stubs: Stubs) -> web.StreamResponse:
    """Answer one ``/__admin/...`` request (the guard has let it through)."""
    path = request.path.removeprefix("/__admin").rstrip("/") or "/"
    allowed = []
    for method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if method == request.method:
            try:
                return await handler(request, stubs, match)
            except web.HTTPException as exc:
                return web.Response(status=exc.status, text=exc.text or f"{exc.reason}\n")
        allowed.append(method)
    if allowed:
        return web.Response(
            status=405, text="method not allowed\n", headers={"Allow": ", ".join(sorted(set(allowed)))}
        )
    return _plain(404, f"no admin endpoint {request.path}")
