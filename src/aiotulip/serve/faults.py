"""Deciding, per request, which fault to inject: seeded, repeatable, independent of timing.

A global random stream would hand out faults in request-arrival order, which concurrency shuffles
from run to run. Instead the n-th request for a given file always draws from its own generator,
seeded by (seed, name, n): the same client workload meets the same faults every run.

The kinds that end a request early share one uniform draw split into bands (stall, error, drop,
truncate), so each kind happens at exactly its configured rate and never two at once.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from aiotulip.errors import UsageError
from aiotulip.serve.config import FAULT_KINDS, Faults
from aiotulip.shared.units import parse_rate

__all__ = ["Plan", "decide", "overrides_from_query"]

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
    rng = random.Random(f"{seed}:{name}:{nth}")
    draw, jitter, cut, pick = rng.random(), rng.random(), rng.random(), rng.random()
    kind: Kind | None = None
    edge = 0.0
    for candidate in FAULT_KINDS:
        edge += getattr(faults, f"{candidate}_rate")
        if draw < edge:
            kind = candidate  # type: ignore[assignment]
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
                kind, status = flag, 0  # type: ignore[assignment]
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
