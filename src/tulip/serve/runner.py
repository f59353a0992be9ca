"""Server lifecycle, apart from the app: in a test, in the foreground, in a process of its own.

async with serving(ServeConfig(files=10)) as base_url: ...     # tests: port 0, loopback
with ServerProcess(config) as base_url: ...                     # the bench: its own core
run_forever(config)                                             # ``tulip serve``
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from aiohttp import web

from tulip import _loop
from tulip._limits import raise_open_file_limit
from tulip.errors import UsageError
from tulip.serve.app import STATE, create_app
from tulip.serve.config import ServeConfig
from tulip.serve.stats import Stats

__all__ = ["RunningServer", "ServerProcess", "run_forever", "serving", "start_server"]

_BACKLOG = 65535  # the kernel clamps it to net.core.somaxconn; 2,000 clients arrive at once


class RunningServer:
    """A started server: its URL and its runner (``await server.close()`` to stop it)."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self.runner = runner
        self.url = url

    @property
    def app(self) -> web.Application:
        return self.runner.app

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_server(config: ServeConfig | None = None) -> RunningServer:
    """Start serving *config* on the running loop and return once the port is bound."""
    config = config or ServeConfig()
    raise_open_file_limit()
    app = create_app(config)
    # access_log=None turns aiohttp's per-request logging off (it costs more than serving a small file).
    extra: dict[str, Any] = {} if config.access_log else {"access_log": None}
    runner = web.AppRunner(app, shutdown_timeout=1.0, **extra)
    await runner.setup()
    assert runner.server is not None
    _count_connections(runner.server, app[STATE].stats)
    sock = _bind(config.host, config.port, reuse_port=config.workers > 1)
    site = web.SockSite(runner, sock, backlog=_BACKLOG)
    await site.start()
    host, port = sock.getsockname()[:2]
    return RunningServer(runner, _url(host, port))


@asynccontextmanager
async def serving(config: ServeConfig | None = None) -> AsyncIterator[str]:
    """Serve *config* for the duration of the block and give its base URL (``http://127.0.0.1:PORT``)."""
    server = await start_server(config)
    try:
        yield server.url
    finally:
        await server.close()


def _count_connections(server: web.Server, stats: Stats) -> None:
    # aiohttp's Server hears of every connection (it tracks them for shutdown) but offers no hook;
    # wrapping its two methods on this one instance is the narrowest way to count them.
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler: Any, transport: Any) -> None:
        made(handler, transport)
        stats.connection_opened()

    def connection_lost(handler: Any, exc: BaseException | None) -> None:
        lost(handler, exc)
        stats.connection_closed()

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.connection_lost = connection_lost  # type: ignore[method-assign]


def _bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, _type, proto, _canon, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# -- foreground: tulip serve -------------------------------------------------------------------------


async def serve_until_signalled(config: ServeConfig, announce: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    server = await start_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if announce is not None:
            announce(server.url)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.close()


def run_forever(config: ServeConfig, announce: Callable[[str], None] | None = None) -> None:
    """Serve *config* in the foreground (uvloop when installed) until SIGINT or SIGTERM."""
    _loop.run(serve_until_signalled(config, announce))


# -- a process of its own: the bench ------------------------------------------------------------------


def _child(config: ServeConfig, conn: Connection) -> None:
    def announce(url: str) -> None:
        conn.send(url)
        conn.close()

    try:
        run_forever(config, announce)
    except UsageError as exc:
        conn.send(exc)
        sys.exit(2)


class ServerProcess:
    """Run a server in a separate process, so that it has a core of its own.

    >>> with ServerProcess(ServeConfig(files=1000)) as base_url:   # doctest: +SKIP
    ...     run_client(base_url)
    """

    def __init__(self, config: ServeConfig | None = None, *, start_timeout: float = 60.0) -> None:
        self.config = config or ServeConfig()
        self.start_timeout = start_timeout
        self.url = ""
        self._process: multiprocessing.process.BaseProcess | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> str:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=False)
        self._process = context.Process(target=_child, args=(self.config, child), daemon=True)
        self._process.start()
        child.close()
        if not parent.poll(self.start_timeout):
            self.stop()
            raise RuntimeError("tulip serve did not start in time")
        message = parent.recv()
        if isinstance(message, Exception):
            self.stop()
            raise message
        self.url = message
        return self.url

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.is_alive():
            process.terminate()  # SIGTERM: the child shuts down gracefully
            process.join(10)
        if process.is_alive():
            process.kill()
            process.join()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
