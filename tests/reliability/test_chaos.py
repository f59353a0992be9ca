"""Chaos soak: thousands of downloads through heavy faults, per engine — nothing missing, nothing
corrupt, and every attempt accounted for (the server's request count equals the Report's)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from aiotulip import RetryPolicy, fetch
from aiotulip.serve import Faults, ServeConfig, ServerProcess
from tests.download.helpers import assert_disk_matches, entries, manifest

FILES = 5000
CHAOS = Faults(
    error_rate=0.2,
    error_codes=(500, 503, 429),
    retry_after=0,
    drop_rate=0.05,
    truncate_rate=0.05,
    jitter=0.005,
)
CONCURRENCY = {"sequential": 1, "threads": 64, "asyncio": 256}


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_chaos_soak(tmp_path: Path, engine: str) -> None:
    # Mostly small files, a few large enough to stream, resume after a drop, and be cut twice.
    config = ServeConfig(files=FILES, size=(1, 160_000), seed=99, faults=CHAOS)
    policy = RetryPolicy(retries=12, backoff=0.002, max_backoff=0.02)
    with ServerProcess(config) as base:
        files = manifest(base)
        started = time.monotonic()
        report = fetch(entries(base), tmp_path, engine=engine, concurrency=CONCURRENCY[engine], policy=policy)
        took = time.monotonic() - started
        with urllib.request.urlopen(f"{base}/_tulip/stats", timeout=10) as resp:
            stats = json.load(resp)
    counts = report.counts()
    assert counts["ok"] == FILES, [r for r in report.items if r.status != "ok"][:3]
    assert_disk_matches(tmp_path, files)  # zero missing, zero corrupt, no .part left
    attempts = sum(r.attempts for r in report.items)
    assert attempts == stats["requests"]  # every request the server saw is one attempt in the Report
    assert report.retried == sum(r.attempts > 1 for r in report.items) > FILES * 0.2
    faults = stats["faults"]
    assert attempts - FILES == faults["error"] + faults["drop"] + faults["truncate"]  # one retry per fault
    assert took < 240
