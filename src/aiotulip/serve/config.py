"""What a server serves and how badly it behaves: ServeConfig and Faults.

Faults can change while the server runs (``PUT /_tulip/faults``), so they are a separate object that
validates itself and round-trips through JSON.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from aiotulip.errors import UsageError
from aiotulip.shared.units import parse_rate, parse_size

__all__ = ["FAULT_KINDS", "Faults", "ServeConfig", "check_header_value"]


def check_header_value(name: str, value: object, absent: str = "") -> None:
    """Raise ValueError unless *value* is None or a header value that cannot split the header."""
    if value is not None and (not isinstance(value, str) or not value.isprintable()):
        raise ValueError(f"{name} must be a header value on one line{absent}")


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


@dataclass
class ServeConfig:
    """Everything ``tulip serve`` needs; the defaults give a quiet synthetic corpus on loopback."""

    host: str = "127.0.0.1"
    port: int = 0
    files: int = 100
    size: tuple[int, int] = (2048, 2048)  # bytes, drawn uniformly per file when low < high
    root: Path | None = None  # serve this directory instead of a synthetic corpus
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    access_log: bool = False
    stall_limit: float = 300.0  # a stalled response gives up after this long even if the client does not
    # A new connection must have sent a whole request within this long, or it is closed (nginx's
    # client_header_timeout): a client dripping its headers cannot hold a connection for ever. 0: none.
    header_timeout: float = 60.0
    # Loopback-only control endpoints: PUT /_tulip/faults changes how the server behaves.
    control: bool = True
    gzip: bool = False  # text files gzipped for clients that send Accept-Encoding: gzip
    index: bool = False  # /files/ and its folders list their files (HTML, or JSON on request)
    cache_control: str | None = None  # sent with every file; PUT /_tulip/corpus can change it
    upstream: str | None = None  # proxy mode: forward to this server, faults on its answers
    upstream_ca: Path | None = None  # an https upstream's certificate is checked against this CA too
    upstream_insecure: bool = False  # ... or not checked at all
    # HTTPS: a certificate (and key, unless the PEM holds it), or a throwaway one (the CA goes to
    # tls_dir, a fresh temporary folder by default, removed when the server stops).
    cert: Path | None = None
    key: Path | None = None
    self_signed: bool = False
    tls_dir: Path | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UsageError(f"port must be between 0 and 65535, not {self.port}")
        if not (math.isfinite(self.header_timeout) and self.header_timeout >= 0):
            raise UsageError(f"header timeout must be a number of seconds >= 0, not {self.header_timeout!r}")
        if self.files < 0:
            raise UsageError(f"files must be >= 0, not {self.files}")
        if self.size[0] < 0 or self.size[1] < self.size[0]:
            raise UsageError(f"bad size range {self.size}")
        if self.self_signed and (self.cert is not None or self.key is not None):
            raise UsageError("--tls self-signed makes its own certificate: no --cert or --key with it")
        if self.key is not None and self.cert is None:
            raise UsageError("--key goes with --cert")
        try:
            check_header_value("--cache-control", self.cache_control)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if (self.upstream_ca is not None or self.upstream_insecure) and self.upstream is None:
            raise UsageError("--upstream-ca and --upstream-insecure go with --upstream")
        if self.upstream_ca is not None and not Path(self.upstream_ca).is_file():
            raise UsageError(f"cannot read --upstream-ca {self.upstream_ca}")
        if self.upstream_ca is not None and self.upstream_insecure:
            raise UsageError("--upstream-insecure skips the check --upstream-ca is for: give one of them")
        if self.upstream is not None:
            from aiotulip.serve.proxy import check_upstream, upstream_context

            check_upstream(self.upstream)
            upstream_context(self.upstream_ca, self.upstream_insecure)
        if self.root is not None:
            self.root = Path(self.root)
            if not self.root.is_dir():
                raise UsageError(f"root is not a directory: {self.root}")

    @property
    def tls(self) -> bool:
        return self.self_signed or self.cert is not None
