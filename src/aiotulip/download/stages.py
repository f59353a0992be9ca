"""CPU seconds by stage of a download's bytes: what ``tulip bench`` shows to make a bulk run's bound
visible (the Report's ``cpu`` and the ``--json`` summary's ``cpu_seconds``).

The streamed-body path counts the thread CPU time of its hashing and of its writes; the rest of a
run's CPU (receiving, parsing, the loop, the small files) is what the process spent besides.
``thread_time`` costs a microsecond, taken twice per buffer (a megabyte), so counting is always on.
"""

from __future__ import annotations

import resource
import threading
import time

__all__ = ["Meter", "add", "clock"]

clock = time.thread_time
_lock = threading.Lock()
_seconds = {"sha256": 0.0, "write": 0.0}


def add(sha256: float, write: float) -> None:
    with _lock:
        _seconds["sha256"] += sha256
        _seconds["write"] += write


def _process_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # --workers: the forked ones, once reaped
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Meter:
    """The CPU a run spends from its start: in all, and in each stage."""

    def __init__(self) -> None:
        self.start_total = _process_cpu()
        with _lock:
            self.start = dict(_seconds)

    def stages(self) -> dict[str, float]:
        with _lock:
            return {stage: _seconds[stage] - self.start[stage] for stage in _seconds}

    def result(self, stages: dict[str, float] | None = None) -> dict[str, float]:
        """Return {"total", "sha256", "write"} in seconds; *stages*: counted elsewhere (children)."""
        counted = stages if stages is not None else self.stages()
        return {"total": _process_cpu() - self.start_total, **counted}
