"""Hostile servers: each lie gets a clear per-item error (or a safe name), in bounded time and
memory, and the honest items beside it finish."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aiotulip import Entry, RetryPolicy, fetch
from tests.reliability.hostile import BOMB, GOOD, HostileServer

EXPECTED = {
    "shorter-length": ("ok", None),  # the announced 100 bytes are the file; the rest closes the connection
    "longer-length": ("failed", "connection closed"),
    "endless-headers": ("failed", ""),
    "loop": ("failed", "redirect"),
    "to-ftp": ("failed", ""),
    "to-file": ("failed", ""),
    "silent": ("failed", "timed out"),
    "bomb": ("ok", None),
    "named": ("ok", None),
    "good": ("ok", None),
}


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_hostile_servers(tmp_path: Path, engine: str) -> None:
    policy = RetryPolicy(retries=1, backoff=0.01, max_backoff=0.01)
    with HostileServer() as base:
        sources = [Entry(f"{base}/{path}", out=path) for path in EXPECTED]
        started = time.monotonic()
        report = fetch(sources, tmp_path / "d", engine=engine, concurrency=4, timeout=1.0, policy=policy)
    assert time.monotonic() - started < 60
    got = {Path(r.path).name: r for r in report.items}
    for name, (status, fragment) in EXPECTED.items():
        result = got[name]
        assert result.status == status, (name, result)
        if fragment is not None:
            assert fragment in (result.error or ""), (name, result.error)
            assert "internal error" not in (result.error or ""), (name, result.error)
    assert (tmp_path / "d" / "shorter-length").read_bytes() == b"a" * 100
    assert (tmp_path / "d" / "bomb").read_bytes() == BOMB  # saved as sent: never inflated
    assert (tmp_path / "d" / "good").read_bytes() == GOOD
    # The suggested "../../evil.txt" was ignored: the name comes from us, inside dest.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert not any(".tulip-" in p.name and p.stat().st_size == 0 for p in (tmp_path / "d").iterdir())
