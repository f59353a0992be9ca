"""The rate limiter's arithmetic (a fake clock): the average holds for any chunk sizes and any number
of readers sharing a bucket, idle time saves at most a tenth of a second of credit, and the waits it
asks for add up to what the rate demands. (How close a real run comes is measured by the bench.)"""

from __future__ import annotations

import random

import pytest

from aiotulip.download.rate import Bucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("rate", [1_000_000, 10_000_000, 100_000_000])
@pytest.mark.parametrize("readers", [1, 4, 50])
def test_readers_sharing_a_bucket_hold_its_average(rate: int, readers: int) -> None:
    """Readers that each receive a chunk (any size) and then wait as told: over ten seconds of
    simulated time the bytes taken are the rate's, within a chunk per reader."""
    rng = random.Random(rate + readers)
    clock = Clock()
    bucket = Bucket(rate, clock)
    ready = [clock.now] * readers  # when each reader may read again
    taken = 0
    while True:
        reader = min(range(readers), key=ready.__getitem__)
        clock.now = ready[reader]
        if clock.now - 100.0 >= 10.0:
            break
        chunk = rng.choice([1, 1500, 65536, 262144, 1 << 20])
        taken += chunk
        ready[reader] = clock.now + bucket.take(chunk) + 0.0001  # the read itself takes a little
    expected = rate * 10.0
    assert abs(taken - expected) <= 0.05 * expected + readers * (1 << 20)


def test_idle_time_saves_a_tenth_of_a_second_at_most() -> None:
    clock = Clock()
    bucket = Bucket(1000, clock)
    clock.now += 60.0  # a minute idle
    assert bucket.take(100) == 0.0  # 100 bytes of the 100 saved: no wait
    assert bucket.take(1000) == pytest.approx(1.0)  # then every byte is paid for
    assert bucket.take(500) == pytest.approx(1.5)  # debts add up


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Bucket(0)


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
@pytest.mark.parametrize("split", [1, 4])
def test_every_byte_of_every_engine_passes_through_both_buckets(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, engine: str, split: int
) -> None:
    from aiotulip import fetch
    from aiotulip.serve import ServeConfig, ServerThread
    from tests.download.helpers import manifest

    counted: list[int] = []
    real = Bucket.take

    def counting(self: Bucket, n: int) -> float:
        counted.append(n)
        return real(self, n)

    monkeypatch.setattr(Bucket, "take", counting)
    with ServerThread(ServeConfig(files=6, size=(1_000, 3_000_000), seed=4)) as base:
        files = manifest(base)
        report = fetch([base + f["url"] for f in files], tmp_path, engine=engine, split=split,
                       min_split_size=256 * 1024, limit_rate=10**12, limit_rate_per_file=10**12)  # type: ignore[arg-type]  # fmt: skip
    assert [r.status for r in report.items] == ["ok"] * 6
    assert sum(counted) == 2 * sum(f["size"] for f in files)  # the run's bucket and each file's
