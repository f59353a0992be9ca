"""The faults only a careful client notices: corrupt bodies, malformed chunks, garbage, empty replies,
slow and huge heads. Each is checked by the exit status curl gives, and by aiotulip.fetch ending every
file right through it (retrying what can be retried, and running again for what the standard says
is not worth retrying)."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path

import pytest

from aiotulip import RetryPolicy, fetch
from aiotulip.serve import Faults, ServeConfig, ServerThread
from aiotulip.serve.faults import FAULT_KINDS, decide
from tests.download.helpers import assert_disk_matches, entries, manifest
from tests.serve.outcomes import within
from tests.terminal import tulip_cmd

NEW = ("corrupt", "malformed_chunk", "garbage", "empty", "slow_headers", "huge_headers")


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-s", *args], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def server() -> str:  # type: ignore[misc]
    with ServerThread(ServeConfig(files=4, size=(64 * 1024, 64 * 1024), seed=1)) as url:
        yield url


def test_each_fault_as_curl_sees_it(server: str) -> None:
    url = f"{server}/files/file-00000.bin"
    whole = curl(url).stdout
    assert len(whole) == 64 * 1024
    corrupt = curl(f"{url}?corrupt=1")
    assert corrupt.returncode == 0 and len(corrupt.stdout) == len(whole) and corrupt.stdout != whole
    assert sum(a != b for a, b in zip(corrupt.stdout, whole, strict=True)) <= 4  # a few bytes, no more
    assert curl(f"{url}?malformed_chunk=1").returncode == 56  # recv failure: a bad chunk
    assert curl(f"{url}?garbage=1").returncode in (1, 8)  # HTTP/0.9 refused, or a weird reply
    assert curl(f"{url}?empty=1").returncode == 52  # empty reply from server
    assert curl("-m", "0.3", f"{url}?slow_headers=2").returncode == 28  # a client with a deadline gives up
    slow = curl(f"{url}?slow_headers=0.3")
    assert slow.returncode == 0 and slow.stdout == whole  # a patient one gets every byte
    assert curl(f"{url}?huge_headers=1M").returncode in (27, 56, 100)  # too large (by curl's version)
    assert curl(f"{url}?truncate=1").returncode == 18  # partial file: the old faults as they were
    assert curl(f"{url}?drop=1").returncode == 56


def test_bad_query_values_are_one_400_line(server: str) -> None:
    url = f"{server}/files/file-00000.bin"
    for query in ("fail=-5", "encoding=junk", "drop=banana", "corrupt=maybe", "slow_headers=soon",
                  "huge_headers=huge", "huge_headers=1G", "bandwidth=0"):  # fmt: skip
        answer = curl("-w", "\n%{http_code}", f"{url}?{query}")
        body, _, status = answer.stdout.decode().rpartition("\n")
        assert status == "400", query
        assert len(body.strip().splitlines()) == 1, query
    # (named in words of its own: "invalid literal for int() with base 10" was Python's)
    for query, words in (("status=abc", "status must be a whole number, not 'abc'"),
                         ("delay=soon", "delay must be a number, not 'soon'")):  # fmt: skip
        assert curl(f"{url}?{query}").stdout.decode() == f"bad fault option in query: {words}\n"
    assert curl("-o", "/dev/null", "-w", "%{http_code}", f"{url}?encoding=identity").stdout == b"200"
    assert curl("-o", "/dev/null", "-w", "%{http_code}", f"{url}?drop=0&fail=0").stdout == b"200"


def test_the_new_kinds_share_the_one_draw_at_their_rates() -> None:
    rates = {f"{kind}_rate": 1 / len(FAULT_KINDS) for kind in FAULT_KINDS}
    plans = [decide(Faults(**rates), 4, f"f{i}", 0) for i in range(3300)]
    kinds = [plan.kind for plan in plans]
    assert None not in kinds  # the bands cover [0, 1) and never overlap
    for kind in FAULT_KINDS:
        assert within(kinds.count(kind), len(plans), 1 / len(FAULT_KINDS)), kind


def _old_decide(faults: Faults, seed: int, name: str, nth: int) -> tuple:
    """The draw as it was before the new kinds, to show that a seed keeps its faults."""
    rng = random.Random(f"{seed}:{name}:{nth}")
    draw, jitter, cut, pick = rng.random(), rng.random(), rng.random(), rng.random()
    kind, edge = None, 0.0
    for candidate in ("stall", "error", "drop", "truncate", "reset"):
        edge += getattr(faults, f"{candidate}_rate")
        if draw < edge:
            kind = candidate
            break
    status = faults.error_codes[int(pick * len(faults.error_codes))] if kind == "error" else 0
    return kind, status, cut, faults.delay + jitter * faults.jitter


def test_old_seeds_keep_their_faults() -> None:
    faults = Faults(
        error_rate=0.2, drop_rate=0.1, truncate_rate=0.1, stall_rate=0.05, reset_rate=0.05, jitter=1
    )
    for i in range(500):
        plan = decide(faults, 9, f"file-{i:05d}.bin", i % 3)
        assert (plan.kind, plan.status, plan.cut, plan.delay) == _old_decide(
            faults, 9, f"file-{i:05d}.bin", i % 3
        )


@pytest.mark.parametrize("kind", ["corrupt", "empty", "slow_headers"])
def test_fetch_retries_through_the_fault_and_every_file_ends_right(tmp_path: Path, kind: str) -> None:
    faults = Faults(**{f"{kind}_rate": 0.3}, slow_headers_time=0.2)
    with ServerThread(ServeConfig(files=30, size=(20_000, 20_000), seed=3, faults=faults)) as base:
        files = manifest(base)
        report = fetch(
            entries(base), tmp_path, policy=RetryPolicy(retries=10, backoff=0.01, max_backoff=0.05)
        )
        met = _stats(base)["faults"].get(kind, 0)
    assert [item.status for item in report.items] == ["ok"] * 30
    assert_disk_matches(tmp_path, files)  # the manifest's sha256 caught every flipped byte
    assert met >= 3
    if kind != "slow_headers":  # a slow head is only slow: nothing to try again
        # (libcurl itself tries an empty reply on a reused connection once more: fewer attempts than faults)
        assert sum(item.attempts for item in report.items) > 30


@pytest.mark.parametrize("kind", ["malformed_chunk", "garbage", "huge_headers"])
def test_fetch_never_keeps_a_broken_answer_and_a_second_run_ends_every_file_right(
    tmp_path: Path, kind: str
) -> None:
    # A reply that is no HTTP is a ProtocolError, which fetch does not retry (the standard's view: the
    # server will say the same again). The seeded n-th request meets another fault, or none: so a
    # second run, as a user would start it, fetches what the first one refused to keep.
    faults = Faults(**{f"{kind}_rate": 0.3})
    with ServerThread(ServeConfig(files=30, size=(20_000, 20_000), seed=3, faults=faults)) as base:
        files = manifest(base)
        first = fetch(entries(base), tmp_path)
        failed = [item for item in first.items if item.status != "ok"]
        assert failed and {item.error_kind for item in failed} == {"protocol"}
        assert all(item.attempts == 1 for item in failed)
        for item in failed:
            assert not Path(item.path).exists()  # nothing half-right under the final name
        for _ in range(5):
            again = fetch(entries(base), tmp_path)
            if all(item.status in ("ok", "skipped") for item in again.items):
                break
    assert_disk_matches(tmp_path, files)


def test_the_command_line_takes_the_new_rates_and_refuses_bad_ones() -> None:
    for bad in (["--corrupt-rate", "2"], ["--slow-headers-time", "-1"], ["--huge-headers-size", "lots"],
                ["--empty-rate", "0.6", "--garbage-rate", "0.6"]):  # fmt: skip
        done = subprocess.run(
            tulip_cmd("serve", "--port", "0", *bad), capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, bad
        assert len(done.stderr.strip().splitlines()) == 1, (bad, done.stderr)
    proc = subprocess.Popen(tulip_cmd("serve", "--port", "0", "--files", "2", "--empty-rate", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().split()[2].rstrip("/")
        assert curl(f"{base}/files/file-00000.bin").returncode == 52
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_the_control_api_takes_and_checks_the_new_settings(server: str) -> None:
    import json
    import urllib.error
    import urllib.request

    def put(change: dict) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{server}/_tulip/faults", json.dumps(change).encode(), {"Content-Type": "application/json"},
            method="PUT",
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    for bad in ({"corrupt_rate": 1.5}, {"huge_headers_size": "1T"}, {"slow_headers_time": -2}):
        status, text = put(bad)
        assert status == 400 and len(text.strip().splitlines()) == 1, bad
    status, text = put({"corrupt_rate": 1.0, "huge_headers_size": "64k"})
    assert status == 200 and json.loads(text)["huge_headers_size"] == 65536
    try:
        url = f"{server}/files/file-00001.bin"
        body = curl(url).stdout
        assert hashlib.sha256(body).hexdigest() != next(
            f["sha256"] for f in manifest(server) if f["url"].endswith("1.bin")
        )
    finally:
        put({"corrupt_rate": 0.0})


def _stats(base: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/_tulip/stats", timeout=10) as answer:
        return json.load(answer)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
