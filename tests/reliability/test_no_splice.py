"""A resume never joins two versions of a file, and a range of unknown total is never a whole file.

The servers here ignore If-Range, as some do (and as a cache in between may): after a cut they answer
the resume with 206 and the range of a *new* version. Only comparing the 206's validator with the one
the .part was begun at can tell; these tests check every engine and transport does, in one stream and
split.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from aiotulip import FetchOptions, RetryPolicy, fetch
from tests.download.conformance.scripted import CLOSE, Request, Scripted, response

SIZE = 200_000
CUT = 70_000
V1 = random.Random(1).randbytes(SIZE)
V2 = random.Random(2).randbytes(SIZE)

COMBOS = [
    ("sequential", "auto"),
    ("threads", "auto"),
    ("asyncio", "auto"),
    ("asyncio", "lean"),
]
IDS = [f"{e}-{t}" for e, t in COMBOS]


def _changing(validator: str) -> object:
    """A route serving version 1 cut short at CUT, then version 2 for every later request, honouring
    Range but never If-Range; *validator* says which header tells the versions apart."""
    headers = {
        "etag": ('ETag: "v1"', 'ETag: "v2"'),
        "date": (
            "Last-Modified: Tue, 01 Jan 2030 00:00:00 GMT",
            "Last-Modified: Wed, 02 Jan 2030 00:00:00 GMT",
        ),
    }[validator]

    def route(r: Request) -> list[object]:
        if r.nth == 0:
            return [response("200 OK", V1[:CUT], headers[0], length=SIZE), CLOSE]
        wanted = r.headers.get("range")
        if wanted:
            first = int(wanted.removeprefix("bytes=").split("-")[0])
            body = V2[first:]
            return [
                response(
                    "206 Partial Content", body, headers[1], f"Content-Range: bytes {first}-{SIZE - 1}/{SIZE}"
                )
            ]
        return [response("200 OK", V2, headers[1])]

    return route


def _options(engine: str, transport: str, **more: object) -> FetchOptions:
    more.setdefault("policy", RetryPolicy(retries=3, backoff=0.01, max_backoff=0.02))
    return FetchOptions(
        engine=engine, transport=transport, concurrency=4, timeout=5.0, netrc=False, proxy="",
        **more,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize("validator", ["etag", "date"])
@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_a_resume_answered_with_a_new_version_starts_over(
    tmp_path: Path, engine: str, transport: str, validator: str
) -> None:
    with Scripted({"/f.bin": _changing(validator)}) as server:
        report = fetch([server.base + "/f.bin"], tmp_path, _options(engine, transport))
        asked = [r.headers.get("range") for r in server.requests]
    [item] = report.items
    assert (item.status, item.bytes, item.sha256) == ("ok", SIZE, hashlib.sha256(V2).hexdigest()), item.error
    assert (tmp_path / "f.bin").read_bytes() == V2  # never V1's head on V2's tail
    assert not item.resumed_unvalidated
    assert asked[1] == f"bytes={CUT}-"  # it did resume, and was answered with the other version
    assert not [name for name in os.listdir(tmp_path) if name != "f.bin"]


@pytest.mark.parametrize("connections", [2, 4])
@pytest.mark.parametrize("validator", ["etag", "date"])
@pytest.mark.parametrize(("engine", "transport"), COMBOS[1:4], ids=IDS[1:4])
def test_a_split_download_whose_file_changes_under_it_is_never_spliced(
    tmp_path: Path, engine: str, transport: str, validator: str, connections: int
) -> None:
    stamps = {
        "etag": ('ETag: "v1"', 'ETag: "v2"'),
        "date": (
            "Last-Modified: Tue, 01 Jan 2030 00:00:00 GMT",
            "Last-Modified: Wed, 02 Jan 2030 00:00:00 GMT",
        ),
    }[validator]
    seen = {"spans": 0}

    def route(r: Request) -> list[object]:
        # The first answer and the first span are version 1; every later one is version 2, ranges
        # honoured and If-Range ignored.
        version = 0 if seen["spans"] < 2 else 1
        seen["spans"] += 1
        data, stamp = (V1, V2)[version], stamps[version]
        wanted = r.headers.get("range")
        if not wanted:
            return [response("200 OK", data, stamp)]
        first_text, _, last_text = wanted.removeprefix("bytes=").partition("-")
        first, last = int(first_text), int(last_text) if last_text else SIZE - 1
        return [
            response(
                "206 Partial Content",
                data[first : last + 1],
                stamp,
                f"Content-Range: bytes {first}-{last}/{SIZE}",
            )
        ]

    with Scripted({"/f.bin": route}) as server:
        options = _options(engine, transport, split=connections, min_split_size=20_000)
        report = fetch([server.base + "/f.bin"], tmp_path, options)
    [item] = report.items
    assert item.status == "ok", item.error
    assert (tmp_path / "f.bin").read_bytes() == V2
    assert item.sha256 == hashlib.sha256(V2).hexdigest()


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_a_range_of_unknown_total_is_not_saved_as_the_whole_file(
    tmp_path: Path, engine: str, transport: str
) -> None:
    routes = {
        "/f.bin": lambda r: [response("206 Partial Content", V1[:5000], "Content-Range: bytes 0-4999/*")]
    }
    with Scripted(routes) as server:
        report = fetch([server.base + "/f.bin"], tmp_path, _options(engine, transport))
    [item] = report.items
    assert (item.status, item.error_kind, item.attempts) == ("failed", "protocol", 1)
    assert "unknown total" in (item.error or "")
    assert os.listdir(tmp_path) == []


GROWN = random.Random(3).randbytes(SIZE + 5)  # version 2, five bytes longer, under the same validator


def _same_validator_other_size(r: Request) -> list[object]:
    """Version 1 cut at CUT; then version 2, of another size, under the *same* ETag — as Apache's
    ``FileETag MTime`` gives when a file is replaced and its date kept (and nginx's when the size
    is what changed): only the sizes tell the versions apart."""
    if r.nth == 0:
        return [response("200 OK", V1[:CUT], 'ETag: "same"', length=SIZE), CLOSE]
    wanted = r.headers.get("range")
    if wanted:
        first = int(wanted.removeprefix("bytes=").split("-")[0])
        return [
            response(
                "206 Partial Content", GROWN[first:], 'ETag: "same"',
                f"Content-Range: bytes {first}-{len(GROWN) - 1}/{len(GROWN)}",
            )
        ]  # fmt: skip
    return [response("200 OK", GROWN, 'ETag: "same"')]


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_a_resume_answered_for_a_file_of_another_size_starts_over(
    tmp_path: Path, engine: str, transport: str
) -> None:
    """The validator matches, the size does not: another version (a red team's splice, reported
    ok with the sha256 of neither). Within one run, and in a second run from the part on disk."""
    with Scripted({"/f.bin": _same_validator_other_size}) as server:
        report = fetch([server.base + "/f.bin"], tmp_path / "one", _options(engine, transport))
        asked = [r.headers.get("range") for r in server.requests]
    [item] = report.items
    assert (item.status, item.bytes) == ("ok", len(GROWN)), item.error
    assert (tmp_path / "one/f.bin").read_bytes() == GROWN
    assert asked[1] == f"bytes={CUT}-" and asked[2] is None  # resumed, saw the size, started over

    # A part left by an earlier run, then the file replaced on the server: asked with the ETag the
    # part keeps, the server answers for the new version (it has the same ETag).
    dest = tmp_path / "two"
    replaced = [False]

    def route(r: Request) -> list[object]:
        if not replaced[0]:
            return [response("200 OK", V1[:CUT], 'ETag: "same"', length=SIZE), CLOSE]
        if r.headers.get("range"):
            return _same_validator_other_size(r)[:1]
        return [response("200 OK", GROWN, 'ETag: "same"')]

    with Scripted({"/f.bin": route}) as server:
        url = server.base + "/f.bin"
        first = fetch([url], dest, _options(engine, transport, policy=RetryPolicy(retries=0)))
        assert first.items[0].status == "failed" and (dest / ".f.bin.tulip-part").stat().st_size == CUT
        replaced[0] = True
        report = fetch([url], dest, _options(engine, transport))
        asked = [r.headers.get("range") for r in server.requests[1:]]
    [item] = report.items
    assert (item.status, item.bytes, item.resumed_from) == ("ok", len(GROWN), 0), item.error
    assert (dest / "f.bin").read_bytes() == GROWN
    assert asked == [f"bytes={CUT}-", None]


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_a_part_as_long_as_a_new_shorter_version_is_not_taken_for_it(
    tmp_path: Path, engine: str, transport: str
) -> None:
    """A part of CUT bytes begun for a file of SIZE; the file is now CUT bytes long, under the same
    ETag. The resume's 416 says the part holds the whole file: it holds the old one's beginning."""
    shrunk = random.Random(4).randbytes(CUT)
    replaced = [False]

    def route(r: Request) -> list[object]:
        if not replaced[0]:
            return [response("200 OK", V1[:CUT], 'ETag: "same"', length=SIZE), CLOSE]
        if r.headers.get("range"):
            return [
                response("416 Range Not Satisfiable", b"", 'ETag: "same"', f"Content-Range: bytes */{CUT}")
            ]
        return [response("200 OK", shrunk, 'ETag: "same"')]

    with Scripted({"/f.bin": route}) as server:
        url = server.base + "/f.bin"
        first = fetch([url], tmp_path, _options(engine, transport, policy=RetryPolicy(retries=0)))
        assert first.items[0].status == "failed"
        replaced[0] = True
        report = fetch([url], tmp_path, _options(engine, transport))
    [item] = report.items
    assert (item.status, item.sha256) == ("ok", hashlib.sha256(shrunk).hexdigest()), item.error
    assert (tmp_path / "f.bin").read_bytes() == shrunk


def _chunked(body: bytes) -> bytes:
    return b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 8192]), body[i : i + 8192]) for i in range(0, len(body), 8192)
    )


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_a_part_whose_size_was_never_said_is_not_resumed(tmp_path: Path, engine: str, transport: str) -> None:
    """The first answer is chunked (no size said) and cut; the resume is answered for a longer
    version under the same validator (a date-only ETag). Nothing can tell the two apart, so the part
    starts over rather than take the new tail (found by the second attack pass)."""

    def route(r: Request) -> list[object]:
        if r.nth == 0:
            head = response("200 OK", b"", 'ETag: "same"', "Transfer-Encoding: chunked", length=None)
            return [head + _chunked(V1[:CUT]), CLOSE]  # (cut: no last chunk)
        return _same_validator_other_size(r)  # (the longer version under the same ETag, from now on)

    with Scripted({"/f.bin": route}) as server:
        report = fetch([server.base + "/f.bin"], tmp_path, _options(engine, transport))
    [item] = report.items
    assert (item.status, item.bytes) == ("ok", len(GROWN)), item.error
    assert (tmp_path / "f.bin").read_bytes() == GROWN
