"""The epoll set libcurl's sockets are watched in (transports/_curl_sockets): real sockets, the
kernel's own answers. The parking of a socket libcurl stops watching is where it could go wrong: a
socket closed without a word and its number given to the next one must still be watched, and an
idle socket the server closes must not wake the driver forever."""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Iterator

import pycurl
import pytest

from aiotulip.download.transports._curl_sockets import Sockets

BACKENDS = [pytest.param(True, id="epoll"), pytest.param(False, id="selector")]


@pytest.fixture(params=BACKENDS)
def sockets(request: pytest.FixtureRequest) -> Iterator[Sockets]:
    watched = Sockets(epoll=request.param)
    yield watched
    watched.close()


@pytest.fixture
def epoll_sockets() -> Iterator[Sockets]:
    watched = Sockets(epoll=True)
    yield watched
    watched.close()


def _pair() -> tuple[socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


def _reborn(old: socket.socket) -> tuple[int, socket.socket, socket.socket]:
    """Close *old* and give its number to a new connected socket (as libcurl may, between two of
    its callbacks); return the number, the new socket's peer and the socket object holding it."""
    number = old.fileno()
    fresh, peer = _pair()
    old.close()
    os.dup2(fresh.fileno(), number)
    fresh.close()
    holder = socket.socket(fileno=number)
    return number, peer, holder


def _loop_readable(watched: Sockets) -> bool:
    """Whether an event loop watching the set's one descriptor would be woken now."""
    return bool(select.select([watched.fileno()], [], [], 0)[0])


def test_a_socket_is_reported_in_socket_actions_terms(sockets: Sockets) -> None:
    client, server = _pair()
    try:
        sockets.watch(pycurl.POLL_IN, client.fileno())
        assert sockets.ready() == []
        server.sendall(b"x")
        assert sockets.ready(1.0) == [(client.fileno(), pycurl.CSELECT_IN)]
        sockets.watch(pycurl.POLL_INOUT, client.fileno())
        assert sockets.ready(1.0) == [(client.fileno(), pycurl.CSELECT_IN | pycurl.CSELECT_OUT)]
        sockets.watch(pycurl.POLL_OUT, client.fileno())
        assert sockets.ready(1.0) == [(client.fileno(), pycurl.CSELECT_OUT)]
        sockets.watch(pycurl.POLL_REMOVE, client.fileno())
        assert sockets.ready() == []  # (ready to read and to write: nothing asked of it now)
    finally:
        client.close()
        server.close()


def test_a_parked_socket_taken_up_again_is_watched(sockets: Sockets) -> None:
    """A kept-alive connection: watched, left alone between two requests, watched again."""
    client, server = _pair()
    try:
        for _ in range(3):
            sockets.watch(pycurl.POLL_IN, client.fileno())
            server.sendall(b"answer")
            assert sockets.ready(1.0) == [(client.fileno(), pycurl.CSELECT_IN)]
            assert client.recv(100) == b"answer"
            sockets.watch(pycurl.POLL_REMOVE, client.fileno())
            assert sockets.ready() == []
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("parked", [True, False], ids=["parked", "watched"])
def test_a_number_given_to_a_new_socket_is_watched(sockets: Sockets, parked: bool) -> None:
    """libcurl closed the socket without a word and the next connection got its number: the
    registration of the closed one is gone from the kernel's set, and must be made again."""
    client, server = _pair()
    sockets.watch(pycurl.POLL_IN, client.fileno())
    if parked:
        sockets.watch(pycurl.POLL_REMOVE, client.fileno())
    number, peer, holder = _reborn(client)
    try:
        sockets.watch(pycurl.POLL_IN, number)
        peer.sendall(b"new")
        assert sockets.ready(1.0) == [(number, pycurl.CSELECT_IN)]
        assert _loop_readable(sockets)
    finally:
        for each in (server, peer, holder):
            each.close()


def test_an_idle_socket_the_server_closes_wakes_once(epoll_sockets: Sockets) -> None:
    """Parked and then closed by the server: readable for ever after (level-triggered), so it
    leaves the set at its first wake; libcurl finds the connection dead on its own."""
    client, server = _pair()
    try:
        epoll_sockets.watch(pycurl.POLL_IN, client.fileno())
        epoll_sockets.watch(pycurl.POLL_REMOVE, client.fileno())
        server.close()
        assert _loop_readable(epoll_sockets)
        assert epoll_sockets.ready(1.0) == []  # not libcurl's business: it asked nothing of it
        assert not _loop_readable(epoll_sockets)  # no busy loop after
        epoll_sockets.watch(pycurl.POLL_IN, client.fileno())  # libcurl looks at it again after all
        assert epoll_sockets.ready(1.0) == [(client.fileno(), pycurl.CSELECT_IN)]
    finally:
        client.close()


def test_a_broken_connection_is_handed_to_libcurl_as_what_it_asked(sockets: Sockets) -> None:
    """A reset (EPOLLERR|EPOLLHUP) is told as the readiness libcurl asked for, never CSELECT_ERR:
    libcurl reads, and fails or finishes the transfer on what it finds."""
    client, server = _pair()
    try:
        sockets.watch(pycurl.POLL_IN, client.fileno())
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        server.close()  # (linger 0: a reset)
        assert sockets.ready(1.0) == [(client.fileno(), pycurl.CSELECT_IN)]
    finally:
        client.close()


def test_the_wake_pipe_interrupts_a_wait_and_is_drained() -> None:
    for epoll in (True, False):
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        watched = Sockets(wake=wake_r, epoll=epoll)
        try:
            os.write(wake_w, b"xx")
            assert watched.ready(5.0) == []
            assert not _loop_readable(watched)  # drained: the next wait waits
        finally:
            watched.close()
            os.close(wake_r)
            os.close(wake_w)


def test_at_most_so_many_at_once_and_the_rest_next_time(sockets: Sockets) -> None:
    """The event loop takes a few sockets a turn (its other work runs in between): none is lost."""
    pairs = [_pair() for _ in range(5)]
    try:
        for client, server in pairs:
            sockets.watch(pycurl.POLL_IN, client.fileno())
            server.sendall(b"x")
        seen: list[int] = []
        for _ in range(3):
            batch = sockets.ready(1.0, 2)
            assert 1 <= len(batch) <= 2
            seen += [fd for fd, _what in batch]
            for fd in seen:
                sockets.watch(pycurl.POLL_REMOVE, fd)
        assert sorted(seen) == sorted(client.fileno() for client, _server in pairs)
    finally:
        for client, server in pairs:
            client.close()
            server.close()
