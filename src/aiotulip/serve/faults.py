"""The faults a server injects: their settings (``Faults``, changeable while it runs through ``PUT
/_tulip/faults``, checked and round-tripped through JSON) and the decision, per request, of which
one it meets: seeded, repeatable, independent of timing.

A global random stream would hand out faults in request-arrival order, which concurrency shuffles
from run to run. Instead the n-th request for a given file always draws from its own generator,
seeded by (seed, name, n): the same client workload meets the same faults every run.

The kinds that end a request early share one uniform draw split into bands (stall, error, drop,
truncate), so each kind happens at exactly its configured rate and never two at once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal, cast

from aiotulip.errors import UsageError
from aiotulip.shared.shapes import seeded
from aiotulip.shared.units import parse_rate, parse_size

__all__ = ["FAULT_KINDS", "Faults", "Plan", "decide", "overrides_from_query"]

#: The fault kinds that end a request early, in the order their probability bands are laid out
#: (a new kind goes last, so that a seed keeps giving the faults it gave before).
FAULT_KINDS = ("stall", "error", "drop", "truncate", "reset")
_SECONDS = ("delay", "jitter", "retry_after", "reset_after", "upstream_delay", "slice_delay", "slow_close")


@dataclass
class Faults:
    """Fault rates and shapes; every rate is a probability per file request."""

    delay: float = 0.0  # seconds before every file response ...
    jitter: float = 0.0  # ... plus up to this many more, drawn uniformly
    error_rate: float = 0.0  # answer with one of error_codes instead of the file
    error_codes: tuple[int, ...] = (500, 503, 429)
    retry_after: float = 1.0  # seconds, sent with 429 and 503
    drop_rate: float = 0.0  # send part of the body, then reset the connection
    truncate_rate: float = 0.0  # send part of the body, then close the connection cleanly
    stall_rate: float = 0.0  # send nothing until the client gives up
    reset_rate: float = 0.0  # reset the connection reset_after seconds into the answer (toxiproxy reset_peer)
    reset_after: float = 0.0  # 0: before any byte; else the body is held short of its end until then
    bandwidth: float | None = None  # bytes per second per response, None for unlimited
    # The shapes toxiproxy gives TCP streams, on every answer the rules reach:
    upstream_delay: float = 0.0  # seconds before the request goes on (to the upstream, or the disk)
    slice_size: int = 0  # write bodies in pieces of this many bytes (toxiproxy slicer) ...
    slice_delay: float = 0.0  # ... with this many seconds between them
    limit_data: int = 0  # close a connection once this many body bytes went over it (0: no limit)
    slow_close: float = 0.0  # seconds the server waits before closing a connection it chose to close
    paths: tuple[str, ...] = ()  # URL-path globs ("files/*.iso", "api/*") the faults reach; () for all

    def __post_init__(self) -> None:
        self.error_codes = tuple(int(code) for code in self.error_codes)
        if isinstance(self.paths, str):
            self.paths = (self.paths,)
        self.paths = tuple(self.paths)
        self.validate()

    def validate(self) -> None:
        """Raise UsageError if any value is impossible."""
        for name in _SECONDS:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise UsageError(f"{name.replace('_', '-')} must be a number of seconds >= 0, not {value!r}")
        for kind in FAULT_KINDS:
            rate = getattr(self, f"{kind}_rate")
            if not (isinstance(rate, int | float) and 0 <= rate <= 1):
                raise UsageError(f"{kind}-rate must be a probability between 0 and 1, not {rate!r}")
        if self.total_rate() > 1 + 1e-9:
            raise UsageError("error, drop, truncate and stall rates add up to more than 1")
        if not self.error_codes or any(not 400 <= code <= 599 for code in self.error_codes):
            raise UsageError(f"error codes must be HTTP error statuses (400-599), not {self.error_codes!r}")
        if self.bandwidth is not None and not (self.bandwidth > 0 and math.isfinite(self.bandwidth)):
            raise UsageError(f"bandwidth must be a positive rate, not {self.bandwidth!r}")
        for name in ("slice_size", "limit_data"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                raise UsageError(f"{name.replace('_', '-')} must be a number of bytes >= 0, not {value!r}")
        if any(not isinstance(glob, str) or not glob.strip("/") for glob in self.paths):
            raise UsageError(f"fault paths must be non-empty globs such as 'files/*.iso', not {self.paths!r}")

    def total_rate(self) -> float:
        return sum(getattr(self, f"{kind}_rate") for kind in FAULT_KINDS)

    def active(self) -> bool:
        """Whether any fault can happen; a quiet server skips every per-request draw."""
        return bool(
            self.delay
            or self.jitter
            or self.total_rate()
            or self.bandwidth
            or self.upstream_delay
            or self.slice_size
            or self.limit_data
            or self.slow_close
        )

    def reaches(self, path: str) -> bool:
        """Whether the faults apply to a request for URL *path* (``files/a.bin``, no leading slash)."""
        return not self.paths or any(fnmatchcase(path, glob.lstrip("/")) for glob in self.paths)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["error_codes"] = list(self.error_codes)
        data["paths"] = list(self.paths)
        return data

    def updated(self, changes: dict[str, Any]) -> Faults:
        """Return a copy with *changes* applied (from JSON); raise UsageError for unknown keys."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise UsageError(f"unknown fault setting(s): {', '.join(unknown)}")
        changes = dict(changes)
        try:
            if isinstance(changes.get("bandwidth"), str):
                changes["bandwidth"] = parse_rate(changes["bandwidth"])
            for name in ("slice_size", "limit_data"):
                if isinstance(changes.get(name), str):
                    changes[name] = parse_size(changes[name])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            return dataclasses.replace(self, **changes)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad fault settings: {exc}") from None


Kind = Literal["stall", "error", "drop", "truncate", "reset"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do to one request."""

    delay: float = 0.0
    kind: Kind | None = None
    status: int = 0  # for kind == "error"
    retry_after: float | None = None  # sent with 429 and 503
    cut: float = 0.5  # for drop/truncate: the fraction of the body sent before closing
    bandwidth: float | None = None
    reset_after: float = 0.0  # for kind == "reset"
    upstream_delay: float = 0.0
    slice_size: int = 0
    slice_delay: float = 0.0
    limit_data: int = 0
    slow_close: float = 0.0

    def shapes_body(self) -> bool:
        """Whether the body must go out piece by piece (else it may be handed over whole)."""
        return bool(self.kind or self.bandwidth or self.slice_size or self.limit_data)


QUIET = Plan()


def decide(faults: Faults, seed: int, name: str, nth: int) -> Plan:
    """Return the plan for the *nth* request (0-based) of file *name* under *faults*."""
    rng = seeded(seed, name, nth)
    draw, jitter, cut, pick = rng.random(), rng.random(), rng.random(), rng.random()
    kind: Kind | None = None
    edge = 0.0
    for candidate in FAULT_KINDS:
        edge += getattr(faults, f"{candidate}_rate")
        if draw < edge:
            kind = cast(Kind, candidate)
            break
    status = faults.error_codes[int(pick * len(faults.error_codes))] if kind == "error" else 0
    return Plan(
        delay=faults.delay + jitter * faults.jitter,
        kind=kind,
        status=status,
        retry_after=faults.retry_after if status in (429, 503) else None,
        cut=cut,
        bandwidth=faults.bandwidth,
        reset_after=faults.reset_after,
        upstream_delay=faults.upstream_delay,
        slice_size=faults.slice_size,
        slice_delay=faults.slice_delay,
        limit_data=faults.limit_data,
        slow_close=faults.slow_close,
    )


_TRUE = {"1", "true", "yes", "on"}
_MAX_SECONDS = 3600.0  # a per-request delay longer than an hour is a typo, and would hold a task


def overrides_from_query(query: Mapping[str, str], plan: Plan, nth: int) -> Plan:
    """Return *plan* changed by per-request query options; raise UsageError for bad values.

    ``delay=S``, ``status=CODE``, ``drop=1``, ``truncate=1``, ``stall=1``, ``reset=S`` (with
    ``fail=N``: only the first N requests of this file), ``retry_after=S``, ``cut=FRACTION``,
    ``bandwidth=RATE``.
    """
    if not query:
        return plan
    try:
        delay = float(query["delay"]) if "delay" in query else plan.delay
        kind, status, retry_after = plan.kind, plan.status, plan.retry_after
        first = nth < int(query.get("fail", "1000000000"))  # fail=N: only the first N requests
        reset_after = plan.reset_after
        for flag in ("stall", "drop", "truncate"):
            if query.get(flag, "").lower() in _TRUE and first:
                kind, status = flag, 0
        if "reset" in query and first:
            kind, status, reset_after = "reset", 0, float(query["reset"])
        if "status" in query and first:
            kind, status = "error", int(query["status"])
            retry_after = 1.0 if status in (429, 503) else None
        if "retry_after" in query:
            retry_after = float(query["retry_after"])
        cut = float(query["cut"]) if "cut" in query else plan.cut
        bandwidth = parse_rate(query["bandwidth"]) if "bandwidth" in query else plan.bandwidth
    except (ValueError, KeyError) as exc:
        raise UsageError(f"bad fault option in query: {exc}") from None
    seconds = (delay, reset_after, 0.0 if retry_after is None else retry_after)
    if any(not (math.isfinite(value) and 0 <= value <= _MAX_SECONDS) for value in seconds):
        raise UsageError(f"bad fault option in query: seconds from 0 to {_MAX_SECONDS:g}")
    if not 0 <= cut <= 1 or (kind == "error" and not 400 <= status <= 599):
        raise UsageError("bad fault option in query: out of range (status 400-599, cut 0-1)")
    return dataclasses.replace(
        plan,
        delay=delay,
        kind=kind,
        status=status,
        retry_after=retry_after,
        cut=cut,
        bandwidth=bandwidth,
        reset_after=reset_after,
    )
