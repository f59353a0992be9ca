"""A folder of --layout tree swapped for a symlink while the run writes into it: nothing lands
outside -d. (The folder was checked, then used by its path: flipping -d/HOST/files between a folder
and a symlink to elsewhere put 200 of 3,000 files, and parts, outside.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from aiotulip import fetch
from aiotulip.serve import Faults, ServeConfig, ServerThread

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("engine", ["asyncio", "threads"])
def test_a_folder_swapped_for_a_symlink_mid_run_never_leads_outside(tmp_path: Path, engine: str) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    outside.mkdir()
    stop = threading.Event()
    flips = [0]
    config = ServeConfig(files=3000, size=(500, 90_000), seed=5, faults=Faults(delay=0.003))
    with ServerThread(config) as base:
        folder = dest / base.removeprefix("http://") / "files"  # --layout tree: HOST:PORT/files/

        def flipper() -> None:
            number = 0
            while not stop.is_set():
                number += 1
                aside = folder.with_name(f"files.{number}")  # (kept inside dest, whatever happens)
                try:
                    folder.rename(aside)
                except OSError:
                    time.sleep(0.0005)
                    continue
                try:
                    folder.symlink_to(outside)  # (fails when the run made the folder again meanwhile)
                    flips[0] += 1
                    time.sleep(0.0005)
                    folder.unlink()
                    aside.rename(folder)
                except OSError:
                    pass

        thread = threading.Thread(target=flipper, daemon=True)
        thread.start()
        try:
            urls = [f"{base}/files/file-{number:05d}.bin" for number in range(3000)]
            options = {"engine": engine, "layout": "tree", "concurrency": 32, "retries": 1}
            report = fetch(urls, dest, progress=False, **options)  # type: ignore[arg-type]
        finally:
            stop.set()
            thread.join(10)
    assert flips[0] > 10, "the race never ran"
    assert list(outside.iterdir()) == [], f"{len(list(outside.iterdir()))} files landed outside -d"
    assert report.counts()["ok"] > 0
