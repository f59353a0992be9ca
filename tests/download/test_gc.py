"""The collector settings a run changes are put back when the last run ends."""

from __future__ import annotations

import gc

import pytest

import aiotulip
from aiotulip.download.gc import fewer_pauses
from aiotulip.download.progress import Progress
from aiotulip.serve import ServeConfig, ServerThread


@pytest.fixture(autouse=True)
def _restore_gc():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)
    gc.unfreeze()


def test_a_run_raises_the_threshold_and_puts_it_back():
    gc.set_threshold(700, 10, 10)
    with fewer_pauses():
        assert gc.get_threshold() == (10_000, 10, 10)
        assert gc.get_freeze_count() > 0  # what existed before the run is out of the scans
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_overlapping_runs_restore_once_the_last_one_ends():
    gc.set_threshold(900, 5, 5)
    first, second = fewer_pauses(), fewer_pauses()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == (10_000, 5, 5)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (900, 5, 5)


def test_a_program_that_turned_collection_off_keeps_it_off():
    gc.set_threshold(0, 10, 10)
    with fewer_pauses():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_every_engine_runs_with_fewer_pauses_and_puts_them_back(tmp_path, engine):
    gc.set_threshold(1234, 7, 8)
    seen: list[tuple[int, ...]] = []

    class Watch(Progress):
        def done(self, job, result):
            seen.append(gc.get_threshold())

    with ServerThread(ServeConfig(files=3, size=(1000, 1000))) as base:
        urls = [f"{base}/files/file-{n:05d}.bin" for n in range(3)]
        report = aiotulip.fetch(urls, tmp_path, engine=engine, progress=Watch())
    assert report.ok
    assert seen == [(10_000, 7, 8)] * 3
    assert gc.get_threshold() == (1234, 7, 8) and gc.get_freeze_count() == 0
