"""tulip proxy in front of servers nobody here wrote: Debian's redis-server (spoken to in RESP over a
raw socket, and with redis-cli) and nginx (asked with curl), driven through toxiproxy's API by the
toxiproxy-python client from PyPI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

from aiotulip.proxy import ProxyConfig, ProxyThread
from tests.needs import binary
from tests.realworld.services import redis_server


@pytest.fixture
def client() -> Iterator[Toxiproxy]:
    thread = ProxyThread(ProxyConfig(port=0, seed=11))
    host, port = thread.start().removeprefix("http://").rsplit(":", 1)
    APIConsumer.host, APIConsumer.port = host, int(port)
    try:
        yield Toxiproxy()
    finally:
        thread.stop()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as address:
        yield address


def resp(*words: bytes) -> bytes:
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in words)


def connect(listen: str) -> socket.socket:
    host, port = listen.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=30)


def ping(sock: socket.socket) -> float:
    started = time.monotonic()
    sock.sendall(resp(b"PING"))
    assert sock.recv(100) == b"+PONG\r\n"
    return time.monotonic() - started


def read_bulk(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n" not in data:
        data += sock.recv(1 << 16)
    header, _, data = data.partition(b"\r\n")
    length = int(header[1:])
    while len(data) < length + 2:
        data += sock.recv(1 << 20)
    return data[:length]


def test_redis_through_a_proxy_meets_latency_bandwidth_reset_and_down(client: Toxiproxy, redis: str) -> None:
    proxy = client.create(upstream=redis, name="redis")
    cli = binary("redis-cli", "redis-tools")
    host, port = proxy.listen.rsplit(":", 1)
    pong = subprocess.run([cli, "-h", host, "-p", port, "PING"], capture_output=True, text=True, timeout=30)
    assert pong.stdout == "PONG\n"
    value = os.urandom(3 << 20)
    with connect(proxy.listen) as sock:
        sock.sendall(resp(b"SET", b"big", value))
        assert sock.recv(100) == b"+OK\r\n"
        assert ping(sock) < 5  # (a bound for a stuck proxy, not a speed goal)
        proxy.add_toxic(type="latency", attributes={"latency": 200})
        assert ping(sock) >= 0.2  # the live connection meets the toxic
        proxy.destroy_toxic("latency_downstream")
        proxy.add_toxic(type="bandwidth", attributes={"rate": 3000})  # 3 MB/s for a 3 MiB value
        started = time.monotonic()
        sock.sendall(resp(b"GET", b"big"))
        assert read_bulk(sock) == value
        assert time.monotonic() - started >= 0.9
        proxy.destroy_toxic("bandwidth_downstream")
        proxy.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 0})
        sock.sendall(resp(b"PING"))
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
    proxy.destroy_toxic("reset_peer_upstream")
    proxy.disable()
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen)
    failed = subprocess.run([cli, "-h", host, "-p", port, "PING"], capture_output=True, text=True, timeout=30)
    assert "Connection refused" in failed.stdout + failed.stderr
    proxy.enable()
    with connect(proxy.listen) as sock:
        assert ping(sock) < 5


def test_the_same_seed_gives_the_same_resets_again(client: Toxiproxy, redis: str) -> None:
    proxy = client.create(upstream=redis, name="redis")

    def outcomes() -> list[str]:
        proxy.add_toxic(type="reset_peer", stream="upstream", toxicity=0.5, attributes={"timeout": 0})
        seen = []
        for _ in range(24):  # one connection after another: the n-th meets the n-th draw
            with connect(proxy.listen) as sock:
                sock.sendall(resp(b"PING"))
                try:
                    seen.append("ok" if sock.recv(100) == b"+PONG\r\n" else "?")
                except ConnectionResetError:
                    seen.append("reset")
        return seen

    first = outcomes()
    client.reset()  # removes the toxics and restarts the draws
    assert outcomes() == first
    assert {"ok", "reset"} == set(first)


@pytest.fixture
def nginx_url(tmp_path: Path) -> Iterator[str]:
    binary("nginx")
    from aiotulip.bench.nginx import Nginx

    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "page.bin").write_bytes(bytes(range(256)) * 100)
    with Nginx(tmp_path / "root") as url:
        yield url


def test_nginx_behind_an_http_error_proxy_counted_by_curl(client: Toxiproxy, nginx_url: str) -> None:
    proxy = client.create(upstream=nginx_url.removeprefix("http://"), name="web")
    curl = binary("curl")

    def statuses() -> list[str]:
        proxy.add_toxic(type="http_error", toxicity=0.3, attributes={"status": 503, "retry_after": 1})
        url = f"http://{proxy.listen}/page.bin"
        # One curl, one keep-alive connection: 503s come in their places among the 200s.
        each = [arg for _ in range(60) for arg in (url, "-o", "/dev/null")]
        command = [curl, "-s", "-w", "%{http_code} %{num_connects}\\n", *each]
        out = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout.splitlines()
        assert sum(int(line.split()[1]) for line in out) == 1  # connected once
        return [line.split()[0] for line in out]

    first = statuses()
    assert len(first) == 60 and set(first) == {"200", "503"}
    assert 5 <= first.count("503") <= 35
    client.reset()
    assert statuses() == first  # the seed replays the run


def test_the_api_answers_curl_as_toxiproxy_would(client: Toxiproxy) -> None:
    curl = binary("curl")
    api = f"http://{APIConsumer.host}:{APIConsumer.port}"
    body = '{"name": "x", "upstream": "127.0.0.1:9"}'
    create = [curl, "-s", "-X", "POST", "-d", body, f"{api}/proxies"]
    assert json.loads(subprocess.run(create, capture_output=True, timeout=30).stdout)["name"] == "x"
    rebound = [curl, "-s", "-H", "Host: attacker.example", f"{api}/proxies"]
    assert json.loads(subprocess.run(rebound, capture_output=True, timeout=30).stdout)["status"] == 403


def test_the_recipe_in_the_docs_runs_as_written(pytester: pytest.Pytester, redis: str) -> None:
    """docs/proxy.md's first example, with a redis address and an app of the user's own around it."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "proxy.md").read_text()
    recipe = page.split("```python\n", 1)[1].split("```", 1)[0]
    own = f"""
import socket

@pytest.fixture(scope="session")
def redis_address():
    return {redis!r}

def my_app_ping(host, port, timeout):
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"*1\\r\\n$4\\r\\nPING\\r\\n")
        assert sock.recv(100) == b"+PONG\\r\\n"
"""
    pytester.makepyfile(test_recipe=recipe + own)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=2)
