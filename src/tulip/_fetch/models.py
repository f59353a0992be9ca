"""What a download run is made of: Job in, Result out, Report over all of them.

Plain data with no I/O, shared by every engine; a Report compares equal across engines when the
downloads went the same way (timings are kept apart and left out of the comparison).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["STATUSES", "Job", "Report", "Result", "Status"]

Status = Literal["ok", "skipped", "not_found", "failed"]
STATUSES: tuple[Status, ...] = ("ok", "skipped", "not_found", "failed")


@dataclass(frozen=True, slots=True)
class Job:
    """One thing to download: where from, where to (relative to dest), what it must hash to."""

    url: str
    name: str  # a safe relative path inside dest, see names.py
    sha256: str | None = None  # lowercase hex, verified when given
    size: int | None = None  # verified when given
    # The user gave this URL (or it shares an origin with one they gave, such as the manifest's):
    # --user, and Authorization or Cookie headers, go to it. A manifest's entries elsewhere: not.
    given: bool = True

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.url).netloc.lower()


@dataclass(slots=True)
class Result:
    """How one Job ended."""

    url: str
    path: str
    status: Status
    bytes: int = 0
    sha256: str | None = None
    attempts: int = 0
    error: str | None = None
    resumed_from: int = 0  # bytes found in a .part file and not downloaded again
    elapsed: float = field(default=0.0, compare=False)
    error_kind: str | None = None  # what kind of failure: http, timeout, protocol, certificate, ...
    resumed_unvalidated: bool = False  # resumed bytes that no validator or checksum vouched for

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "path": self.path,
            "status": self.status,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "attempts": self.attempts,
            "error": self.error,
            "error_kind": self.error_kind,
            "resumed_from": self.resumed_from,
            "resumed_unvalidated": self.resumed_unvalidated,
            "elapsed": round(self.elapsed, 6),
        }


@dataclass(slots=True)
class Report:
    """Every Result of a run, in input order, with what the run as a whole measured."""

    items: list[Result]
    engine: str = ""
    wall: float = field(default=0.0, compare=False)
    max_lag: float | None = field(default=None, compare=False)  # event-loop lag; None without a loop
    interrupted: bool = False

    def counts(self) -> Counter[str]:
        counts: Counter[str] = Counter({status: 0 for status in STATUSES})
        counts.update(result.status for result in self.items)
        return counts

    @property
    def retried(self) -> int:
        """Items that needed more than one attempt."""
        return sum(result.attempts > 1 for result in self.items)

    @property
    def bytes(self) -> int:
        """Bytes downloaded in this run (skipped files and resumed parts not included)."""
        return sum(r.bytes - r.resumed_from for r in self.items if r.status == "ok")

    @property
    def ok(self) -> bool:
        """Whether every item is ok or skipped, and the run was not interrupted."""
        return not self.interrupted and all(r.status in ("ok", "skipped") for r in self.items)

    def exit_status(self) -> int:
        """0 all ok, 1 some items failed, 130 interrupted (the command line's convention)."""
        if self.interrupted:
            return 130
        return 0 if self.ok else 1

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        wall = self.wall or 1e-9
        done = counts["ok"]
        return {
            "engine": self.engine,
            "items": len(self.items),
            **{status: counts[status] for status in STATUSES},
            "retried": self.retried,
            "attempts": sum(r.attempts for r in self.items),
            "bytes": self.bytes,
            "wall": round(self.wall, 4),
            "files_per_s": round(done / wall, 2),
            "mb_per_s": round(self.bytes / wall / 1e6, 3),
            "max_loop_lag_ms": None if self.max_lag is None else round(self.max_lag * 1000, 2),
            "interrupted": self.interrupted,
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "items": [result.to_json() for result in self.items]}

    def write_json(self, path: str | Path) -> None:
        """Write the report to *path* atomically (a reader never sees half a report)."""
        target = Path(path)
        temp = target.with_name(target.name + ".part")
        temp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        temp.replace(target)
