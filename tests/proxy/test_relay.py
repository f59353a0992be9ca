"""Bytes through a proxy on real loopback sockets: intact both ways with and without toxics, FINs
passed on as half-closes, resets passed on as resets, bounded memory for a client that never reads,
thousands of connections at once, toxics reaching live connections."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.proxy import Proxy

from aiotulip.proxy import ProxyThread
from aiotulip.shared.limits import raise_open_file_limit
from aiotulip.shared.sockets import reset
from tests.proxy.conftest import Upstream, connect, read_all


@pytest.fixture
def client(api: str) -> Toxiproxy:
    return Toxiproxy()


def digest_after_eof(conn: socket.socket) -> None:
    """Read until the client's FIN, then answer with the sha256 of it all (a half-close is needed)."""
    conn.sendall(hashlib.sha256(read_all(conn)).digest())


def talk(listen: str, payload: bytes) -> bytes:
    """Send *payload* from one thread while reading in another, then half-close; return all read."""
    with connect(listen, timeout=30) as sock:
        sender = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(socket.SHUT_WR)))
        sender.start()
        answer = read_all(sock)
        sender.join()
    return answer


SLICER = {"type": "slicer", "attributes": {"average_size": 65536, "size_variation": 1000}}


@pytest.mark.parametrize("toxic", [None, {"type": "latency", "attributes": {"latency": 1}}, SLICER])
def test_bytes_arrive_intact_both_ways(client: Toxiproxy, echo_server: Upstream, toxic: dict | None) -> None:
    proxy = client.create(upstream=echo_server.address, name="echo")
    if toxic:
        proxy.add_toxic(stream="upstream", **toxic)
        proxy.add_toxic(stream="downstream", **toxic)
    payload = os.urandom(6 << 20)
    assert talk(proxy.listen, payload) == payload


@pytest.mark.parametrize("latency", [0, 50])
def test_a_half_close_is_passed_on_and_the_answer_still_comes(client: Toxiproxy, latency: int) -> None:
    upstream = Upstream(digest_after_eof)
    proxy = client.create(upstream=upstream.address, name="digest")
    if latency:
        proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": latency})
    payload = os.urandom(3 << 20)
    assert talk(proxy.listen, payload) == hashlib.sha256(payload).digest()
    upstream.close()


def test_a_reset_upstream_resets_the_client(client: Toxiproxy) -> None:
    def reset_at_once(conn: socket.socket) -> None:
        conn.recv(10)
        reset(socket.socket(fileno=os.dup(conn.fileno())))

    upstream = Upstream(reset_at_once)
    proxy = client.create(upstream=upstream.address, name="r")
    with connect(proxy.listen) as sock:
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
    upstream.close()


def test_an_upstream_that_refuses_gets_the_client_closed(client: Toxiproxy) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]
    proxy = client.create(upstream=f"127.0.0.1:{closed_port}", name="nobody")
    with connect(proxy.listen) as sock:
        assert sock.recv(10) == b""


def sender(total: int, sent: list[int]) -> object:
    def send(conn: socket.socket) -> None:
        block = b"x" * (1 << 16)
        conn.settimeout(30)
        while sent[0] < total:
            sent[0] += conn.send(block)

    return send


@pytest.mark.parametrize("toxic", [None, {"type": "latency", "attributes": {"latency": 1}}])
def test_a_client_that_never_reads_holds_the_upstream_back(client: Toxiproxy, toxic: dict | None) -> None:
    sent = [0]
    upstream = Upstream(sender(500 << 20, sent))  # type: ignore[arg-type]
    proxy = client.create(upstream=upstream.address, name="flood")
    if toxic:
        proxy.add_toxic(**toxic)
    with connect(proxy.listen) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        time.sleep(1.0)
        first = sent[0]
        time.sleep(0.5)
        assert sent[0] == first  # the upstream is held back ...
        assert first < 48 << 20  # ... with socket buffers, a pipe and at most 4 MiB queued between
        assert sock.recv(1 << 16)  # and what was held comes through
    upstream.close()


def test_two_thousand_connections_at_once(client: Toxiproxy) -> None:
    raise_open_file_limit()
    count = 2000

    async def main() -> list[bytes]:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        proxy = await asyncio.to_thread(client.create, upstream=f"127.0.0.1:{port}", name="many")
        host, listen_port = proxy.listen.rsplit(":", 1)
        opening = (asyncio.open_connection(host, int(listen_port)) for _ in range(count))
        opened = await asyncio.gather(*opening)
        for number, (_reader, writer) in enumerate(opened):  # every one open before any is answered
            writer.write(b"line %d\n" % number)
        answers = await asyncio.gather(*(reader.read() for reader, _writer in opened))
        for _reader, writer in opened:
            writer.close()
        server.close()
        return answers

    answers = asyncio.run(main())
    assert answers == [b"line %d\n" % number for number in range(count)]


def test_a_toxic_reaches_a_live_connection_and_leaves_it(client: Toxiproxy, echo_server: Upstream) -> None:
    proxy = client.create(upstream=echo_server.address, name="live")

    def round_trip(sock: socket.socket) -> float:
        started = time.monotonic()
        sock.sendall(b"ping")
        assert sock.recv(10) == b"ping"
        return time.monotonic() - started

    with connect(proxy.listen) as sock:
        assert round_trip(sock) < 0.2
        proxy.add_toxic(type="latency", attributes={"latency": 300})
        assert round_trip(sock) >= 0.3
        proxy.destroy_toxic("latency_downstream")
        assert round_trip(sock) < 0.2  # back to the kernel's way


@pytest.fixture
def blob() -> Iterator[Upstream]:
    def send_blob(conn: socket.socket) -> None:
        conn.sendall(bytes(range(256)) * 400)  # 102,400 bytes, then FIN

    server = Upstream(send_blob)
    yield server
    server.close()


def test_limit_data_passes_its_bytes_then_closes(client: Toxiproxy, blob: Upstream) -> None:
    proxy = client.create(upstream=blob.address, name="limited")
    proxy.add_toxic(type="limit_data", attributes={"bytes": 1000})
    with connect(proxy.listen) as sock:
        assert read_all(sock) == (bytes(range(256)) * 4)[:1000]


def test_timeout_passes_nothing_and_closes_when_due(client: Toxiproxy, echo_server: Upstream) -> None:
    proxy = client.create(upstream=echo_server.address, name="silent")
    proxy.add_toxic(type="timeout", attributes={"timeout": 300})
    with connect(proxy.listen) as sock:
        started = time.monotonic()
        sock.sendall(b"anyone there?")
        assert read_all(sock) == b""
        assert time.monotonic() - started >= 0.29


def test_slicer_and_slow_close_take_their_time(client: Toxiproxy, blob: Upstream) -> None:
    proxy = client.create(upstream=blob.address, name="slow")
    # 10 pieces, 20 ms apart:
    proxy.add_toxic(type="slicer", attributes={"average_size": 10_240, "delay": 20_000})
    for toxic, at_least in ((None, 0.18), ({"type": "slow_close", "attributes": {"delay": 400}}, 0.4)):
        if toxic:
            proxy.add_toxic(**toxic)
        with connect(proxy.listen) as sock:
            started = time.monotonic()
            assert read_all(sock) == bytes(range(256)) * 400
            assert time.monotonic() - started >= at_least


def test_reset_peer_and_disabling_end_live_connections(client: Toxiproxy, echo_server: Upstream) -> None:
    proxy = client.create(upstream=echo_server.address, name="ends")
    with connect(proxy.listen) as sock:
        proxy.disable()
        assert sock.recv(10) == b""
    proxy.enable()
    proxy.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 100})
    with connect(proxy.listen) as sock:
        sock.sendall(b"never echoed")
        started = time.monotonic()
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
        assert time.monotonic() - started >= 0.09


def test_http_toxics_on_a_keep_alive_http_upstream(client: Toxiproxy) -> None:
    import http.client

    from aiotulip.serve import ServeConfig, ServerThread

    with ServerThread(ServeConfig(files=1, size=(50_000, 50_000))) as base:
        proxy: Proxy = client.create(upstream=base.removeprefix("http://"), name="web")
        host, port = proxy.listen.rsplit(":", 1)
        path = "/files/file-00000.bin"
        direct = http.client.HTTPConnection(*base.removeprefix("http://").rsplit(":", 1), timeout=10)
        direct.request("GET", path)
        body = direct.getresponse().read()
        direct.close()

        def get(conn: http.client.HTTPConnection) -> tuple[int, bytes, dict[str, str]]:
            conn.request("GET", path)
            answer = conn.getresponse()
            return answer.status, answer.read(), dict(answer.getheaders())

        proxy.add_toxic(type="http_error", attributes={"status": 503, "retry_after": 3})
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        status, text, headers = get(conn)
        assert (status, headers["Retry-After"]) == (503, "3") and b"injected fault 503" in text
        proxy.destroy_toxic("http_error_downstream")
        assert get(conn)[:2] == (200, body)  # the same keep-alive connection, answered by the upstream
        proxy.add_toxic(type="http_corrupt", attributes={"bytes": 4})
        corrupt = get(conn)[1]
        assert len(corrupt) == len(body) and 1 <= sum(a != b for a, b in zip(corrupt, body, strict=True)) <= 4
        proxy.destroy_toxic("http_corrupt_downstream")
        proxy.add_toxic(type="http_delay_headers", attributes={"delay": 300})
        started = time.monotonic()
        assert get(conn)[:2] == (200, body) and time.monotonic() - started >= 0.3
        proxy.destroy_toxic("http_delay_headers_downstream")
        proxy.add_toxic(type="http_truncate")
        with pytest.raises(http.client.IncompleteRead):
            get(conn)
        conn.close()
        with connect(proxy.listen) as sock:
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            assert read_all(sock).startswith(b"HTTP/1.1 501 Not Implemented\r\n")


def test_a_proxy_that_leads_to_itself_is_cut_at_once(api: str, client: Toxiproxy) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{spare.getsockname()[1]}"
    proxy = client.create(upstream=address, name="loop", listen=address)
    with connect(proxy.listen) as sock:
        assert read_all(sock) == b""  # not a connection to itself and another and another ...
    other = client.create(upstream=proxy.listen, name="into-the-loop")  # two proxies make a loop too
    proxy.destroy()
    client.create(upstream=other.listen, name="loop", listen=address)
    with connect(other.listen) as sock:
        assert read_all(sock) == b""


def test_pipelined_requests_never_read_are_held_back(
    client: Toxiproxy, echo_server: Upstream, proxy_thread: ProxyThread
) -> None:
    proxy = client.create(upstream=echo_server.address, name="flood")
    proxy.add_toxic(type="http_error", attributes={"status": 503})  # tulip answers them all itself
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(proxy.listen) as sock:
        sock.setblocking(False)
        deadline = time.monotonic() + 20
        moved = time.monotonic()
        while time.monotonic() - moved < 1.0:  # until the proxy reads nothing more for a second
            assert time.monotonic() < deadline, "the proxy kept reading requests whose answers pile up"
            try:
                sock.send(request * 1000)
                moved = time.monotonic()
            except BlockingIOError:
                time.sleep(0.01)
        assert proxy_thread.running is not None
        (link,) = proxy_thread.running.server.proxies["flood"].links
        assert link.down.queued < 6 << 20  # at most 4 MiB of answers wait, and the requests with them
        sock.setblocking(True)
        assert sock.recv(100).startswith(b"HTTP/1.1 503")


def test_bytes_stay_whole_while_toxics_come_and_go(client: Toxiproxy, echo_server: Upstream) -> None:
    """Between the kernel's path and the toxics' path, mid-transfer, many times: nothing lost or doubled."""
    proxy = client.create(upstream=echo_server.address, name="switching")
    stop = threading.Event()
    turns = [0]

    def toggle() -> None:
        toxics = [("latency", {"latency": 1}), ("slicer", {"average_size": 50_000, "size_variation": 100}),
                  ("bandwidth", {"rate": 200_000})]  # fmt: skip
        turn = 0
        while not stop.is_set():
            kind, attributes = toxics[turn % len(toxics)]
            stream = ("upstream", "downstream")[turn % 2]
            proxy.add_toxic(type=kind, stream=stream, attributes=attributes)
            time.sleep(0.01)
            proxy.destroy_toxic(f"{kind}_{stream}")
            time.sleep(0.01)
            turn += 1
            turns[0] = turn

    toggler = threading.Thread(target=toggle)
    toggler.start()
    try:
        payload = os.urandom(40 << 20)
        assert talk(proxy.listen, payload) == payload
    finally:
        stop.set()
        toggler.join()
    assert turns[0] >= 3  # it did switch, mid-transfer
