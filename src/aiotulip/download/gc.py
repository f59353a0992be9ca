"""Fewer, shorter garbage-collector pauses while a run is in flight.

A run keeps thousands of objects alive for its whole length (items, connections, tasks), and
CPython's collector scans every tracked object on each of its full passes: on ten thousand
connections in flight a pass took 100 ms (the loop's worst lag) and all passes together half a
second of a 3.5-second run. During a run the objects that existed before it (modules, classes,
the job list) are frozen out of the scans, and the youngest generation is collected every 10,000
allocations rather than every 700, so the long-lived ones are looked at rarely. Both are put back
when the last run in the process ends; cycles made meanwhile are still collected.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["fewer_pauses"]

_YOUNG = 10_000  # allocations between collections of the youngest generation (CPython's default: 700)
_lock = threading.Lock()
_runs = 0
_saved: tuple[int, ...] = ()


@contextmanager
def fewer_pauses() -> Iterator[None]:
    global _runs, _saved
    with _lock:
        _runs += 1
        if _runs == 1:
            _saved = gc.get_threshold()
            gc.freeze()
            if _saved[0]:  # 0: the program turned automatic collection off; leave it so
                gc.set_threshold(max(_saved[0], _YOUNG), *_saved[1:])
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
