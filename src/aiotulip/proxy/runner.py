"""``tulip proxy``'s lifecycle, apart from its API and its proxies: on the running loop, in a thread
of its own (tests of blocking code, the pytest fixture), or in the foreground (the command).

    running = await start_proxy_server(ProxyConfig(port=0))    # running.url: the API
    with ProxyThread(ProxyConfig(port=0)) as api_url: ...
    run_forever(config)                                         # tulip proxy
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable

from aiohttp import web

from aiotulip.errors import UsageError
from aiotulip.proxy.api import create_app
from aiotulip.proxy.listener import resolve
from aiotulip.proxy.model import format_address, is_loopback
from aiotulip.proxy.server import ProxyConfig, ProxyServer
from aiotulip.shared import loop as _loop
from aiotulip.shared.lifecycle import LoopThread
from aiotulip.shared.limits import raise_open_file_limit
from aiotulip.shared.logs import bad_request_logger
from aiotulip.shared.sockets import listening_socket

__all__ = ["ProxyThread", "RunningProxyServer", "run_forever", "start_proxy_server"]

_STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RunningProxyServer:
    """A started ``tulip proxy``: its API's URL and its proxies (``await running.close()`` ends both)."""

    def __init__(self, runner: web.AppRunner, server: ProxyServer, url: str) -> None:
        self.runner = runner
        self.server = server
        self.url = url

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.server.close()


async def _exposed(host: str) -> bool:
    """Whether an API bound to *host* is reachable beyond loopback."""
    loopback = is_loopback(host)
    if loopback is not None:
        return not loopback
    try:
        found = await resolve(host, 0, passive=True)
    except OSError:
        return True
    return not all(is_loopback(address[0]) for _family, address in found)


def _names(config: ProxyConfig, exposed: bool) -> frozenset[str]:
    """The host names a Host header may give: ``--allow-host``; when exposed, this host's own names."""
    names = {name.lower().rstrip(".") for name in config.allow_hosts}
    if exposed:
        names.update(name.lower() for name in (config.host, socket.gethostname(), socket.getfqdn()) if name)
    return frozenset(names)


async def start_proxy_server(config: ProxyConfig | None = None) -> RunningProxyServer:
    """Start the API and the proxies of *config* on the running loop; return once both are bound."""
    config = config or ProxyConfig()
    raise_open_file_limit()
    exposed = await _exposed(config.host)
    server = ProxyServer(config, exposed=exposed)
    if config.proxies:
        _done, error = await server.populate(list(config.proxies))
        if error is not None:
            await server.close()
            raise UsageError(f"--config: {error.message}")
    app = create_app(server, _names(config, exposed))
    runner = web.AppRunner(app, access_log=None, logger=bad_request_logger("proxy"))
    await runner.setup()
    try:
        sock = listening_socket(config.host, config.port)
    except UsageError:
        await runner.cleanup()
        await server.close()
        raise
    await web.SockSite(runner, sock).start()
    host, port = sock.getsockname()[:2]
    return RunningProxyServer(runner, server, f"http://{format_address(host, port)}")


async def serve_until_signalled(
    config: ProxyConfig, announce: Callable[[RunningProxyServer], None] | None = None
) -> None:
    """Run until SIGINT, SIGTERM or SIGHUP (a closed terminal), then close every proxy."""
    running = await start_proxy_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOPPING:
        loop.add_signal_handler(signum, stop.set)
    try:
        if announce is not None:
            announce(running)
        await stop.wait()
    finally:
        for signum in _STOPPING:
            loop.remove_signal_handler(signum)
        await running.close()


def run_forever(config: ProxyConfig, announce: Callable[[RunningProxyServer], None] | None = None) -> None:
    """Run ``tulip proxy`` in the foreground (uvloop when installed) until a signal stops it."""
    _loop.run(serve_until_signalled(config, announce))


class ProxyThread(LoopThread[RunningProxyServer]):
    """``tulip proxy`` on an event loop in a background thread; ``start()`` returns the API's URL.

    >>> with ProxyThread(ProxyConfig(port=0)) as api:   # doctest: +SKIP
    ...     toxiproxy_client_at(api)
    """

    _thread_name = "tulip-proxy"

    def __init__(self, config: ProxyConfig | None = None) -> None:
        super().__init__(_loop.loop_factory())
        self.config = config or ProxyConfig(port=0)

    async def _open(self) -> RunningProxyServer:
        return await start_proxy_server(self.config)
