"""What a server serves: ServeConfig (its faults are ``faults.Faults``, beside the logic that draws them)."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from pathlib import Path

from aiotulip.errors import UsageError
from aiotulip.serve.faults import Faults
from aiotulip.serve.upstream import check_upstream, upstream_context

__all__ = ["Faults", "ServeConfig", "check_header_value"]


def check_header_value(name: str, value: object, absent: str = "") -> None:
    """Raise ValueError unless *value* is None or a header value that cannot split the header."""
    if value is not None and (not isinstance(value, str) or not value.isprintable()):
        raise ValueError(f"{name} must be a header value on one line{absent}")


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
    # Stubs in WireMock's layout (DIR/mappings/*.json, DIR/__files/), answered before the files or
    # the upstream; --record DIR writes an upstream's answers in that layout (secrets left out unless
    # record_secrets).
    mappings: Path | None = None
    record: Path | None = None
    record_secrets: bool = False
    journal: int = 10_000  # requests kept for /__admin/requests (0: none)
    # Clients besides loopback that may use /__admin and /_tulip (CIDRs such as 10.0.0.0/8).
    admin_allow: tuple[str, ...] = ()
    # HTTPS: a certificate (and key, unless the PEM holds it), or a throwaway one (the CA goes to
    # tls_dir, a fresh temporary folder by default, removed when the server stops).
    cert: Path | None = None
    key: Path | None = None
    self_signed: bool = False
    tls_dir: Path | None = None

    def __post_init__(self) -> None:
        # (a setting of the wrong type, from the pytest plugin or the API, is named, not a TypeError)
        for name in ("port", "files", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{name} must be a whole number, not {value!r}")
        if isinstance(self.header_timeout, bool) or not isinstance(self.header_timeout, int | float):
            raise UsageError(f"header timeout must be a number of seconds, not {self.header_timeout!r}")
        if not (
            isinstance(self.size, tuple | list)
            and len(self.size) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in self.size)
        ):
            raise UsageError(f"size must be (smallest, largest) in bytes, not {self.size!r}")
        self.size = (self.size[0], self.size[1])
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
            check_upstream(self.upstream)
            upstream_context(self.upstream_ca, self.upstream_insecure)
        if self.root is not None:
            self.root = Path(self.root)
            if not self.root.is_dir():
                raise UsageError(f"root is not a directory: {self.root}")
        if self.mappings is not None:
            self.mappings = Path(self.mappings)
            if not self.mappings.is_dir():
                raise UsageError(f"--mappings is not a directory: {self.mappings}")
        if self.record is not None:
            self.record = Path(self.record)
            if self.upstream is None:
                raise UsageError("--record writes an upstream's answers: it goes with --upstream")
            if self.record.exists() and not self.record.is_dir():
                raise UsageError(f"--record is not a directory: {self.record}")
        elif self.record_secrets:
            raise UsageError("--record-secrets goes with --record")
        if not isinstance(self.journal, int) or not 0 <= self.journal <= 10_000_000:
            raise UsageError(f"the request journal keeps 0 to 10,000,000 requests, not {self.journal!r}")
        if isinstance(self.admin_allow, str):
            self.admin_allow = (self.admin_allow,)
        self.admin_allow = tuple(self.admin_allow)
        for cidr in self.admin_allow:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise UsageError(f"--admin-allow takes a network such as 10.0.0.0/8, not {cidr!r}") from None

    @property
    def tls(self) -> bool:
        return self.self_signed or self.cert is not None
