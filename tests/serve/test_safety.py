"""Nothing outside the root is ever served; many connections at once are all answered."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from aiotulip.serve import Faults, ServeConfig, serving
from aiotulip.serve.corpus import DirectoryCorpus
from aiotulip.shared.limits import raise_open_file_limit
from tests.aio import aio, raw_request

SECRET = b"TOP-SECRET-CONTENT"

TRAVERSALS = [
    "/files/../secret.txt",
    "/files/..%2fsecret.txt",
    "/files/%2e%2e/secret.txt",
    "/files/%2e%2e%2fsecret.txt",
    "/files/%252e%252e%252fsecret.txt",
    "/files/sub/../../secret.txt",
    "/files/sub/%2e%2e/%2e%2e/secret.txt",
    "/files/./../secret.txt",
    "/files//etc/passwd",
    "/files/%2fetc%2fpasswd",
    "/files/%2F..%2F..%2Fsecret.txt",
    "/files/..\\secret.txt",
    "/files/%5c..%5csecret.txt",
    "/files/inside.txt%00../../secret.txt",
    "/files/%00",
    "/files/%c0%ae%c0%ae/secret.txt",
    "/files/....//secret.txt",
    "/files/link-out",
    "/files/dir-out/secret.txt",
    "/files/sub/link-up",
    "http://127.0.0.1/files/../secret.txt",
    "/files/" + "../" * 30 + "etc/passwd",
    "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/files/.%2e/secret.txt",
]


@pytest.fixture
def jail(tmp_path: Path) -> Path:
    """A root with an inside file, and a secret beside it reachable only by escaping."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "inside.txt").write_bytes(b"inside")
    (root / "sub" / "deep.txt").write_bytes(b"deep")
    os.symlink(tmp_path / "secret.txt", root / "link-out")
    os.symlink(tmp_path, root / "dir-out")
    os.symlink("../../secret.txt", root / "sub" / "link-up")
    os.symlink("inside.txt", root / "link-in")  # stays inside: allowed
    return root


@aio
async def test_traversal_attempts_never_leave_the_root(jail: Path) -> None:
    assert len(TRAVERSALS) >= 12
    async with serving(ServeConfig(root=jail)) as base:
        for target in TRAVERSALS:
            status, body = await raw_request(base, target)
            assert SECRET not in body, target
            assert b"root:" not in body, target
            assert status in (400, 404), (target, status)
        # ... while what lies inside is served, through a symlink that stays inside too.
        assert await raw_request(base, "/files/inside.txt") == (200, b"inside")
        assert await raw_request(base, "/files/sub/deep.txt") == (200, b"deep")
        assert await raw_request(base, "/files/link-in") == (200, b"inside")
        assert await raw_request(base, "/files/sub/%64eep.txt") == (200, b"deep")


@aio
async def test_manifest_lists_nothing_outside_the_root(jail: Path) -> None:
    async with (
        serving(ServeConfig(root=jail)) as base,
        aiohttp.ClientSession() as session,
        session.get(f"{base}/manifest.json") as resp,
    ):
        names = [f["name"] for f in (await resp.json())["files"]]
    assert sorted(names) == ["inside.txt", "link-in", "sub/deep.txt"]


def test_lookup_refuses_escaping_names(jail: Path) -> None:
    corpus = DirectoryCorpus(jail)
    for name in ["../secret.txt", "/etc/passwd", "sub/../../secret.txt", "a\x00b", "", ".", "sub//deep.txt",
                 "link-out", "dir-out/secret.txt", "sub", "..\\secret.txt"]:  # fmt: skip
        assert corpus.lookup(name) is None, name
    assert corpus.lookup("sub/deep.txt") is not None


@aio
async def test_two_thousand_concurrent_delayed_connections() -> None:
    raise_open_file_limit()
    n = 2000
    config = ServeConfig(files=10, size=(1024, 1024), faults=Faults(delay=1.0))
    async with serving(config) as base:
        host, port = base.removeprefix("http://").rsplit(":", 1)

        async def one(i: int) -> int:
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                writer.write(f"GET /files/file-0000{i % 10}.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                await reader.readexactly(1024)
                return int(head.split(b" ", 2)[1])
            finally:
                writer.close()

        statuses = await asyncio.gather(*(one(i) for i in range(n)))
        async with aiohttp.ClientSession() as session, session.get(f"{base}/_tulip/stats") as resp:
            stats = await resp.json()
    assert statuses == [200] * n
    assert stats["requests"] == n
    assert stats["peak_connections"] >= n  # all held at once: every one waited out the delay


def test_a_connection_dripping_its_headers_is_closed_after_the_header_timeout() -> None:
    import socket as socketlib
    import time as timelib

    from aiotulip.serve import ServerThread

    with ServerThread(ServeConfig(files=1, header_timeout=0.5)) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with socketlib.create_connection((host, int(port)), timeout=10) as slow:
            slow.sendall(b"GET /files/file-00000.bin HTTP/1.1\r\nHost: x\r\n")  # and never the end
            started = timelib.monotonic()
            assert slow.recv(1) == b""  # closed by the server ...
            assert timelib.monotonic() - started >= 0.4  # ... once its time was up, not before
        # A whole request in time is answered, and its keep-alive connection is not cut at 0.5 s.
        with socketlib.create_connection((host, int(port)), timeout=10) as honest:
            honest.sendall(b"GET /files/file-00000.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            assert honest.recv(65536).startswith(b"HTTP/1.1 200")
            timelib.sleep(1.0)
            honest.sendall(b"GET /files/file-00000.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            assert honest.recv(65536).startswith(b"HTTP/1.1 200")
        stats = json.loads(urllib.request.urlopen(f"{url}/_tulip/stats", timeout=10).read())
    assert stats["header_timeouts"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/..%2fprivate/x",
        "/%2e%2e%2fprivate/x",
        "/..%2Fprivate%2Fx",
        "/x/..%2f..%2fprivate/x",
        "/%252e%252e/private/x",
        "/..%5cprivate/x",
        "/x/%2e%2e%5c%2e%2e%5cprivate/x",
    ],
)
def test_the_proxy_prefix_holds_however_a_dot_segment_is_spelled(path: str) -> None:
    """An encoded slash or backslash let `..` through to an upstream that decodes it (nginx and
    http.server reached /private/ from /public/)."""
    import socket

    from aiotulip.serve import ServeConfig, ServerThread

    with (
        ServerThread(ServeConfig(files=1)) as upstream,
        ServerThread(ServeConfig(upstream=f"{upstream}/files/")) as proxy,
    ):
        host, port = proxy.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
