"""A server that misbehaves on purpose, one way per path, written on raw asyncio sockets."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Awaitable, Callable

BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)  # ~200 KB that inflates to 200 MB
GOOD = b"good body\n" * 100

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _response(status: str, body: bytes, *headers: str, length: int | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body) if length is None else length}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _routes(path: str, writer: asyncio.StreamWriter) -> bool:
    """Answer *path*; return whether the connection may stay open."""
    if path == "/good":
        writer.write(_response("200 OK", GOOD))
    elif path == "/shorter-length":  # says 100, sends 150
        writer.write(_response("200 OK", b"a" * 150, length=100))
    elif path == "/longer-length":  # says 1000, sends 500 and hangs up
        writer.write(_response("200 OK", b"b" * 500, length=1000))
        await writer.drain()
        return False
    elif path == "/endless-headers":
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(2_000_000):
            writer.write(f"X-Filler-{i}: {'z' * 60}\r\n".encode())
            if i % 100 == 0:
                await writer.drain()
        return False
    elif path == "/loop":
        writer.write(_response("302 Found", b"", "Location: /loop"))
    elif path == "/to-ftp":
        writer.write(_response("302 Found", b"", "Location: ftp://127.0.0.1/secret"))
    elif path == "/to-file":
        writer.write(_response("301 Moved", b"", "Location: file:///etc/passwd"))
    elif path == "/bomb":
        writer.write(_response("200 OK", BOMB, "Content-Encoding: gzip"))
    elif path == "/silent":
        await asyncio.sleep(3600)
    elif path == "/named":
        writer.write(_response("200 OK", GOOD, 'Content-Disposition: attachment; filename="../../evil.txt"'))
    else:
        writer.write(_response("404 Not Found", b"no\n"))
    await writer.drain()
    return True


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode()
            if not await _routes(path, writer):
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


class HostileServer:
    """``with HostileServer() as base:`` — a misbehaving server on 127.0.0.1 in a thread."""

    def __enter__(self) -> str:
        ready = threading.Event()
        self.loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(_serve, "127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()
            # Tear down like a well-behaved server: stop listening, end every handler, close sockets.
            self.server.close()
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.run_until_complete(self.server.wait_closed())
            self.loop.run_until_complete(asyncio.sleep(0.05))
            self.loop.close()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        ready.wait()
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
