"""Server lifecycle, apart from the app: in a test, in the foreground, in a process of its own.

async with serving(ServeConfig(files=10)) as base_url: ...     # tests: port 0, loopback
with ServerProcess(config) as base_url: ...                     # the bench: its own core
run_forever(config)                                             # ``tulip serve``
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import select
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from aiotulip.errors import UsageError
from aiotulip.serve.app import FileServer, create_app
from aiotulip.serve.config import ServeConfig
from aiotulip.serve.tls import ServerTls, server_tls
from aiotulip.shared import loop as _loop
from aiotulip.shared.lifecycle import LoopThread, Service
from aiotulip.shared.limits import raise_open_file_limit
from aiotulip.shared.logs import bad_request_logger
from aiotulip.shared.sockets import listening_socket

__all__ = ["RunningServer", "ServerProcess", "ServerThread", "run_forever", "serving", "start_server"]

_STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_BACKLOG = 65535  # the kernel clamps it to net.core.somaxconn; 2,000 clients arrive at once


class RunningServer:
    """A started server: its URL, its handler, its runner (``await server.close()`` to stop it).

    *ca_file* is the CA a client must trust for a ``self_signed`` server (None otherwise).
    """

    def __init__(self, runner: web.ServerRunner, app: FileServer, url: str, tls: ServerTls | None) -> None:
        self.runner = runner
        self.app = app
        self.url = url
        self.tls = tls
        self.ca_file = tls.ca_file if tls is not None else None

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.app.close()
        if self.tls is not None:
            self.tls.close()


async def start_server(config: ServeConfig | None = None) -> RunningServer:
    """Start serving *config* on the running loop and return once the port is bound."""
    config = config or ServeConfig()
    raise_open_file_limit()
    app = create_app(config)
    # access_log=None turns aiohttp's per-request logging off (it costs more than serving a small file).
    extra: dict[str, Any] = {} if config.access_log else {"access_log": None}
    if config.upstream is not None:
        # A client that hangs up cancels its handler, and so the upstream request it waits on.
        extra["handler_cancellation"] = True
    server = web.Server(app, logger=bad_request_logger("serve"), **extra)
    _count_connections(server, app, config.header_timeout)
    runner = web.ServerRunner(server, shutdown_timeout=1.0)
    await runner.setup()
    sock = listening_socket(config.host, config.port)
    try:
        tls = server_tls(config.cert, config.key, config.self_signed, config.host, config.tls_dir)
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    site = web.SockSite(runner, sock, backlog=_BACKLOG, ssl_context=tls.context if tls else None)
    await site.start()
    host, port = sock.getsockname()[:2]
    return RunningServer(runner, app, _url(host, port, secure=tls is not None), tls)


@asynccontextmanager
async def serving(config: ServeConfig | None = None) -> AsyncIterator[str]:
    """Serve *config* for the duration of the block and give its base URL (``http://127.0.0.1:PORT``)."""
    server = await start_server(config)
    try:
        yield server.url
    finally:
        await server.close()


def _count_connections(server: web.Server, app: FileServer, header_timeout: float) -> None:
    # aiohttp's Server hears of every connection (it tracks them for shutdown) but offers no hook;
    # wrapping its two methods on this one instance is the narrowest way to count them, and to close
    # a connection that has not sent a whole request within header_timeout (aiohttp has no such limit).
    made, lost = server.connection_made, server.connection_lost
    stats = app.stats
    timers: dict[int, asyncio.TimerHandle] = {}

    def unheard(handler: Any, transport: Any) -> None:
        timers.pop(id(handler), None)
        if id(handler) not in app.heard and not transport.is_closing():
            stats.header_timeouts += 1
            transport.close()

    def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
        made(handler, transport)
        stats.connection_opened()
        if header_timeout:
            loop = asyncio.get_running_loop()
            timers[id(handler)] = loop.call_later(header_timeout, unheard, handler, transport)

    def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
        lost(handler, exc)
        stats.connection_closed(id(handler))
        timer = timers.pop(id(handler), None)
        if timer is not None:
            timer.cancel()
        app.heard.discard(id(handler))

    # (Instance attributes over the class's methods: the narrowest hook aiohttp leaves.)
    server.connection_made = connection_made  # type: ignore[method-assign]  # no hook: see above
    server.connection_lost = connection_lost  # type: ignore[method-assign]  # no hook: see above


def _url(host: str, port: int, *, secure: bool = False) -> str:
    scheme = "https" if secure else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


# -- foreground: tulip serve -------------------------------------------------------------------------


async def serve_until_signalled(
    config: ServeConfig, announce: Callable[[RunningServer], None] | None = None, *, watch: int | None = None
) -> None:
    """Serve until SIGINT, SIGTERM or SIGHUP (a closed terminal), or until the pipe *watch* reaches
    its end (the parent that holds its other end is gone), then shut down gracefully."""
    server = await start_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOPPING:
        loop.add_signal_handler(signum, stop.set)
    if watch is not None:

        def readable() -> None:
            try:
                gone = not os.read(watch, 4096)
            except BlockingIOError:
                return
            except OSError:
                gone = True
            if gone:
                loop.remove_reader(watch)
                stop.set()

        os.set_blocking(watch, False)
        loop.add_reader(watch, readable)
    try:
        if announce is not None:
            announce(server)
        await stop.wait()
    finally:
        for signum in _STOPPING:
            loop.remove_signal_handler(signum)
        if watch is not None:
            loop.remove_reader(watch)
        await server.close()


def run_forever(
    config: ServeConfig, announce: Callable[[RunningServer], None] | None = None, *, watch: int | None = None
) -> None:
    """Serve *config* in the foreground (uvloop when installed) until SIGINT or SIGTERM (or the end
    of the pipe *watch*)."""
    _loop.run(serve_until_signalled(config, announce, watch=watch))


# -- a thread of its own: tests of blocking code -------------------------------------------------------


class ServerThread(LoopThread[RunningServer]):
    """Serve on an event loop in a background thread, for code under test that blocks.

    >>> with ServerThread(ServeConfig(files=3)) as base_url:   # doctest: +SKIP
    ...     aiotulip.fetch([f"{base_url}/files/file-00000.bin"], "out")
    """

    _thread_name = "tulip-serve"

    def __init__(self, config: ServeConfig | None = None) -> None:
        super().__init__()
        self.config = config or ServeConfig()

    async def _open(self) -> RunningServer:
        return await start_server(self.config)

    @property
    def server(self) -> RunningServer | None:
        """The running server (None before ``start()``)."""
        return self.running

    @property
    def ca_file(self) -> Path | None:
        """The CA to trust, for a self-signed server."""
        return self.running.ca_file if self.running is not None else None


# -- a process of its own: the bench ------------------------------------------------------------------


def _child_main() -> None:
    """Entry point of a ServerProcess child: a pickled config on stdin (its length first), the URL
    (or error) on stdout. stdin stays open: its end means the parent is gone, even SIGKILLed (no
    signal comes then), and the server shuts down and removes what it made (a TLS folder)."""
    config = pickle.loads(_read_exactly(0, int.from_bytes(_read_exactly(0, 8), "big")))

    def announce(server: RunningServer) -> None:
        print(server.url, server.ca_file or "", sep="\t", flush=True)

    try:
        run_forever(config, announce, watch=0)
    except UsageError as exc:
        print(f"error: {exc}", flush=True)
        sys.exit(2)


def _read_exactly(fd: int, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = os.read(fd, count - len(data))
        if not chunk:
            raise SystemExit(0)  # the parent went before it said what to serve
        data += chunk
    return data


class ServerProcess(Service):
    """Run a server in a separate process, so that it has a core of its own.

    >>> with ServerProcess(ServeConfig(files=1000)) as base_url:   # doctest: +SKIP
    ...     run_client(base_url)

    The child is a fresh interpreter started with ``subprocess`` rather than ``multiprocessing``, so
    the caller's ``__main__`` is never re-imported and needs no ``if __name__ == "__main__"`` guard.
    """

    def __init__(self, config: ServeConfig | None = None, *, start_timeout: float = 60.0) -> None:
        self.config = config or ServeConfig()
        self.start_timeout = start_timeout
        self.url = ""
        self.ca_file: Path | None = None  # the CA to trust, for a self-signed server
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> str:
        code = "from aiotulip.serve.runner import _child_main; _child_main()"
        self._proc = proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdin is not None and proc.stdout is not None
        config = pickle.dumps(self.config)
        proc.stdin.write(len(config).to_bytes(8, "big") + config)
        proc.stdin.flush()  # and kept open: the child serves while it is (see _child_main)
        ready, _, _ = select.select([proc.stdout], [], [], self.start_timeout)
        line = proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http"):
            self.stop()
            if line.startswith("error: "):
                raise UsageError(line.removeprefix("error: "))
            raise RuntimeError(f"tulip serve did not start: {line or 'no answer'}")
        self.url, _, ca_file = line.partition("\t")
        self.ca_file = Path(ca_file) if ca_file else None
        return self.url

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: the child shuts down gracefully
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
