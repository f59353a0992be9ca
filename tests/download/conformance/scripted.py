"""A server that answers from scripts: for each path, exactly the bytes a test wants on the wire.

Nothing here is HTTP-aware beyond reading request heads: a route returns what to send — bytes,
pauses, a clean close or a reset — so a test can produce any response a real server (or a broken
one) might, including ones no library would let it write.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["CLOSE", "RESET", "Pause", "Request", "Scripted", "response"]


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # lower-case names
    nth: int  # how many times this path was asked before (0 for the first)


@dataclass(frozen=True)
class Pause:
    seconds: float


CLOSE = object()  # close the connection cleanly
RESET = object()  # close it with a TCP reset

Action = bytes | Pause | object
Route = Callable[[Request], Iterable[Action]]


def response(
    status: str = "200 OK", body: bytes = b"", *headers: str, length: int | bool | None = True
) -> bytes:
    """Return a response's bytes: Content-Length from the body unless *length* says otherwise
    (a number to lie, None or False for none)."""
    lines = [f"HTTP/1.1 {status}", *headers]
    if length is True:
        lines.append(f"Content-Length: {len(body)}")
    elif isinstance(length, int) and length is not False:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Scripted:
    """``with Scripted(routes) as server:`` serves on 127.0.0.1 (port 0) in a thread, TLS if given."""

    routes: dict[str, Route]
    tls: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)
    connections: int = 0  # accepted so far
    _counts: Counter[str] = field(default_factory=Counter)

    @property
    def base(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def __enter__(self) -> Scripted:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()

        async def main() -> None:
            self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._stop = asyncio.Event()
            await self._stop.wait()
            self._server.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        def run() -> None:
            self._loop.run_until_complete(main())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the scripted server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _heads(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            try:
                yield await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError):
                return

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.connections += 1
        try:
            async for head in self._heads(reader):
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                path = target.split("?", 1)[0] if not target.startswith("http") else target
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                request = Request(path, headers, self._counts[path])
                self._counts[path] += 1
                self.requests.append(request)
                route = self.routes.get(path, lambda _r: [response("404 Not Found", b"no")])
                for action in route(request):
                    if isinstance(action, bytes):
                        writer.write(action)
                        await writer.drain()
                    elif isinstance(action, Pause):
                        await asyncio.sleep(action.seconds)
                    elif action is RESET:
                        sock = writer.get_extra_info("socket")
                        if sock is not None:
                            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        writer.transport.abort()
                        return
                    elif action is CLOSE:
                        writer.close()
                        return
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
