"""Mirrors: several URLs for one file (aria2c's tab-separated line, a manifest's ``urls``, Entry's
``mirrors``), in every engine: spans spread over them, a mirror that fails, disagrees or serves
wrong bytes dropped for the item (and said so in the Report), one stream turning to the next URL."""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from pathlib import Path

import pytest

from aiotulip import ENGINES, Entry, FetchOptions, RetryPolicy, fetch
from aiotulip.download.sources import jobs_from_manifest, parse_input
from aiotulip.serve import Faults, ServeConfig, ServerThread
from tests.download.helpers import manifest

MB = 1 << 20
SIZE = 4 * MB


def options(engine: str, split: int = 6, **extra: object) -> FetchOptions:
    policy = RetryPolicy(retries=4, backoff=0.01, max_backoff=0.05)
    return FetchOptions(engine=engine, split=split, min_split_size=256 * 1024, netrc=False, proxy="",
                        timeout=10.0, policy=policy, **extra)  # type: ignore[arg-type]  # fmt: skip


def servers(stack: ExitStack, *configs: ServeConfig) -> list[str]:
    return [stack.enter_context(ServerThread(config)) for config in configs]


def same(seed: int = 1, size: int = SIZE, faults: Faults | None = None) -> ServeConfig:
    return ServeConfig(files=1, size=(size, size), seed=seed, faults=faults or Faults())


def test_mirrors_come_from_a_tab_separated_line_and_a_manifest() -> None:
    (entry,) = parse_input(["http://a.test/f.iso\thttp://b.test/f.iso\t http://c.test/x/f.iso"], "list")
    assert (entry.url, entry.mirrors) == (
        "http://a.test/f.iso",
        ("http://b.test/f.iso", "http://c.test/x/f.iso"),
    )
    document = {"files": [{"name": "f.iso", "urls": ["/f.iso", "http://u:p@b.test/f.iso"]}]}
    (listed,) = jobs_from_manifest(document, "http://a.test/manifest.json")
    assert listed.url == "http://a.test/f.iso"
    assert listed.mirrors == ("http://b.test/f.iso",)  # a manifest names no credentials for others


@pytest.mark.parametrize("engine", ENGINES)
def test_spans_spread_over_every_mirror(tmp_path: Path, engine: str) -> None:
    paced = Faults(
        bandwidth=4 * MB
    )  # about a second a mirror: every one is asked before the end, loaded or not
    with ExitStack() as stack:
        bases = servers(stack, same(faults=paced), same(faults=paced), same(faults=paced))
        (f,) = manifest(bases[0])
        urls = [base + f["url"] for base in bases]
        report = fetch([Entry(urls[0], mirrors=tuple(urls[1:]))], tmp_path, options(engine))
    (result,) = report.items
    assert (result.status, result.sha256, result.attempts) == ("ok", f["sha256"], 1)
    assert result.sources is not None
    assert [s["dropped"] for s in result.sources] == [None, None, None]
    assert all(s["bytes"] > 0 for s in result.sources)  # every mirror served some spans
    assert sum(s["bytes"] for s in result.sources) == SIZE
    record = json.loads(json.dumps(report.to_json()))["items"][0]
    assert record["sources"] == result.sources
    assert result.unverified and record["unverified"] is True  # joined, and no checksum to prove it


@pytest.mark.parametrize("engine", ENGINES)
def test_a_mirror_that_fails_or_disagrees_is_dropped(tmp_path: Path, engine: str) -> None:
    with ExitStack() as stack:
        # (the good one paced: on a busy machine its first answer could bring the whole file
        # before any span was asked of the others, and they were never tried)
        good, other_size, broken = servers(
            stack, same(faults=Faults(bandwidth=8 * MB)), same(size=SIZE + 1), same()
        )
        (f,) = manifest(good)
        sources = [Entry(good + f["url"], mirrors=(other_size + f["url"], broken + "/files/missing.bin"))]
        report = fetch(sources, tmp_path, options(engine))
    (result,) = report.items
    assert (result.status, result.sha256) == ("ok", f["sha256"])
    assert result.sources is not None
    dropped = [s["dropped"] for s in result.sources]
    assert dropped[0] is None
    assert dropped[1] is not None and f"{SIZE + 1}" in dropped[1]  # another file, by its size
    assert dropped[2] is not None and "404" in dropped[2]
    assert result.sources[0]["bytes"] == SIZE
    assert not result.unverified  # one URL's bytes alone


@pytest.mark.parametrize("engine", ENGINES)
def test_a_mirror_serving_wrong_bytes_is_caught_by_the_checksum(tmp_path: Path, engine: str) -> None:
    """Same size, other bytes: the mixed file fails its sha256; it is fetched again from one URL at a
    time, and the file that lands is the right one."""
    with ExitStack() as stack:
        good, liar = servers(stack, same(seed=1), same(seed=2))
        (f,) = manifest(good)
        entry = Entry(liar + f["url"], sha256=f["sha256"], size=SIZE, mirrors=(good + f["url"],))
        report = fetch([entry], tmp_path, options(engine))
    (result,) = report.items
    assert (result.status, result.sha256) == ("ok", f["sha256"])
    assert hashlib.sha256((tmp_path / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert result.sources is not None
    assert result.sources[0]["dropped"] == "its bytes failed the checksum"  # the liar, found out alone
    assert result.attempts >= 3
    assert not result.unverified


@pytest.mark.parametrize("engine", ENGINES)
def test_mirrors_without_a_checksum_are_said_unverified(tmp_path: Path, engine: str) -> None:
    """Same size, other bytes, other ETags and no checksum: nothing can tell which is right, and the
    mixed file is 'ok' only as far as anyone can know: the Report says it is unverified."""
    paced = Faults(bandwidth=4 * MB)
    with ExitStack() as stack:
        good, liar = servers(stack, same(seed=1, faults=paced), same(seed=2, faults=paced))
        (f,) = manifest(good)
        report = fetch([Entry(good + f["url"], mirrors=(liar + f["url"],))], tmp_path, options(engine))
    (result,) = report.items
    assert result.status == "ok" and result.sources is not None
    assert all(s["bytes"] > 0 for s in result.sources)
    assert result.unverified and report.to_json()["items"][0]["unverified"] is True


@pytest.mark.parametrize("engine", ENGINES)
def test_one_stream_turns_to_the_next_url(tmp_path: Path, engine: str) -> None:
    with ExitStack() as stack:
        down, good = servers(stack, same(), same())
        (f,) = manifest(good)
        entry = Entry(down + f["url"] + "?status=503&retry_after=0", mirrors=(good + f["url"],))
        report = fetch([entry], tmp_path, options(engine, split=1))
        gone = fetch([Entry(down + "/files/none.bin", out="x", mirrors=(good + "/files/none2.bin",))],
                     tmp_path / "gone", options(engine, split=1))  # fmt: skip
    (result,) = report.items
    assert (result.status, result.sha256, result.attempts) == ("ok", f["sha256"], 2)
    assert result.sources is not None and result.sources[1]["bytes"] == SIZE
    (failed,) = gone.items
    assert failed.status == "not_found"
    assert failed.sources is not None and "404" in (failed.sources[0]["dropped"] or "")
