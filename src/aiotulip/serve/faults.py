"""The faults a server injects: their settings (``Faults``, changeable while it runs through ``PUT
/_tulip/faults``, checked and round-tripped through JSON) and the decision, per request, of which
one it meets: seeded, repeatable, independent of timing.

A global random stream would hand out faults in request-arrival order, which concurrency shuffles
from run to run. Instead the n-th request for a given file always draws from its own generator,
seeded by (seed, name, n): the same client workload meets the same faults every run.

The kinds share one uniform draw split into bands (stall, error, drop, truncate, reset, then the
kinds that only a careful client notices: corrupt, malformed_chunk, garbage, empty, slow_headers,
huge_headers), so each kind happens at exactly its configured rate and never two at once. A new kind
goes after the others, so that a seed keeps giving the faults it gave before; the draws a new kind
needs (where to flip bytes, which garbage to send) come after the first four for the same reason.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal, cast, get_args

from aiotulip.errors import UsageError
from aiotulip.shared.shapes import seeded
from aiotulip.shared.units import parse_rate, parse_size

__all__ = ["EARLY_KINDS", "FAULT_KINDS", "QUIET", "Faults", "Plan", "decide", "overrides_from_query"]

#: The fault kinds that end a request early, in the order their probability bands are laid out
#: (a new kind goes last, so that a seed keeps giving the faults it gave before).
Kind = Literal[
    "stall",
    "error",
    "drop",
    "truncate",
    "reset",
    "corrupt",
    "malformed_chunk",
    "garbage",
    "empty",
    "slow_headers",
    "huge_headers",
]
FAULT_KINDS: tuple[Kind, ...] = get_args(Kind)
_SECONDS = (
    "delay",
    "jitter",
    "retry_after",
    "reset_after",
    "upstream_delay",
    "slice_delay",
    "slow_close",
    "slow_headers_time",
)
_BYTES = ("slice_size", "limit_data", "huge_headers_size")
_MAX_HUGE_HEADERS = 64 * 1024 * 1024  # a head bigger than this tests nothing a smaller one does not


def _codes(given: object) -> tuple[int, ...]:
    """Error statuses as given: a list, one number, or a text such as "503,429" (the command line's
    form, which JSON callers send too; read as characters, "503" was the codes 5, 0 and 3)."""
    items: Iterable[Any]
    if isinstance(given, str):
        items = given.replace(",", " ").split()
    elif isinstance(given, Iterable):
        items = given
    else:
        items = [given]
    try:
        return tuple(int(code) for code in items)
    except (TypeError, ValueError):
        raise UsageError(f"error codes must be HTTP error statuses (400-599), not {given!r}"[:200]) from None


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
    # Faults only a careful client notices (each a band of the one draw, as the kinds above):
    corrupt_rate: float = 0.0  # the whole body, its length right, a few bytes flipped (only a checksum tells)
    malformed_chunk_rate: float = 0.0  # a 200 head, then bytes that are no chunk, then a close
    garbage_rate: float = 0.0  # random bytes instead of an HTTP answer, then a close
    empty_rate: float = 0.0  # the connection closed (FIN) before any byte
    slow_headers_rate: float = 0.0  # the head dribbled out over slow_headers_time seconds
    slow_headers_time: float = 2.0
    huge_headers_rate: float = 0.0  # a head padded to huge_headers_size bytes (one header line)
    huge_headers_size: int = 1024 * 1024
    paths: tuple[str, ...] = ()  # URL-path globs ("files/*.iso", "api/*") the faults reach; () for all

    def __post_init__(self) -> None:
        self.error_codes = _codes(self.error_codes)
        if isinstance(self.paths, str):
            self.paths = (self.paths,)
        self.paths = tuple(self.paths)
        self.validate()

    def validate(self) -> None:
        """Raise UsageError if any value is impossible."""
        for name in _SECONDS:
            value = getattr(self, name)
            if not (_number(value) and math.isfinite(value) and value >= 0):
                raise UsageError(f"{name.replace('_', '-')} must be a number of seconds >= 0, not {value!r}")
        for kind in FAULT_KINDS:
            rate = getattr(self, f"{kind}_rate")
            if not (_number(rate) and 0 <= rate <= 1):
                raise UsageError(f"{kind}-rate must be a probability between 0 and 1, not {rate!r}")
        if self.total_rate() > 1 + 1e-9:
            raise UsageError(f"the fault rates ({', '.join(FAULT_KINDS)}) add up to more than 1")
        if not self.error_codes or any(not 400 <= code <= 599 for code in self.error_codes):
            raise UsageError(f"error codes must be HTTP error statuses (400-599), not {self.error_codes!r}")
        bandwidth = self.bandwidth
        if bandwidth is not None and not (_number(bandwidth) and bandwidth > 0 and math.isfinite(bandwidth)):
            raise UsageError(f"bandwidth must be a positive rate, not {self.bandwidth!r}")
        for name in _BYTES:
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                raise UsageError(f"{name.replace('_', '-')} must be a number of bytes >= 0, not {value!r}")
        if self.huge_headers_size > _MAX_HUGE_HEADERS:
            raise UsageError(f"huge-headers-size must be at most {_MAX_HUGE_HEADERS >> 20} MiB")
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
            for name in _BYTES:
                if isinstance(changes.get(name), str):
                    changes[name] = parse_size(changes[name])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            return dataclasses.replace(self, **changes)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad fault settings: {exc}") from None


#: The kinds answered before any of the body is read (for a proxy: without troubling the upstream).
EARLY_KINDS = frozenset({"stall", "error", "malformed_chunk", "garbage", "empty"})


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
    slow_headers_time: float = 2.0  # for kind == "slow_headers"
    huge_headers_size: int = 1024 * 1024  # for kind == "huge_headers"
    salt: int = 0  # drawn after the rest: where corrupt flips bytes, which garbage is sent

    def shapes_body(self) -> bool:
        """Whether the body must go out piece by piece (else it may be handed over whole)."""
        return bool(self.kind or self.bandwidth or self.slice_size or self.limit_data)


QUIET = Plan()


def decide(faults: Faults, seed: int, name: str, nth: int) -> Plan:
    """Return the plan for the *nth* request (0-based) of file *name* under *faults*."""
    rng = seeded(seed, name, nth)
    draw, jitter, cut, pick = rng.random(), rng.random(), rng.random(), rng.random()
    salt = rng.getrandbits(32)  # after the four above: old seeds keep their plans
    kind: Kind | None = None
    edge = 0.0
    for candidate in FAULT_KINDS:
        edge += getattr(faults, f"{candidate}_rate")
        if draw < edge:
            kind = candidate
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
        slow_headers_time=faults.slow_headers_time,
        huge_headers_size=faults.huge_headers_size,
        salt=salt,
    )


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_FLAGS = ("stall", "drop", "truncate", "corrupt", "malformed_chunk", "garbage", "empty")
_MAX_SECONDS = 3600.0  # a per-request delay longer than an hour is a typo, and would hold a task
_MAX_FAIL = 10**9


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not 1 or 0")


def overrides_from_query(query: Mapping[str, str], plan: Plan, nth: int) -> Plan:
    """Return *plan* changed by per-request query options; raise UsageError for bad values.

    ``delay=S``, ``status=CODE``, the flags ``drop=1``, ``truncate=1``, ``stall=1``, ``corrupt=1``,
    ``malformed_chunk=1``, ``garbage=1``, ``empty=1``, ``reset=S``, ``slow_headers=S``,
    ``huge_headers=SIZE`` (with ``fail=N``: only the first N requests of this file),
    ``retry_after=S``, ``cut=FRACTION``, ``bandwidth=RATE``.
    """
    if not query:
        return plan
    try:
        delay = _float(query, "delay") if "delay" in query else plan.delay
        kind, status, retry_after = plan.kind, plan.status, plan.retry_after
        fail = _int(query, "fail") if "fail" in query else _MAX_FAIL
        if not 0 <= fail <= _MAX_FAIL:
            raise ValueError(f"fail must be a count from 0 to {_MAX_FAIL}, not {fail}")
        first = nth < fail  # fail=N: only the first N requests
        reset_after, slow, huge = plan.reset_after, plan.slow_headers_time, plan.huge_headers_size
        for flag in _FLAGS:
            if _flag(query, flag) and first:
                kind, status = cast(Kind, flag), 0
        if "reset" in query and first:
            kind, status, reset_after = "reset", 0, _float(query, "reset")
        if "slow_headers" in query and first:
            kind, status, slow = "slow_headers", 0, _float(query, "slow_headers")
        if "huge_headers" in query and first:
            kind, status, huge = "huge_headers", 0, parse_size(query["huge_headers"])
        if "status" in query and first:
            kind, status = "error", _int(query, "status")
            retry_after = 1.0 if status in (429, 503) else None
        if "retry_after" in query:
            retry_after = _float(query, "retry_after")
        cut = _float(query, "cut") if "cut" in query else plan.cut
        bandwidth = parse_rate(query["bandwidth"]) if "bandwidth" in query else plan.bandwidth
    except (ValueError, KeyError) as exc:
        raise UsageError(f"bad fault option in query: {exc}") from None
    seconds = (delay, reset_after, slow, 0.0 if retry_after is None else retry_after)
    if any(not (math.isfinite(value) and 0 <= value <= _MAX_SECONDS) for value in seconds):
        raise UsageError(f"bad fault option in query: seconds from 0 to {_MAX_SECONDS:g}")
    if not 0 <= cut <= 1 or (kind == "error" and not 400 <= status <= 599):
        raise UsageError("bad fault option in query: out of range (status 400-599, cut 0-1)")
    if not 0 <= huge <= _MAX_HUGE_HEADERS:
        raise UsageError(f"bad fault option in query: huge_headers up to {_MAX_HUGE_HEADERS >> 20}M")
    if bandwidth is not None and not (math.isfinite(bandwidth) and bandwidth > 0):
        raise UsageError("bad fault option in query: bandwidth must be a positive rate")
    return dataclasses.replace(
        plan,
        delay=delay,
        kind=kind,
        status=status,
        retry_after=retry_after,
        cut=cut,
        bandwidth=bandwidth,
        reset_after=reset_after,
        slow_headers_time=slow,
        huge_headers_size=huge,
        salt=plan.salt or nth + 1,  # a quiet server drew none: the n-th request still has its own
    )


def _number(value: object) -> bool:
    """Whether *value* is a number, as JSON's ``true`` (a bool, so an int to Python) is not: an
    error_rate of true made every answer an error."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(query: Mapping[str, str], name: str) -> int:
    try:
        return int(query[name])
    except ValueError:  # (int's own words, "invalid literal for int() with base 10", say nothing)
        raise ValueError(f"{name} must be a whole number, not {query[name][:40]!r}") from None


def _float(query: Mapping[str, str], name: str) -> float:
    try:
        return float(query[name])
    except ValueError:
        raise ValueError(f"{name} must be a number, not {query[name][:40]!r}") from None
