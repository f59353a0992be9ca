"""What a download run is made of: Job in, Result out, Report over all of them.

Plain data with no I/O, shared by every engine; a Report compares equal across engines when the
downloads went the same way (timings are kept apart and left out of the comparison).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = ["NOT_STARTED", "STATUSES", "Job", "Report", "Result", "Status"]

Status = Literal["ok", "skipped", "not_found", "failed", "interrupted"]
# "interrupted": the run stopped before the item ended (its bytes: what its part keeps for the next
# run; an item never begun says "not started" as its error).
STATUSES: tuple[Status, ...] = ("ok", "skipped", "not_found", "failed", "interrupted")
NOT_STARTED = "not started"


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
    # The same URL as an earlier job's, to the same name: downloaded once, reported on every line.
    duplicate_of: int | None = None
    # More URLs of the same file: a split download spreads its spans over them all, one stream
    # turns to the next when one fails; a mirror that fails or disagrees is dropped for the item.
    mirrors: tuple[str, ...] = ()
    # Digests other than sha256 the input gives (("md5", HEX), ("sha1", HEX), ("sha512", HEX)):
    # checked before the rename, as sha256 is (mirrors often publish only md5 or sha512).
    checksums: tuple[tuple[str, str], ...] = ()
    # Request headers of this item alone (an -i file's header= lines), over the run's: see
    # http.policy.item_headers (private ones go only where the run's own would).
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.url).netloc.lower()


class Jobs(Iterable[Job], Sized, Protocol):
    """The jobs of a run: iterable (again and again, in the same order) and counted (a list, or a
    lazy list that makes them as they are taken)."""


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
    reason: str | None = None  # why skipped, when not the usual (-N: "not modified"); why saved elsewhere
    content_encoding: str | None = None  # saved as the server encoded it (without --compressed)
    # With mirrors: each URL's bytes in the file and why it was dropped, if it was (None without).
    sources: list[dict[str, Any]] | None = None
    # The protocol of the last answer: "1.1", "2", "3" (HTTP), or the scheme (ftp, sftp); None if none.
    http_version: str | None = None
    # Joined from several URLs with no checksum to prove they serve the same bytes (mirrors' ETags
    # and dates differ between servers even for one file, so only a digest can tell).
    unverified: bool = False

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
            "reason": self.reason,
            "content_encoding": self.content_encoding,
            "http_version": self.http_version,
            "elapsed": round(self.elapsed, 6),
            **({"sources": self.sources, "unverified": self.unverified} if self.sources is not None else {}),
        }


@dataclass(slots=True)
class Report:
    """Every Result of a run, in input order, with what the run as a whole measured.

    *items* is a list, or (from a run) a compact view that makes each Result as it is read: the
    totals below come from its arrays, not from a million objects.
    """

    items: Sequence[Result]
    engine: str = ""
    transport: str = ""  # what moved the bytes: "curl", "lean", or a factory's class
    wall: float = field(default=0.0, compare=False)
    max_lag: float | None = field(default=None, compare=False)  # event-loop lag; None without a loop
    interrupted: bool = False
    # CPU seconds the run spent: "total" (its processes), "sha256" and "write" (of streamed bodies).
    cpu: dict[str, float] | None = field(default=None, compare=False)
    stopped: str | None = None  # why the run started no more items (the disk is full), if it stopped
    workers: int = 1  # the processes the run was spread over (--workers)

    def _log(self) -> Any:
        return getattr(self.items, "log", None)  # a results.Items view, or None for a plain list

    def saved(self) -> Iterator[str]:
        """The paths of the items that ended with their file complete (ok or skipped), in order;
        from the log's arrays where there is one, with no Result made."""
        log = self._log()
        if log is not None:
            return log.paths(("ok", "skipped"))
        return (result.path for result in self.items if result.status in ("ok", "skipped"))

    def counts(self) -> Counter[str]:
        log = self._log()
        if log is not None:
            return log.counts()
        counts: Counter[str] = Counter({status: 0 for status in STATUSES})
        counts.update(result.status for result in self.items)
        return counts

    @property
    def retried(self) -> int:
        """Items that needed more than one attempt."""
        log = self._log()
        if log is not None:
            return log.retried()
        return sum(result.attempts > 1 for result in self.items)

    @property
    def bytes(self) -> int:
        """Bytes downloaded in this run and kept: complete files', and what interrupted ones keep
        in their parts (skipped files and bytes resumed from earlier runs not included)."""
        log = self._log()
        if log is not None:
            return log.downloaded()
        kept = ("ok", "interrupted")
        return sum(r.bytes - r.resumed_from for r in self.items if r.status in kept and r.attempts)

    @property
    def ok(self) -> bool:
        """Whether every item is ok or skipped, and the run was not interrupted."""
        counts = self.counts()
        return not self.interrupted and counts["failed"] == 0 and counts["not_found"] == 0

    def exit_status(self) -> int:
        """0 all ok, 1 some items failed, 130 interrupted (the command line's convention)."""
        if self.interrupted:
            return 130
        return 0 if self.ok else 1

    def failures(self, limit: int) -> tuple[list[Result], int]:
        """The first *limit* items that failed or were not found (not the unfinished ones), and how
        many did."""
        log = self._log()
        if log is not None:
            return log.failures(limit)
        found = [r for r in self.items if r.status in ("failed", "not_found")]
        return found[:limit], len(found)

    def held(self) -> int:
        """The bytes the parts of the items an interruption cut off keep (for the next run)."""
        log = self._log()
        if log is not None:
            return int(log.held())
        return sum(r.bytes for r in self.items if r.status == "interrupted")

    def unfinished(self) -> tuple[int, int]:
        """Items an interruption left unfinished: those under way (interrupted), those never begun."""
        log = self._log()
        if log is not None:
            return log.unfinished()
        stopped = [r for r in self.items if r.status == "interrupted"]
        never = sum(r.error == NOT_STARTED for r in stopped)
        return len(stopped) - never, never

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        wall = self.wall or 1e-9
        done = counts["ok"]
        log = self._log()
        attempts = log.attempts() if log is not None else sum(r.attempts for r in self.items)
        downloaded = self.bytes
        stopped, never = self.unfinished()
        return {
            "engine": self.engine,
            "transport": self.transport,
            "workers": self.workers,
            "items": len(self.items),
            **{status: counts[status] for status in STATUSES if status != "interrupted"},
            # (the items' own counts: "interrupted" below says whether the run was)
            "interrupted_items": stopped,
            "not_started": never,
            "retried": self.retried,
            "attempts": attempts,
            "bytes": downloaded,
            "wall": round(self.wall, 4),
            "files_per_s": round(done / wall, 2),
            "mb_per_s": round(downloaded / wall / 1e6, 3),
            "max_loop_lag_ms": None if self.max_lag is None else round(self.max_lag * 1000, 2),
            "interrupted": self.interrupted,
            "stopped": self.stopped,
            "cpu_seconds": None if self.cpu is None else {k: round(v, 4) for k, v in self.cpu.items()},
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "items": [result.to_json() for result in self.items]}

    def write_json(self, path: str | Path) -> None:
        """Write the report to *path* (``-``: stdout; a link, a FIFO or a device as the user means
        it: ``shared.output``), one item at a time (a million items never sit in memory as one
        document); a regular file is replaced whole, never seen half written."""
        import json

        from aiotulip.shared.output import writing

        with writing(str(path)) as f:
            f.write('{\n  "summary": ' + json.dumps(self.summary(), indent=2).replace("\n", "\n  "))
            f.write(',\n  "items": [')
            for number, result in enumerate(self.items):
                f.write(("\n    " if number == 0 else ",\n    ") + json.dumps(result.to_json()))
            f.write("\n  ]\n}\n" if self.items else "]\n}\n")

    def __repr__(self) -> str:
        counts = self.counts()
        shown = ", ".join(f"{status}={counts[status]}" for status in STATUSES)
        return f"<Report {self.engine or 'run'}: {len(self.items)} items, {shown}>"
