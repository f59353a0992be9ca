"""The admin (/__admin) and control (/_tulip) APIs as an attacker meets them: other hosts, Host
header tricks (DNS rebinding), foreign origins (CSRF), bodies too large, too deep or of another
type, paths out of __files."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotulip.serve import ServeConfig, ServerThread
from aiotulip.serve.guard import Guard


def raw(url: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    """Send one request with exactly these headers (Host included); return status and body."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


@pytest.fixture
def server() -> Iterator[str]:
    with ServerThread(ServeConfig(files=1)) as url:
        yield url


def test_the_host_header_must_name_this_server(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    for path in ("/__admin/mappings", "/_tulip/stats"):
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert raw(server, "GET", path, {"Host": host})[0] == 200, (path, host)
        for host in ("evil.example:" + port, "evil.example", f"127.0.0.1:{int(port) + 1}", "127.0.0.1",
                     f"localhost.evil.example:{port}", "", f"127.0.0.1:{port}@evil", "[::1"):  # fmt: skip
            status, body = raw(server, "GET", path, {"Host": host} if host else {})
            assert status in (400, 403), (path, host, status)
            assert len(body.strip().splitlines()) <= 1
    assert raw(server, "GET", "/files/file-00000.bin", {"Host": "anything.example"})[0] == 200  # files: any


def test_a_foreign_origin_is_refused(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    host = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json"}
    assert raw(server, "POST", "/__admin/reset", host | {"Origin": "https://evil.example"})[0] == 403
    assert raw(server, "PUT", "/_tulip/faults", host | {"Origin": "null"}, b'{"error_rate": 1}')[0] == 403
    assert raw(server, "POST", "/__admin/reset", host | {"Origin": f"http://localhost:{port}"})[0] == 200


def test_bodies_are_checked_for_type_size_and_depth(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    host = {"Host": f"127.0.0.1:{port}"}
    mapping = json.dumps({"request": {"url": "/x"}}).encode()
    # A browser's request (it says Origin) of another type would have needed no preflight: refused.
    browser = host | {"Origin": f"http://127.0.0.1:{port}"}
    for marks in ({"Content-Type": "text/plain"}, {"Sec-Fetch-Mode": "no-cors"}):
        assert raw(server, "POST", "/__admin/mappings", browser | marks, mapping)[0] == 415
    # curl -d '{...}', as WireMock's own examples write it: a form's type, no browser's marks (a 415 once)
    form = host | {"Content-Type": "application/x-www-form-urlencoded"}
    assert raw(server, "POST", "/__admin/mappings", form, mapping)[0] == 201
    assert raw(server, "POST", "/__admin/mappings/new", form, mapping)[0] == 201  # (WireMock 1's path)
    json_type = host | {"Content-Type": "application/json"}
    big = b'{"request": {"url": "/' + b"x" * (2 * 1024 * 1024) + b'"}}'
    assert raw(server, "POST", "/__admin/mappings", json_type, big)[0] == 413
    deep = b"[" * 100_000 + b"]" * 100_000
    status, body = raw(server, "POST", "/__admin/mappings", json_type, deep)
    assert status == 400 and len(body.strip().splitlines()) == 1
    nested = json.dumps({"request": {"bodyPatterns": [{"equalToJson": _deep(100)}]}}).encode()
    status, body = raw(server, "POST", "/__admin/mappings", json_type, nested)
    assert status == 400 and b"deeper" in body
    # JSON parses this, but reading the pattern would recurse through 300 "and"s: refused by depth.
    matcher = '{"and": [' * 300 + '{"equalTo": "x"}' + "]}" * 300
    for path, document in (
        ("/__admin/mappings", '{"request": {"headers": {"A": ' + matcher + "}}}"),
        ("/__admin/requests/count", '{"headers": {"A": ' + matcher + "}}"),
    ):
        status, body = raw(server, "POST", path, json_type, document.encode())
        assert status == 400 and b"deeper" in body, path
    assert raw(server, "PUT", "/_tulip/faults", host, b"[" * 100_000)[0] == 400
    assert raw(server, "GET", "/__admin/mappings", host)[0] == 200  # and the server goes on


def _deep(n: int) -> object:
    value: object = 1
    for _ in range(n):
        value = {"a": value}
    return value


def test_clients_off_loopback_need_admin_allow() -> None:
    plain, allowing = Guard(), Guard(allow=["10.0.0.0/8"])
    for remote in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert plain.client_allowed(remote)
    for remote in ("10.1.2.3", "192.168.1.4", "", "2001:db8::1", "not an address"):
        assert not plain.client_allowed(remote)
    assert allowing.client_allowed("10.1.2.3") and not allowing.client_allowed("192.168.1.4")


def test_body_files_never_leave_files(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    root = tmp_path / "stubs"
    (root / "mappings").mkdir(parents=True)
    (root / "__files").mkdir()
    (root / "__files" / "ok.txt").write_text("inside")
    os.symlink(tmp_path / "secret.txt", root / "__files" / "link-out")
    with ServerThread(ServeConfig(files=0, mappings=root)) as url:
        port = url.rsplit(":", 1)[1]
        headers = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json"}
        for name in ("../secret.txt", "/etc/passwd", "a/../../secret.txt", "link-out", "..\\secret.txt",
                     "ok.txt\x00x", "C:/secret.txt", "./ok.txt", "nothing.txt"):  # fmt: skip
            mapping = {"request": {"url": "/leak"}, "response": {"bodyFileName": name}}
            status, body = raw(url, "POST", "/__admin/mappings", headers, json.dumps(mapping).encode())
            assert status == 400 and b"bodyFileName" in body, name
            assert b"TOP-SECRET" not in raw(url, "GET", "/leak", {"Host": "x"})[1]
        mapping = {"request": {"url": "/ok"}, "response": {"bodyFileName": "ok.txt"}}
        assert raw(url, "POST", "/__admin/mappings", headers, json.dumps(mapping).encode())[0] == 201
        assert raw(url, "GET", "/ok", {"Host": "x"}) == (200, b"inside")


def test_a_json_body_is_read_to_its_end_however_it_comes(server: str) -> None:
    """One read took what had come so far: a body sent in two goes (a client that paused), or
    any over ~600 KB, was cut and refused as "not JSON"."""
    port = server.rsplit(":", 1)[1]
    body = json.dumps({"request": {"urlPath": "/paused"}, "response": {"status": 201}}).encode()
    head = (f"POST /__admin/mappings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock:
        sock.sendall(head + body[:10])
        time.sleep(0.3)
        sock.sendall(body[10:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    stubs = [{"request": {"method": "POST", "urlPath": f"/api/{i}",
                          "bodyPatterns": [{"equalToJson": {"k": list(range(50)), "s": "v" * 500}}]},
              "response": {"status": 200}} for i in range(1000)]  # fmt: skip
    large = json.dumps({"mappings": stubs}).encode()
    assert 800_000 < len(large) < 1_000_000
    curl = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
         "--data-binary", "@-", f"{server}/__admin/mappings/import"],
        input=large, capture_output=True, timeout=60,
    )  # fmt: skip
    assert curl.stdout == b"200", curl
    status, listed = raw(server, "GET", "/__admin/mappings", {"Host": f"127.0.0.1:{port}"})
    assert status == 200 and json.loads(listed)["meta"]["total"] == 1001


def test_a_chunked_body_too_large_is_refused_without_a_size_it_does_not_know(server: str) -> None:
    """It said "not 1048577": how far it was read, not the body's size (2 MB here)."""
    port = server.rsplit(":", 1)[1]
    chunk = b"x" * (1 << 20)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(2)) + b"0\r\n\r\n"
    head = (f"POST /__admin/mappings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock:
        sock.sendall(head)
        with contextlib.suppress(OSError):  # (refused before its end: the server may close meanwhile)
            sock.sendall(body)
        answer = b""
        while chunk_read := sock.recv(65536):
            answer += chunk_read
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert answer.endswith(b"a body of at most 1048576 bytes, not more than 1048576\n"), answer[-100:]
