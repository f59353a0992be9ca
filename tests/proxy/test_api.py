"""toxiproxy's API, driven by toxiproxy's own Python client (``toxiproxy-python`` from PyPI) and by
hand for the exact statuses and error bodies; and what an attacker would try."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.proxy.conftest import Upstream, connect, read_all


def call(
    api: str, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    host, port = api.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers or {})
    answer = conn.getresponse()
    raw = answer.read()
    conn.close()
    return answer.status, json.loads(raw) if raw else None


def refused(listen: str) -> bool:
    try:
        connect(listen, timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def echoes(listen: str, data: bytes = b"ping") -> bool:
    with connect(listen) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock) == data


def test_the_python_client_creates_lists_disables_enables_and_deletes(
    api: str, echo_server: Upstream
) -> None:
    client = Toxiproxy()
    assert client.running()
    proxy = client.create(upstream=echo_server.address, name="echo")
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert echoes(proxy.listen)
    assert set(client.proxies()) == {"echo"} and client.get_proxy("echo").upstream == echo_server.address
    with pytest.raises(ProxyExists):
        client.create(upstream=echo_server.address, name="echo")
    proxy.disable()
    assert refused(proxy.listen) and client.proxies()["echo"].enabled is False
    proxy.enable()
    assert echoes(proxy.listen)  # the same port again
    with proxy.down():
        assert refused(proxy.listen)
    assert echoes(proxy.listen)
    assert client.destroy(proxy)
    assert client.proxies() == {} and refused(proxy.listen)
    with pytest.raises(NotFound):
        proxy.destroy()
    assert json.loads(client.version())["version"]


def test_the_python_client_adds_and_removes_toxics_and_resets(api: str, echo_server: Upstream) -> None:
    client = Toxiproxy()
    proxy = client.create(upstream=echo_server.address, name="echo")
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    proxy.add_toxic(type="slicer", stream="upstream", attributes={"average_size": 1, "delay": 10})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "slicer_upstream"}
    assert toxics["latency_downstream"].attributes == {"latency": 300, "jitter": 0}
    started = time.monotonic()
    assert echoes(proxy.listen, b"abc")
    assert time.monotonic() - started >= 0.3
    with pytest.raises(ProxyExists):  # 409: a toxic of that name is there
        proxy.add_toxic(type="latency", attributes={"latency": 1})
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="lag")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", name="other", attributes={"latncy": 5})
    proxy.destroy_toxic("latency_downstream")
    assert set(proxy.toxics()) == {"slicer_upstream"}
    proxy.disable()
    assert client.reset()
    assert client.proxies()["echo"].enabled and proxy.toxics() == {}
    started = time.monotonic()
    assert echoes(proxy.listen) and time.monotonic() - started < 0.25


def test_the_python_client_populates(api: str, echo_server: Upstream) -> None:
    client = Toxiproxy()
    listen = f"127.0.0.1:{free_port()}"
    made = client.populate([{"name": "one", "upstream": echo_server.address, "listen": listen}])
    assert [p.name for p in made] == ["one"] and echoes(listen)
    assert client.populate([{"name": "one", "upstream": echo_server.address, "listen": listen}]) == []


def test_populate_over_the_api_replaces_only_what_moved(api: str, echo_server: Upstream) -> None:
    listen = f"127.0.0.1:{free_port()}"
    first = [{"name": "a", "upstream": echo_server.address, "listen": listen}]
    status, body = call(api, "POST", "/populate", first)
    assert status == 201 and [p["listen"] for p in body["proxies"]] == [listen]
    call(api, "POST", "/proxies/a/toxics", {"type": "latency", "attributes": {"latency": 5}})
    status, body = call(api, "POST", "/populate", [*first, {"name": "b", "upstream": echo_server.address}])
    assert status == 201 and [len(p["toxics"]) for p in body["proxies"]] == [1, 0]  # "a" untouched
    status, body = call(api, "POST", "/populate", [{"name": "c", "upstream": "x:1"}, {"upstream": "x:1"}])
    assert (status, body["error"]) == (400, "missing required field: name at proxy 2")
    assert sorted(call(api, "GET", "/proxies")[1]) == ["a", "b"]  # nothing was made
    taken = [{"name": "d", "upstream": "x:1"}, {"name": "e", "upstream": "x:1", "listen": listen}]
    status, body = call(api, "POST", "/populate", taken)
    assert status == 500 and "address already in use" in body["error"]
    assert [p["name"] for p in body["proxies"]] == ["d"]


def test_a_move_to_a_taken_address_leaves_the_proxy_where_it_was(api: str, echo_server: Upstream) -> None:
    """The proxy was left down on the address it could not have, and every /reset then failed."""
    status, proxy = call(api, "POST", "/proxies", {"name": "p", "upstream": echo_server.address})
    assert status == 201 and echoes(proxy["listen"])
    call(api, "POST", "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 1}})
    taken = api.removeprefix("http://")  # (the API's own address)
    status, body = call(api, "POST", "/proxies/p", {"listen": taken})
    assert status == 500 and "address already in use" in body["error"]
    status, now = call(api, "GET", "/proxies/p")
    assert (now["listen"], now["enabled"]) == (proxy["listen"], True) and echoes(proxy["listen"])
    assert call(api, "POST", "/reset") == (204, None)
    assert call(api, "GET", "/proxies/p")[1]["toxics"] == [] and echoes(proxy["listen"])


def test_toxiproxys_shapes_and_statuses(api: str, echo_server: Upstream) -> None:
    assert call(api, "GET", "/proxies") == (200, {})
    status, proxy = call(api, "POST", "/proxies", {"name": "p", "upstream": echo_server.address})
    assert status == 201
    assert proxy == {"name": "p", "listen": proxy["listen"], "upstream": echo_server.address, "enabled": True,
                     "toxics": []}  # fmt: skip
    assert call(api, "POST", "/proxies", {"name": "p", "upstream": "x:1"}) == (
        409, {"error": "proxy already exists", "status": 409},
    )  # fmt: skip
    assert call(api, "GET", "/proxies/nope") == (404, {"error": "proxy not found", "status": 404})
    toxic = {"type": "latency", "stream": "upstream", "toxicity": 0.5, "attributes": {"latency": 10}}
    status, made = call(api, "POST", "/proxies/p/toxics", toxic)
    assert status == 200 and made["name"] == "latency_upstream"
    assert call(api, "GET", "/proxies/p/toxics") == (200, [made])
    status, changed = call(api, "PATCH", "/proxies/p/toxics/latency_upstream", {"attributes": {"jitter": 3}})
    assert (
        status == 200 and changed["attributes"] == {"latency": 10, "jitter": 3} and changed["toxicity"] == 0.5
    )
    assert call(api, "GET", "/proxies/p/toxics/nope") == (404, {"error": "toxic not found", "status": 404})
    assert call(api, "DELETE", "/proxies/p/toxics/latency_upstream") == (204, None)
    assert call(api, "POST", "/proxies/p", {"enabled": False})[1]["enabled"] is False
    assert call(api, "POST", "/reset") == (204, None)
    assert call(api, "GET", "/proxies/p")[1]["enabled"] is True
    assert call(api, "DELETE", "/proxies/p") == (204, None)
    assert call(api, "GET", "/nothing/here")[0] == 404
    assert call(api, "PUT", "/proxies")[0] == 405


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "bad request body: "),
        (b"", "bad request body: EOF"),
        (b"\xff\xfe", "bad request body: "),
        (b"[" * 50_000 + b"]" * 50_000, "bad request body: "),
        (json.dumps({"name": "a/b", "upstream": "x:1"}).encode(), "cannot be part of a URL path"),
        # (made, then never found again: DELETE /proxies/x%2Fy reached "x/y")
        (json.dumps({"name": "x%2Fy", "upstream": "x:1"}).encode(), "cannot be part of a URL path"),
        (json.dumps({"name": "a?b", "upstream": "x:1"}).encode(), "cannot be part of a URL path"),
        (json.dumps({"name": "a", "upstream": "x:1", "listen": "0.0.0.0:0"}).encode(), "not a loopback"),
        (json.dumps({"name": "a", "upstream": "x:1", "listen": "[::]:0"}).encode(), "not a loopback"),
        (json.dumps({"name": "a", "upstream": "x:1", "listen": ":0"}).encode(), "not a loopback"),
        (json.dumps({"name": "a", "upstream": "x:1", "colour": "red"}).encode(), "colour is not a field"),
        # (toxiproxy ignores them: a config file's toxics were dropped without a word)
        (
            json.dumps({"name": "a", "upstream": "x:1", "toxics": [{"type": "latency"}]}).encode(),
            "toxics: a proxy's toxics are added with POST /proxies/NAME/toxics",
        ),
        (json.dumps({"name": "a", "upstream": "x:1", "toxics": "nonsense"}).encode(), "toxics: "),
    ],
)
def test_bad_proxies_are_400s_that_name_the_field(api: str, body: bytes, words: str) -> None:
    status, answer = call(api, "POST", "/proxies", body)
    assert status == 400 and words in answer["error"] and answer["status"] == 400
    assert call(api, "GET", "/proxies") == (200, {})


def test_a_huge_body_is_refused_without_being_kept(api: str) -> None:
    status, answer = call(api, "POST", "/populate", b"[" + b" " * (2 << 20) + b"]")
    assert status == 413 and answer["status"] == 413


def test_names_with_slashes_and_dots_reach_nothing(api: str, echo_server: Upstream) -> None:
    call(api, "POST", "/proxies", {"name": "p", "upstream": echo_server.address})
    for path in ("/proxies/p%2Ftoxics", "/proxies/..%2Fproxies", "/proxies/p/toxics/%2E%2E", "/proxies/%00"):
        assert call(api, "GET", path)[0] == 404, path
    assert call(api, "DELETE", "/proxies/p/toxics/..")[0] == 404
    assert "p" in call(api, "GET", "/proxies")[1]


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example:8474"},
        {"Host": "127.0.0.1.nip.io"},
        {"Host": "10.1.2.3"},
        {"Host": "localhost", "Origin": "http://evil.example"},
        {"Host": "localhost", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"},
    ],
)
def test_a_rebound_name_or_a_browser_gets_403(api: str, headers: dict[str, str]) -> None:
    for method, path, body in (
        ("GET", "/proxies", None),
        ("POST", "/proxies", {"name": "x", "upstream": "y:1"}),
    ):
        status, answer = call(api, method, path, body, headers)
        assert status == 403 and answer["status"] == 403
    assert call(api, "GET", "/proxies", headers={"Host": "localhost:1"}) == (200, {})


def test_the_cli_starts_the_proxies_of_a_config_file(tmp_path: Path, echo_server: Upstream) -> None:
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "toxiproxy.json"
    config.write_text(json.dumps([{"name": "web", "listen": listen, "upstream": echo_server.address}]))
    command = [
        sys.executable,
        "-m",
        "aiotulip",
        "proxy",
        "--port",
        "0",
        "--config",
        str(config),
        "--seed",
        "3",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("tulip proxy: API http://127.0.0.1:") and "seed 3" in first
            assert proc.stdout.readline().strip() == f"tulip proxy: web: {listen} -> {echo_server.address}"
            assert echoes(listen)
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
    config.write_text('[{"name": "web"}]')
    bad = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "missing required field: upstream at proxy 1" in bad.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
