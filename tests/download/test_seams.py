"""The seams tests rely on: modules importable by their dotted paths, one options object, the engine
registry, and the mock transport driving every engine with no socket."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import pkgutil
from pathlib import Path
from unittest import mock

import pytest

import aiotulip
from aiotulip import ENGINES, Entry, FetchOptions, RetryPolicy, fetch
from aiotulip.download.engines import REGISTRY
from aiotulip.download.options import TRANSPORTS, Settings
from aiotulip.download.transports.mock import MockResponse, MockTransport
from aiotulip.errors import StorageError, TransportError, UsageError

FAST = RetryPolicy(retries=4, backoff=0.001, max_backoff=0.002)


def test_every_module_imports_by_its_dotted_path() -> None:
    names = [info.name for info in pkgutil.walk_packages(aiotulip.__path__, "aiotulip.")]
    assert "aiotulip.download.engines.aio" in names and "aiotulip.download.item" in names
    for name in names:
        module = importlib.import_module(name)
        # The attribute path works too (the function aiotulip.fetch no longer hides a package).
        target: object = aiotulip
        for part in name.split(".")[1:]:
            target = getattr(target, part)
        assert target is module, name


def test_mock_patch_reaches_a_module_by_name(tmp_path: Path) -> None:
    failing = StorageError("disk on fire")
    with mock.patch("aiotulip.download.store.Store.write_whole", side_effect=failing):
        report = fetch(["http://h/a.bin"], tmp_path, transport=MockTransport({"http://h/a.bin": MockResponse(
            200, {"Content-Length": "3"}, b"abc")}))  # fmt: skip
    assert [(r.status, r.error) for r in report.items] == [("failed", "disk on fire")]


def test_options_and_keyword_settings_are_one_list() -> None:
    fields = {field.name for field in dataclasses.fields(FetchOptions)}
    assert set(Settings.__annotations__) == fields
    assert set(REGISTRY) == set(ENGINES)


def test_options_check_themselves() -> None:
    bad = [
        {"concurrency": 0},
        {"per_host": 0},
        {"retries": -1},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"connect_timeout": -1},
        {"item_timeout": 0},
        {"engine": "fibers"},
        {"transport": "carrier-pigeon"},
        {"transport": object()},
        {"shard_size": 5},
        {"cluster": "local:2", "engine": "threads"},
        {"concurrency": True},
        {"concurrency": 2.5},
    ]
    for settings in bad:
        with pytest.raises(UsageError):
            FetchOptions(**settings)
    with pytest.raises(UsageError, match="unknown fetch option 'concurency'"):
        FetchOptions.from_settings(None, {"concurency": 3})
    base = FetchOptions(concurrency=4)
    assert FetchOptions.from_settings(base, {"retries": 1}) == FetchOptions(concurrency=4, retries=1)
    assert FetchOptions.from_settings(base, {}) is base


def test_the_cli_offers_exactly_the_registered_engines_and_transports() -> None:
    from aiotulip.cli import _build_parser

    parser = _build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    fetch_parser = sub.choices["fetch"]
    choices = {action.dest: action.choices for action in fetch_parser._actions if action.choices}
    assert tuple(choices["engine"]) == ENGINES
    assert tuple(choices["transport"]) == TRANSPORTS


# -- every engine on the mock transport ------------------------------------------------------------------

BIG = bytes(range(256)) * 1024  # 256 KiB: streamed to a .part, not read whole


def script() -> dict[str, list[MockResponse]]:
    return {
        "http://h/ok.txt": [MockResponse(200, {"Content-Length": "5"}, b"hello")],
        "http://h/flaky.txt": [
            MockResponse(503, {"Retry-After": "0"}),
            MockResponse(error=TransportError("cannot connect: Connection refused")),
            MockResponse(200, {"Content-Length": "4"}, [b"da", b"ta"]),
        ],
        # Cut after 100 KiB, resumed with a range and If-Range on the ETag.
        "http://h/big.bin": [
            MockResponse(
                200,
                {"Content-Length": str(len(BIG)), "ETag": '"v1"'},
                BIG[:100_000],
                body_error=TransportError("server closed the connection"),
            ),
            MockResponse(
                206,
                {
                    "Content-Range": f"bytes 100000-{len(BIG) - 1}/{len(BIG)}",
                    "Content-Length": str(len(BIG) - 100_000),
                    "ETag": '"v1"',
                },
                BIG[100_000:],
            ),
        ],
        "http://h/wrong.txt": [MockResponse(200, {"Content-Length": "3"}, b"bad")],
        "http://h/gone.txt": [MockResponse(410)],
        "http://h/sha.bin": [MockResponse(200, {}, [BIG[:1000], BIG[1000:]])],
    }


def sources() -> list[Entry]:
    big_sha = hashlib.sha256(BIG).hexdigest()
    return [
        Entry("http://h/ok.txt"),
        Entry("http://h/flaky.txt"),
        Entry("http://h/big.bin", sha256=big_sha, size=len(BIG)),
        Entry("http://h/wrong.txt", sha256=hashlib.sha256(b"good").hexdigest()),
        Entry("http://h/gone.txt"),
        Entry("http://h/sha.bin", sha256=big_sha),
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_on_the_mock_transport(tmp_path: Path, engine: str) -> None:
    mock_transport = MockTransport(script())
    report = fetch(sources(), tmp_path, engine=engine, policy=FAST, transport=mock_transport)
    rows = [
        (r.path.rsplit("/", 1)[-1], r.status, r.bytes, r.attempts, r.resumed_from, r.error)
        for r in report.items
    ]
    assert rows == [
        ("ok.txt", "ok", 5, 1, 0, None),
        ("flaky.txt", "ok", 4, 3, 0, None),
        ("big.bin", "ok", len(BIG), 2, 0, None),
        ("wrong.txt", "failed", 0, 5, 0, "sha256 mismatch: got "
         f"{hashlib.sha256(b'bad').hexdigest()[:16]}…, expected {hashlib.sha256(b'good').hexdigest()[:16]}…"),
        ("gone.txt", "not_found", 0, 1, 0, "HTTP 410"),
        ("sha.bin", "ok", len(BIG), 1, 0, None),
    ]  # fmt: skip
    assert (tmp_path / "big.bin").read_bytes() == BIG
    assert (tmp_path / "flaky.txt").read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin", "flaky.txt", "ok.txt", "sha.bin"]
    resume = [r for r in mock_transport.requests if r.url == "http://h/big.bin"][1]
    assert resume.headers["Range"] == "bytes=100000-" and resume.headers["If-Range"] == '"v1"'
