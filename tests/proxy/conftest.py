"""A ``tulip proxy`` in a thread for each test, the toxiproxy-python client pointed at it, and small
upstreams on loopback (an echo server, a server that sends a blob)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from aiotulip.proxy import ProxyConfig, ProxyThread


@pytest.fixture
def proxy_thread() -> Iterator[ProxyThread]:
    """``tulip proxy`` in a thread, seeded 7; its proxies are ``proxy_thread.running.server.proxies``."""
    thread = ProxyThread(ProxyConfig(port=0, seed=7))
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def api(proxy_thread: ProxyThread) -> str:
    """The API's URL; the toxiproxy-python client talks to it."""
    from toxiproxy.api import APIConsumer

    host, port = proxy_thread.url.removeprefix("http://").rsplit(":", 1)
    APIConsumer.host, APIConsumer.port = host, int(port)  # the client's settings are class attributes
    return proxy_thread.url


class Upstream:
    """A TCP server on a free loopback port, each connection served by *serve* in a thread."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=4096)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.serve = serve
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.serve(conn)

    def close(self) -> None:
        self.sock.close()


def echo(conn: socket.socket) -> None:
    """Send back what comes, until the client's FIN; then FIN."""
    while data := conn.recv(1 << 16):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


@pytest.fixture
def echo_server() -> Iterator[Upstream]:
    server = Upstream(echo)
    yield server
    server.close()


def connect(listen: str, timeout: float = 10.0) -> socket.socket:
    host, port = listen.rsplit(":", 1)
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
