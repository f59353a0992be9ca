"""The Results of a run, kept compactly: a few arrays, not a million objects.

An engine stores each item's Result as it ends (``log[index] = result``); the log keeps its numbers
in arrays (57 bytes an item) and its rare words (errors) in a dictionary, and makes a Result again
when asked, with the URL and path from the job. A run of a million items then holds about 60 MB of
outcomes instead of half a gigabyte of Result objects, and the Report reads its totals straight off
the arrays.
"""

from __future__ import annotations

import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast, overload

from aiotulip.download.http.urls import redact
from aiotulip.download.models import NOT_STARTED, STATUSES, Job, Jobs, Result, Status

__all__ = ["Items", "ResultLog"]

_UNSET = 255
_VERSIONS: list[str | None] = [None, "1.0", "1.1", "2", "3", "ftp", "ftps", "sftp"]
_VERSION_CODES = {version: code for code, version in enumerate(_VERSIONS)}
_NO_WORDS = (None, None, False, None, None, None, False)
_CODES: dict[str, int] = {status: code for code, status in enumerate(STATUSES)}


class ResultLog(Sequence["Result | None"]):
    """Per job of *jobs*, its Result (None until the job has one)."""

    def __init__(self, jobs: Jobs, path: Callable[[Job], str], renames: bool = False) -> None:
        self._jobs = jobs
        self._path = path
        # Paths other than the job's (a server chose one with --content-disposition; a stranger's
        # file took the URL's and the result says so): looked for only then, so the common run
        # pays nothing for it.
        self._renames = renames
        self._renamed: dict[int, str] = {}
        count = len(jobs)
        self._status = bytearray([_UNSET]) * count
        self._bytes = array.array("q", bytes(8 * count))
        self._resumed = array.array("q", bytes(8 * count))
        self._attempts = array.array("i", bytes(4 * count))
        self._elapsed = array.array("f", bytes(4 * count))
        self._sha = bytearray(32 * count)
        self._version = bytearray(count)  # an index in _VERSIONS (0: none)
        self._no_sha: set[int] = set()
        # error, kind, unvalidated, reason, content encoding, sources: rare, kept only where there are any
        self._words: dict[int, tuple[str | None, str | None, bool, str | None, str | None, Any, bool]] = {}
        self._listed: list[Job] | None = None

    def __len__(self) -> int:
        return len(self._status)

    def __setitem__(self, index: int, result: Result | None) -> None:
        if result is None:
            self._status[index] = _UNSET
            return
        self._status[index] = _CODES[result.status]
        self._bytes[index] = result.bytes
        self._resumed[index] = result.resumed_from
        self._attempts[index] = result.attempts
        self._elapsed[index] = result.elapsed
        version = result.http_version
        code = _VERSION_CODES.get(version)
        if code is None and version is not None:
            _VERSIONS.append(version)  # (rare: a protocol name not foreseen)
            code = _VERSION_CODES[version] = len(_VERSIONS) - 1
        self._version[index] = code or 0
        if result.sha256 is None:
            self._no_sha.add(index)
        else:
            self._sha[32 * index : 32 * index + 32] = bytes.fromhex(result.sha256)
            self._no_sha.discard(index)
        words = (result.error, result.error_kind, result.resumed_unvalidated, result.reason,
                 result.content_encoding, result.sources, result.unverified)  # fmt: skip
        if any(words):
            self._words[index] = words
        else:
            self._words.pop(index, None)
        if self._renames or result.reason is not None:
            if result.path != self._path(self._job(index)):
                self._renamed[index] = result.path
            else:
                self._renamed.pop(index, None)
        elif self._renamed:
            self._renamed.pop(index, None)

    @overload
    def __getitem__(self, index: int) -> Result | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[Result | None]: ...

    def __getitem__(self, index: int | slice) -> Result | list[Result | None] | None:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if self._status[index] == _UNSET:
            return None
        return self._make(index, self._job(index))

    def __iter__(self) -> Iterator[Result | None]:
        for _job, result in self.pairs():
            yield result

    def pairs(self) -> Iterator[tuple[Job, Result | None]]:
        """Every job with its Result (None if unfinished), the jobs walked once."""
        status = self._status
        for index, job in enumerate(self._jobs):
            yield job, None if status[index] == _UNSET else self._make(index, job)

    def paths(self, statuses: tuple[str, ...]) -> Iterator[str]:
        """The path of each item that ended with one of *statuses*, in order."""
        wanted = {_CODES[status] for status in statuses}
        status, renamed, path = self._status, self._renamed, self._path
        for index, job in enumerate(self._jobs):
            if status[index] in wanted:
                yield renamed[index] if renamed and index in renamed else path(job)

    def ended(self) -> Iterator[int]:
        """The indices of the jobs that have a Result, in order (no job made)."""
        return (index for index, code in enumerate(self._status) if code != _UNSET)

    def _job(self, index: int) -> Job:
        jobs = self._jobs
        if hasattr(jobs, "__getitem__"):  # a sequence, or a plain list (by its line)
            return cast(Job, jobs[index])
        if self._listed is None:  # a lazy list of jobs: random access is rare (tests, a cluster)
            self._listed = list(jobs)
        return self._listed[index]

    def _make(self, index: int, job: Job) -> Result:
        error, kind, unvalidated, reason, encoding, sources, unverified = self._words.get(index, _NO_WORDS)
        renamed = self._renamed
        return Result(
            redact(job.url),
            renamed[index] if renamed and index in renamed else self._path(job),
            STATUSES[self._status[index]],
            self._bytes[index],
            None if index in self._no_sha else self._sha[32 * index : 32 * index + 32].hex(),
            self._attempts[index],
            error,
            self._resumed[index],
            float(self._elapsed[index]),
            kind,
            unvalidated,
            reason,
            encoding,
            sources,
            _VERSIONS[self._version[index]],
            unverified,
        )

    # -- what a Report asks of all of them, from the arrays --------------------------------------------

    def finished(self) -> int:
        return len(self._status) - self._status.count(_UNSET)

    def unfinished(self) -> tuple[int, int]:
        """Items an interruption stopped under way, and items it left never begun."""
        return self._status.count(_CODES["interrupted"]), self._status.count(_UNSET)

    def failures(self, limit: int) -> tuple[list[Result], int]:
        """Return the first *limit* failed or not-found Results (interrupted ones aside) and how
        many there are, making Results only for those shown (the jobs taken by number: a million
        not started are not a million Jobs made)."""
        wanted = (_CODES["failed"], _CODES["not_found"])
        status = self._status
        total = sum(status.count(code) for code in wanted)
        shown: list[Result] = []
        if total and limit > 0:
            for index, code in enumerate(status):
                if code in wanted:
                    shown.append(self._make(index, self._job(index)))
                    if len(shown) == limit:
                        break
        return shown, total

    def held(self) -> int:
        """The bytes the interrupted items' parts keep."""
        code, size = _CODES["interrupted"], self._bytes
        return (
            sum(size[i] for i in range(len(size)) if self._status[i] == code) if code in self._status else 0
        )

    def counts(self) -> Counter[str]:
        counts: Counter[str] = Counter({status: 0 for status in STATUSES})
        for code, status in enumerate(STATUSES):
            counts[status] = self._status.count(code)
        counts["interrupted"] += self._status.count(_UNSET)  # never begun: not started
        return counts

    def retried(self) -> int:
        return sum(1 for attempts in self._attempts if attempts > 1)

    def attempts(self) -> int:
        return sum(self._attempts)

    def downloaded(self) -> int:
        """Bytes fetched by this run (a line asking again for a URL fetched once, with no attempt
        of its own, adds none)."""
        kept = (_CODES["ok"], _CODES["interrupted"])  # (an interrupted item's: what its part keeps)
        status, size, resumed, attempts = self._status, self._bytes, self._resumed, self._attempts
        return sum(size[i] - resumed[i] for i in range(len(status)) if status[i] in kept and attempts[i])


class Items(Sequence[Result]):
    """The Report's items: every job's Result, one never begun as ``interrupted``/``not started``."""

    def __init__(self, log: ResultLog) -> None:
        self.log = log

    def __len__(self) -> int:
        return len(self.log)

    @overload
    def __getitem__(self, index: int) -> Result: ...
    @overload
    def __getitem__(self, index: slice) -> list[Result]: ...

    def __getitem__(self, index: int | slice) -> Result | list[Result]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        result = self.log[index]
        return result if result is not None else self._interrupted(self.log._job(index % len(self)))

    def __iter__(self) -> Iterator[Result]:
        for job, result in self.log.pairs():
            yield result if result is not None else self._interrupted(job)

    def _interrupted(self, job: Job) -> Result:
        status: Status = "interrupted"
        path = self.log._path(job)
        return Result(redact(job.url), path, status, error=NOT_STARTED, error_kind="interrupted")

    def __add__(self, other: Sequence[Result]) -> list[Result]:
        return [*self, *other]

    def __radd__(self, other: Sequence[Result]) -> list[Result]:
        return [*other, *self]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<{len(self)} items>"
