"""toxiproxy's HTTP API over the proxies of a ProxyServer: the same paths, JSON shapes, status codes
and error bodies (``{"error": "...", "status": N}``), so toxiproxy's clients drive ``tulip proxy``.

Every request is checked first: its Host must name this API (a web page that rebound its own DNS
name to 127.0.0.1 sends that name: 403), and a browser's User-Agent is refused as toxiproxy refuses
it (a page could otherwise post to the API). Bodies are at most 1 MiB.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from aiotulip._version import __version__
from aiotulip.proxy.model import ApiError, host_allowed, parse_body, parse_proxy, parse_proxy_list
from aiotulip.proxy.server import ProxyServer

__all__ = ["create_app"]

_MAX_BODY = 1 << 20
_SERVER = web.AppKey("server", ProxyServer)
_NAMES = web.AppKey("names", frozenset)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(server: ProxyServer, names: frozenset[str]) -> web.Application:
    """The API's aiohttp application; *names* are the host names a Host header may give besides
    loopback (and, when the API is exposed, IP literals)."""
    app = web.Application(middlewares=[_errors, _guard], client_max_size=_MAX_BODY)
    app[_SERVER] = server
    app[_NAMES] = names
    app.router.add_post("/reset", reset)
    app.router.add_get("/version", version)
    app.router.add_get("/proxies", proxy_index)
    app.router.add_post("/proxies", proxy_create)
    app.router.add_post("/populate", populate)
    app.router.add_get("/proxies/{proxy}", proxy_show)
    app.router.add_post("/proxies/{proxy}", proxy_update)
    app.router.add_patch("/proxies/{proxy}", proxy_update)
    app.router.add_delete("/proxies/{proxy}", proxy_delete)
    app.router.add_get("/proxies/{proxy}/toxics", toxic_index)
    app.router.add_post("/proxies/{proxy}/toxics", toxic_create)
    app.router.add_get("/proxies/{proxy}/toxics/{toxic}", toxic_show)
    app.router.add_post("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    app.router.add_patch("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    app.router.add_delete("/proxies/{proxy}/toxics/{toxic}", toxic_delete)
    return app


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type="application/json")


_STATUS_WORDS = {
    404: "not found",
    405: "method not allowed",
    413: f"bad request body: larger than {_MAX_BODY} bytes",
}


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as toxiproxy's error body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _json(exc.to_json(), exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _STATUS_WORDS.get(exc.status, exc.reason.lower())
        return _json({"error": message, "status": exc.status}, exc.status)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    server = request.app[_SERVER]
    names = request.app[_NAMES]
    host = request.headers.get("Host")
    if not host_allowed(host, exposed=server.exposed, names=names):
        raise ApiError(
            f"host not allowed: {host!r} is not a name of this API (tulip proxy --allow-host)", 403
        )
    origin = request.headers.get("Origin")
    if origin is not None and not host_allowed(
        origin.partition("://")[2], exposed=server.exposed, names=names
    ):
        raise ApiError(f"origin not allowed: {origin!r}", 403)
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        raise ApiError("User agent not allowed", 403)  # toxiproxy's words: browsers are kept out
    return await handler(request)


async def _body(request: web.Request) -> object:
    return parse_body(await request.read())


def _server(request: web.Request) -> ProxyServer:
    return request.app[_SERVER]


# -- proxies --------------------------------------------------------------------------------------


async def proxy_index(request: web.Request) -> web.Response:
    return _json({name: proxy.to_json() for name, proxy in _server(request).proxies.items()})


async def proxy_create(request: web.Request) -> web.Response:
    spec = parse_proxy(await _body(request))
    server = _server(request)
    async with server.lock:
        proxy = await server.create(spec)
    return _json(proxy.to_json(), 201)


async def populate(request: web.Request) -> web.Response:
    specs = parse_proxy_list(await _body(request))
    server = _server(request)
    async with server.lock:
        done, error = await server.populate(specs)
    proxies = [proxy.to_json() for proxy in done]
    if error is not None:
        return _json({**error.to_json(), "proxies": proxies}, error.status)
    return _json({"proxies": proxies}, 201)


async def proxy_show(request: web.Request) -> web.Response:
    return _json(_server(request).get(request.match_info["proxy"]).to_json())


async def proxy_update(request: web.Request) -> web.Response:
    server = _server(request)
    server.get(request.match_info["proxy"])  # 404 before 400, as toxiproxy answers
    data = await _body(request)
    async with server.lock:
        proxy = await server.update(request.match_info["proxy"], data)
    return _json(proxy.to_json())


async def proxy_delete(request: web.Request) -> web.Response:
    server = _server(request)
    async with server.lock:
        await server.delete(request.match_info["proxy"])
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    server = _server(request)
    async with server.lock:
        await server.reset()
    return web.Response(status=204)


async def version(request: web.Request) -> web.Response:
    return _json({"version": __version__, "server": "tulip proxy"})


# -- toxics ---------------------------------------------------------------------------------------


async def toxic_index(request: web.Request) -> web.Response:
    proxy = _server(request).get(request.match_info["proxy"])
    return _json([toxic.to_json() for toxic in proxy.toxics])


async def toxic_create(request: web.Request) -> web.Response:
    server = _server(request)
    server.get(request.match_info["proxy"])
    data = await _body(request)
    async with server.lock:
        toxic = server.add_toxic(request.match_info["proxy"], data)
    return _json(toxic.to_json())  # 200, not 201: toxiproxy's answer


async def toxic_show(request: web.Request) -> web.Response:
    toxic = _server(request).toxic(request.match_info["proxy"], request.match_info["toxic"])
    return _json(toxic.to_json())


async def toxic_update(request: web.Request) -> web.Response:
    server = _server(request)
    server.toxic(request.match_info["proxy"], request.match_info["toxic"])
    data = await _body(request)
    async with server.lock:
        toxic = server.update_toxic(request.match_info["proxy"], request.match_info["toxic"], data)
    return _json(toxic.to_json())


async def toxic_delete(request: web.Request) -> web.Response:
    server = _server(request)
    async with server.lock:
        server.remove_toxic(request.match_info["proxy"], request.match_info["toxic"])
    return web.Response(status=204)
