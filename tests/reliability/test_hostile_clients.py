"""Hostile clients against tulip serve: nothing outside the root is served, and the server keeps
answering honest clients through garbage, idle hordes and slow-drip headers."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

from aiotulip.serve import ServeConfig, serving
from aiotulip.shared.limits import raise_open_file_limit
from tests.aio import aio, raw_request

SECRET = b"SECRET-BYTES-OUTSIDE-ROOT"

MORE_TRAVERSALS = [
    "/files/%2e%2e%2f%2e%2e%2fsecret",
    "/files/%252e%252e/secret",
    "/files/..%5c..%5csecret",
    "/files/.%2e/.%2e/secret",
    "/files/%c0%ae%c0%ae%c0%afsecret",
    "/files/%e0%80%ae%e0%80%ae/secret",
    "/files/..;/secret",
    "/files/%u002e%u002e/secret",
    "/files/sub%2f..%2f..%2fsecret",
    "/files/ok.txt/../../secret",
    "/files/\\..\\..\\secret",
    "/files/..%00/secret",
    "/files/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "//files/../secret",
    "/files/escape/secret",
]


def _jail(tmp: Path) -> Path:
    (tmp / "secret").write_bytes(SECRET)
    root = tmp / "root"
    (root / "sub").mkdir(parents=True)
    (root / "ok.txt").write_bytes(b"fine")
    os.symlink(tmp, root / "escape")
    return root


@aio
async def test_more_traversal_encodings(tmp_path: Path) -> None:
    async with serving(ServeConfig(root=_jail(tmp_path))) as base:
        for target in MORE_TRAVERSALS:
            status, body = await raw_request(base, target)
            assert SECRET not in body, target
            assert status in (400, 404), (target, status)
        assert await raw_request(base, "/files/ok.txt") == (200, b"fine")


async def _send_raw(base: str, data: bytes) -> bytes:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


@aio
async def test_malformed_requests_get_400_and_the_server_goes_on(tmp_path: Path) -> None:
    garbage = [
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /files/ok.txt HTTP/9.9\r\n\r\n",
        b"GET /files/ok.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /files/ok.txt HTTP/1.1\r\n" + b"X: " + b"y" * 100_000 + b"\r\n\r\n",
        b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    async with serving(ServeConfig(root=_jail(tmp_path))) as base:
        for data in garbage:
            answer = await _send_raw(base, data)
            assert answer == b"" or answer.split(b" ", 2)[1] in (
                b"400",
                b"404",
                b"405",
                b"413",
                b"431",
                b"505",
            ), (
                data[:40],
                answer[:80],
            )
            assert SECRET not in answer
        assert await raw_request(base, "/files/ok.txt") == (200, b"fine")


@aio
async def test_thousands_of_idle_connections_and_slow_headers(tmp_path: Path) -> None:
    raise_open_file_limit()
    async with serving(ServeConfig(root=_jail(tmp_path))) as base:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        idle = []
        for _ in range(3000):
            sock = socket.create_connection((host, int(port)))
            idle.append(sock)
        slow = []
        for _ in range(20):  # slowloris: a header line trickling in, never finished
            _reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /files/ok.txt HTTP/1.1\r\nX-Slow: ")
            slow.append(writer)
        try:
            for _ in range(5):
                for writer in slow:
                    writer.write(b"a")
                started = time.monotonic()
                assert await raw_request(base, "/files/ok.txt") == (200, b"fine")
                assert time.monotonic() - started < 2
                await asyncio.sleep(0.1)
        finally:
            for sock in idle:
                sock.close()
            for writer in slow:
                writer.close()
