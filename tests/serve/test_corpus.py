"""Both corpora through a real server: bytes, sha256, Range, HEAD, conditional requests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import aiohttp
import pytest

from aiotulip.serve import ServeConfig, serving
from aiotulip.serve.corpus import BLOCK, SyntheticCorpus
from tests.aio import aio


async def manifest_of(session: aiohttp.ClientSession, base: str) -> list[dict]:
    async with session.get(f"{base}/manifest.json") as resp:
        assert resp.status == 200
        return (await resp.json())["files"]


async def get(session: aiohttp.ClientSession, url: str, **kw) -> tuple[int, bytes, aiohttp.ClientResponse]:
    async with session.get(url, **kw) as resp:
        return resp.status, await resp.read(), resp


@aio
async def test_synthetic_files_match_manifest_and_are_seeded() -> None:
    config = ServeConfig(files=12, size=(1, 200_000), seed=7)
    async with serving(config) as base, aiohttp.ClientSession() as session:
        files = await manifest_of(session, base)
        assert [f["name"] for f in files] == [f"file-{i:05d}.bin" for i in range(12)]
        assert len({f["size"] for f in files}) > 6  # sizes are drawn from the range
        assert all(1 <= f["size"] <= 200_000 for f in files)
        for f in files:
            status, body, _ = await get(session, base + f["url"])
            assert status == 200
            assert len(body) == f["size"]
            assert hashlib.sha256(body).hexdigest() == f["sha256"]
    async with serving(config) as base, aiohttp.ClientSession() as session:
        assert await manifest_of(session, base) == files  # same seed, same corpus
    other_config = ServeConfig(files=12, size=(1, 200_000), seed=8)
    async with serving(other_config) as base, aiohttp.ClientSession() as session:
        other = await manifest_of(session, base)
    assert {f["sha256"] for f in other}.isdisjoint(f["sha256"] for f in files)


def test_synthetic_ranges_agree_with_whole_file() -> None:
    corpus = SyntheticCorpus(1, (3 * BLOCK + 123, 3 * BLOCK + 123), seed=1)
    entry = corpus.lookup("file-00000.bin")
    assert entry is not None
    whole = b"".join(corpus.read(entry, 0, entry.size))
    assert len(whole) == entry.size
    blocks = [whole[i : i + BLOCK] for i in range(0, len(whole), BLOCK)]
    assert len(set(blocks[:3])) == 3  # no two blocks alike
    for start, end in [(0, 1), (BLOCK - 5, BLOCK + 5), (1, entry.size), (2 * BLOCK, 3 * BLOCK + 1)]:
        assert b"".join(corpus.read(entry, start, end)) == whole[start:end]


@aio
async def test_directory_corpus_serves_real_bytes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    contents = {"a.txt": b"hello\n", "sub/b.bin": os.urandom(300_000), "empty": b"", "sp ace.txt": b"x"}
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    async with serving(ServeConfig(root=tmp_path)) as base, aiohttp.ClientSession() as session:
        files = await manifest_of(session, base)
        assert sorted(f["name"] for f in files) == sorted(contents)
        for f in files:
            status, body, _ = await get(session, base + f["url"])
            assert status == 200, f
            assert body == contents[f["name"]]
            assert f["sha256"] == hashlib.sha256(body).hexdigest()
        (tmp_path / "a.txt").write_bytes(b"changed!\n")  # the manifest follows the directory
        changed = {f["name"]: f for f in await manifest_of(session, base)}
        assert changed["a.txt"]["sha256"] == hashlib.sha256(b"changed!\n").hexdigest()


@pytest.mark.parametrize("root", [False, True], ids=["synthetic", "directory"])
@aio
async def test_range_head_and_validators(tmp_path: Path, root: bool) -> None:
    data = os.urandom(200_000)
    (tmp_path / "file-00000.bin").write_bytes(data)
    config = ServeConfig(root=tmp_path) if root else ServeConfig(files=1, size=(200_000, 200_000))
    async with serving(config) as base, aiohttp.ClientSession() as session:
        url = f"{base}/files/file-00000.bin"
        status, whole, resp = await get(session, url)
        assert status == 200 and len(whole) == 200_000
        etag, modified = resp.headers["ETag"], resp.headers["Last-Modified"]
        assert resp.headers["Accept-Ranges"] == "bytes"
        if root:
            assert whole == data

        cases = {
            "bytes=0-9": (0, 10),
            "bytes=65530-65545": (65530, 65546),
            "bytes=199990-": (199_990, 200_000),
            "bytes=-100": (199_900, 200_000),
            "bytes=150000-999999": (150_000, 200_000),
        }
        for header, (start, end) in cases.items():
            status, body, resp = await get(session, url, headers={"Range": header})
            assert status == 206, header
            assert body == whole[start:end], header
            assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/200000"

        status, _, resp = await get(session, url, headers={"Range": "bytes=200000-"})
        assert status == 416 and resp.headers["Content-Range"] == "bytes */200000"
        for ignored in ("bytes=5-1", "items=0-1", "bytes=0-1,5-6"):
            status, body, _ = await get(session, url, headers={"Range": ignored})
            assert (status, len(body)) == (200, 200_000), ignored
        status, body, _ = await get(session, url, headers={"Range": "bytes=0-9", "If-Range": etag})
        assert (status, body) == (206, whole[:10])
        status, body, _ = await get(session, url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
        assert (status, len(body)) == (200, 200_000)
        status, body, _ = await get(session, url, headers={"Range": "bytes=0-9", "If-Range": modified})
        assert status == 206

        async with session.head(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Length"] == "200000"
            assert await resp.read() == b""
        async with session.head(url, headers={"Range": "bytes=10-19"}) as resp:
            assert (resp.status, resp.headers["Content-Length"]) == (206, "10")
        status, body, _ = await get(session, url, headers={"If-None-Match": etag})
        assert (status, body) == (304, b"")
        status, _, _ = await get(session, f"{base}/files/nope.bin")
        assert status == 404
