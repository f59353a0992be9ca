"""Faults: each kind at its configured rate, the same for the same seed, changeable while running."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from aiotulip.serve import Faults, ServeConfig, serving
from aiotulip.serve.faults import decide
from tests.aio import aio
from tests.serve.outcomes import outcome, within


async def outcomes(base: str, names: list[str], *, concurrency: int, timeout: float = 5.0) -> dict[str, str]:
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(name: str) -> tuple[str, str]:
            async with limit:
                return name, await outcome(session, f"{base}/files/{name}", timeout)

        return dict(await asyncio.gather(*(one(name) for name in names)))


async def stats(base: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/_tulip/stats") as resp:
        return await resp.json()


def names(n: int) -> list[str]:
    return [f"file-{i:05d}.bin" for i in range(n)]


@aio
async def test_error_rate_and_codes() -> None:
    n = 400
    config = ServeConfig(files=n, size=(512, 512), faults=Faults(error_rate=0.3, retry_after=2))
    async with serving(config) as base:
        seen = await outcomes(base, names(n), concurrency=50)
        counted = await stats(base)
    codes = [v for v in seen.values() if v != "ok"]
    assert set(codes) == {"500", "503", "429"}  # every configured code is used, and only those
    assert within(len(codes), n, 0.3)
    assert counted["faults"]["error"] == len(codes)


@aio
async def test_retry_after_accompanies_429_and_503() -> None:
    config = ServeConfig(files=1, faults=Faults(error_rate=1.0, error_codes=(429, 503, 500), retry_after=2))
    async with serving(config) as base, aiohttp.ClientSession() as session:
        headers = {}
        for _ in range(30):
            async with session.get(f"{base}/files/file-00000.bin") as resp:
                headers[resp.status] = resp.headers.get("Retry-After")
    assert headers == {429: "2", 503: "2", 500: None}


@aio
async def test_drop_and_truncate_rates() -> None:
    n = 400
    faults = Faults(drop_rate=0.15, truncate_rate=0.15)
    async with serving(ServeConfig(files=n, size=(20_000, 20_000), faults=faults)) as base:
        seen = await outcomes(base, names(n), concurrency=50)
        counted = await stats(base)
    broken = sum(v != "ok" for v in seen.values())
    assert within(counted["faults"]["drop"], n, 0.15)
    assert within(counted["faults"]["truncate"], n, 0.15)
    assert broken == counted["faults"]["drop"] + counted["faults"]["truncate"]
    assert set(seen.values()) <= {"ok", "broken", "short"}


@aio
async def test_stall_rate_holds_until_client_gives_up() -> None:
    n = 200
    async with serving(ServeConfig(files=n, faults=Faults(stall_rate=0.1))) as base:
        seen = await outcomes(base, names(n), concurrency=100, timeout=0.5)
        counted = await stats(base)
    stalled = sum(v == "timeout" for v in seen.values())
    assert stalled == counted["faults"]["stall"]
    assert within(stalled, n, 0.1)
    assert sum(v == "ok" for v in seen.values()) == n - stalled


@aio
async def test_same_seed_same_faults_whatever_the_order() -> None:
    n = 300
    faults = Faults(error_rate=0.2, drop_rate=0.1, truncate_rate=0.1)

    async def run(seed: int, concurrency: int) -> dict[str, str]:
        async with serving(ServeConfig(files=n, size=(4096, 4096), seed=seed, faults=faults)) as base:
            seen = await outcomes(base, names(n), concurrency=concurrency)
        return {k: "broken" if v == "short" else v for k, v in seen.items()}

    concurrent, sequential = await run(1, 100), await run(1, 1)
    assert concurrent == sequential
    assert await run(2, 100) != concurrent


def test_decisions_are_pure_and_bands_are_exclusive() -> None:
    faults = Faults(error_rate=0.25, drop_rate=0.25, truncate_rate=0.25, stall_rate=0.25, jitter=1.0)
    plans = [decide(faults, 3, f"f{i}", 0) for i in range(2000)]
    assert plans == [decide(faults, 3, f"f{i}", 0) for i in range(2000)]
    kinds = [p.kind for p in plans]
    assert None not in kinds  # the four bands cover [0, 1)
    for kind in ("stall", "error", "drop", "truncate"):
        assert within(kinds.count(kind), 2000, 0.25)
    assert all(0 <= p.delay <= 1 for p in plans)


@aio
async def test_delay_jitter_and_bandwidth() -> None:
    faults = Faults(delay=0.2, jitter=0.3)
    async with serving(ServeConfig(files=20, faults=faults)) as base, aiohttp.ClientSession() as session:

        async def timed(name: str) -> float:
            started = time.monotonic()
            assert await outcome(session, f"{base}/files/{name}") == "ok"
            return time.monotonic() - started

        times = await asyncio.gather(*(timed(name) for name in names(20)))
    assert min(times) >= 0.2
    assert max(times) - min(times) > 0.05  # jitter spreads them

    throttled = Faults(bandwidth=400_000)
    config = ServeConfig(files=1, size=(200_000, 200_000), faults=throttled)
    async with serving(config) as base, aiohttp.ClientSession() as session:
        started = time.monotonic()
        assert await outcome(session, f"{base}/files/file-00000.bin") == "ok"
        assert time.monotonic() - started >= 0.45


@aio
async def test_query_overrides() -> None:
    async with serving(ServeConfig(files=3)) as base, aiohttp.ClientSession() as session:
        url = f"{base}/files/file-00000.bin"
        statuses = []
        for _ in range(3):
            async with session.get(url + "?status=503&fail=2") as resp:
                statuses.append((resp.status, resp.headers.get("Retry-After")))
        assert statuses == [(503, "1"), (503, "1"), (200, None)]
        started = time.monotonic()
        assert await outcome(session, f"{base}/files/file-00001.bin?delay=0.3") == "ok"
        assert time.monotonic() - started >= 0.3
        assert await outcome(session, f"{base}/files/file-00001.bin?drop=1") == "broken"
        assert await outcome(session, f"{base}/files/file-00001.bin?truncate=1&cut=0.5") in (
            "broken",
            "short",
        )
        assert await outcome(session, f"{base}/files/file-00002.bin?stall=1", timeout=0.3) == "timeout"
        assert await outcome(session, f"{base}/files/file-00002.bin?delay=soon") == "400"
        assert await outcome(session, f"{base}/files/file-00002.bin?status=99") == "400"
        counted = await stats(base)
    assert counted["faults"] == {"drop": 1, "error": 2, "stall": 1, "truncate": 1}


@aio
async def test_control_endpoint_changes_faults_while_running() -> None:
    async with serving(ServeConfig(files=5)) as base, aiohttp.ClientSession() as session:
        assert await outcome(session, f"{base}/files/file-00000.bin") == "ok"
        async with session.put(f"{base}/_tulip/faults", json={"error_rate": 1, "error_codes": [502]}) as resp:
            assert resp.status == 200
            assert (await resp.json())["error_rate"] == 1
        assert await outcome(session, f"{base}/files/file-00000.bin") == "502"
        async with session.get(f"{base}/_tulip/faults") as resp:
            assert (await resp.json())["error_codes"] == [502]
        for bad in ({"error_rate": 2}, {"nonsense": 1}, [1, 2], {"delay": -1}, {"bandwidth": "fast"},
                    {"error_codes": "500,abc"}, {"error_codes": {"a": 1}},
                    # JSON's true is no number (error_rate true made every answer an error):
                    {"error_rate": True}, {"slow_close": True}, {"bandwidth": True}):  # fmt: skip
            async with session.put(f"{base}/_tulip/faults", json=bad) as resp:
                assert resp.status == 400, bad
                assert "Traceback" not in await resp.text()
        # The command line's form, as text ("503" was read character by character: codes 5, 0, 3)
        for given, codes in (("503", [503]), ("503, 429", [503, 429]), (504, [504])):
            async with session.put(f"{base}/_tulip/faults", json={"error_codes": given}) as resp:
                assert resp.status == 200 and (await resp.json())["error_codes"] == codes, given
        async with session.put(f"{base}/_tulip/faults", data=b"{not json") as resp:
            assert resp.status == 400
        async with session.put(f"{base}/_tulip/faults", json={"error_rate": 0, "bandwidth": "1M"}) as resp:
            assert (await resp.json())["bandwidth"] == 1024 * 1024
        assert await outcome(session, f"{base}/files/file-00000.bin") == "ok"
        counted = await stats(base)
        assert counted["requests"] == 3 and counted["statuses"] == {"200": 2, "502": 1}
        async with session.delete(f"{base}/_tulip/stats") as resp:
            assert (await resp.json())["requests"] == 0


def test_control_endpoints_refuse_other_hosts() -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from aiotulip.serve.app import _loopback_only

    for remote in ("127.0.0.1", "::1", "127.8.9.10"):
        request = make_mocked_request("GET", "/_tulip/stats", transport=_Transport(remote))
        _loopback_only(request)
    for remote in ("10.0.0.2", "192.168.1.4", "", "2001:db8::1"):
        request = make_mocked_request("GET", "/_tulip/stats", transport=_Transport(remote))
        with pytest.raises(web.HTTPForbidden):
            _loopback_only(request)


class _Transport:
    def __init__(self, host: str) -> None:
        self.host = host

    def get_extra_info(self, key: str, default: object = None) -> object:
        return (self.host, 1234) if key == "peername" and self.host else default

    def is_closing(self) -> bool:
        return False
