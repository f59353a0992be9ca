"""``-Y RATE -y S`` (curl's names; aria2c's --lowest-speed-limit): a transfer under RATE for S
seconds is abandoned and retried, on every engine and transport — one that trickles, and one that
sends nothing at all after its head — and a split download's slow span goes to another connection."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from pathlib import Path

import pytest

from tests.download.conformance.scripted import Pause, Request, Scripted, response
from tests.terminal import tulip_cmd

SIZE = 400_000
BODY = random.Random(5).randbytes(SIZE)
COMBOS = [("sequential", "auto"), ("threads", "auto"), ("threads", "lean"), ("asyncio", "auto"),
          ("asyncio", "lean")]  # fmt: skip


def _trickle(r: Request) -> list[object]:
    """10 KB every 0.1 s: 100 KB/s, for four seconds."""
    actions: list[object] = [response("200 OK", b"", 'ETag: "t"', f"Content-Length: {SIZE}", length=None)]
    for at in range(0, SIZE, 10_000):
        actions += [BODY[at : at + 10_000], Pause(0.1)]
    return actions


def _stall(r: Request) -> list[object]:
    return [response("200 OK", b"", f"Content-Length: {SIZE}", length=None), BODY[:1000], Pause(120)]


def _run(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    argv = tulip_cmd("fetch", "--no-netrc", "--noproxy", "*", "--json", "r.json", *args)
    # --timeout 90 and a 60 s limit here: a floor that did not hold would wait out the idle timeout.
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)
    [item] = json.loads((cwd / "r.json").read_text())["items"]
    return proc, item


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=[f"{e}-{t}" for e, t in COMBOS])
@pytest.mark.parametrize("route", [_trickle, _stall], ids=["trickle", "stall"])
def test_a_transfer_under_the_floor_is_abandoned_and_retried(
    tmp_path: Path, engine: str, transport: str, route: object
) -> None:
    with Scripted({"/f.bin": route}) as server:  # type: ignore[dict-item]
        how = ["--engine", engine, "--transport", transport, "--retries", "1", "--timeout", "90"]
        proc, item = _run(f"{server.base}/f.bin", *how, "-Y", "500K", "-y", "0.5", cwd=tmp_path)
        asked = len(server.requests)
    assert proc.returncode == 1, proc.stderr
    assert (item["status"], item["attempts"], asked) == ("failed", 2, 2)
    slow = "slower than 500.0 KiB/s for 0.5 s" in str(item["error"])
    assert slow or "timed out" in str(item["error"]), item["error"]  # (a stall: nothing to measure)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("engine", "transport"), COMBOS[:4], ids=[f"{e}-{t}" for e, t in COMBOS[:4]])
def test_y_alone_is_one_byte_a_second_and_a_fast_transfer_is_left_alone(
    tmp_path: Path, engine: str, transport: str
) -> None:
    def fast(r: Request) -> list[object]:
        return [response("200 OK", BODY)]

    with Scripted({"/f.bin": fast, "/stall.bin": _stall}) as server:
        proc, item = _run(f"{server.base}/f.bin", "--engine", engine, "--transport", transport, "-Y", "1K",
                          cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 0 and item["sha256"] == hashlib.sha256(BODY).hexdigest(), proc.stderr
        how = ["--engine", engine, "--transport", transport, "--retries", "0", "--timeout", "90"]
        proc, item = _run(f"{server.base}/stall.bin", *how, "-y", "0.5", cwd=tmp_path)
        assert (proc.returncode, item["status"]) == (1, "failed"), proc.stderr


@pytest.mark.parametrize("engine", ["threads", "asyncio"])
def test_a_slow_span_goes_to_another_connection(tmp_path: Path, engine: str) -> None:
    big = random.Random(6).randbytes(4 << 20)

    def ranged(r: Request) -> list[object]:
        first, _, last = r.headers.get("range", "bytes=0-").removeprefix("bytes=").partition("-")
        start, end = int(first), int(last) + 1 if last else len(big)
        ranges = f"Content-Range: bytes {start}-{end - 1}/{len(big)}"
        head = response(
            "206 Partial Content", b"", 'ETag: "s"', ranges, f"Content-Length: {end - start}", length=None
        )
        if r.nth == 0:  # the first connection crawls: 8 KB every 0.1 s
            return [
                head,
                *[a for at in range(start, end, 8192) for a in (big[at : min(at + 8192, end)], Pause(0.1))],
            ]
        return [head, big[start:end]]

    with Scripted({"/big.bin": ranged}) as server:
        proc, item = _run(f"{server.base}/big.bin", "--engine", engine, "-s", "2", "--min-split-size", "1M",
                          "-Y", "200K", "-y", "0.5", "--retries", "3", cwd=tmp_path)  # fmt: skip
        asked = [r.headers.get("range") for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    assert item["sha256"] == hashlib.sha256(big).hexdigest()
    assert (tmp_path / "big.bin").read_bytes() == big
    assert len(asked) >= 3, asked  # the slow one's span, taken up again by a request of its own
