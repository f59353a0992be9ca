"""FetchOptions: every setting of a download run in one frozen, checked object.

The API (``fetch(..., concurrency=50)`` or ``fetch(..., options)``), the command line and ``--cluster``
(which sends it to every worker) all build this one object; it checks itself on construction, so a
bad setting is a UsageError before anything starts, whoever asked for it.

The engine and transport names are written once, here, as ``Literal`` types: the command line's
choices, the registry of engines and the error messages all come from them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast, get_args

from aiotulip.download.http.headers import FIELD_NAME, RESERVED, value_problem
from aiotulip.download.http.tls import Tls
from aiotulip.download.names import Naming
from aiotulip.download.retry import RetryPolicy
from aiotulip.errors import UsageError

if TYPE_CHECKING:
    from aiotulip.download.http.policy import HttpPolicy
    from aiotulip.download.transports import TransportFactory, TransportOptions

__all__ = ["ENGINES", "TRANSPORTS", "EngineName", "FetchOptions", "Settings", "TransportName"]

EngineName = Literal["asyncio", "threads", "sequential"]
TransportName = Literal["auto", "curl", "lean"]
ENGINES: tuple[EngineName, ...] = get_args(EngineName)
TRANSPORTS: tuple[TransportName, ...] = get_args(TransportName)

_BUFFER_BUDGET = 32 * 1024 * 1024  # bytes of body held in memory at once, across all downloads

Headers = Mapping[str, str] | Sequence[str | tuple[str, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchOptions:
    """How a run downloads: engine, limits, timeouts, retries, what to do with files already there."""

    engine: EngineName = "asyncio"
    concurrency: int = 16  # downloads in flight (per worker with a cluster)
    per_host: int | None = None  # connections per host; None for no limit beyond concurrency
    retries: int = 5  # attempts after the first (ignored when *policy* is given)
    timeout: float = 30.0  # the longest silence while waiting for bytes
    connect_timeout: float | None = None  # default: min(10 s, timeout)
    item_timeout: float | None = None  # all attempts of one item together
    overwrite: bool = False  # download again even when a complete file is there (anybody's)
    no_clobber: bool = False  # keep any file already under the name, taken as done (wget -nc)
    # A file under the name that nothing vouches for (the user's, another URL's) is replaced rather
    # than saved beside as NAME.1 — what -o FILE asks, as curl -o; a .part is still resumed.
    replace_strangers: bool = False
    fsync: bool = False  # flush every file and its directory around the rename
    # Continue a part the server sends no validator for, when only its size vouches for it (reported
    # as resumed_unvalidated); False starts such files over.
    resume_unvalidated: bool = True
    policy: RetryPolicy | None = None  # the whole retry policy, when *retries* is not enough
    # The asyncio engine's HTTP client by name, or a TransportFactory (a mock, in tests) for any engine.
    transport: TransportName | TransportFactory = "auto"
    # What the curl transport speaks (the built-in ones: HTTP/1.1 and Basic only).
    http_version: Literal["1.1", "2", "2-prior-knowledge", "3", "3-only"] = "2"
    http_auth: Literal["basic", "digest", "ntlm", "any"] = "basic"  # how credentials are offered
    ssh_key: str | None = None  # sftp: the private key
    key_passphrase: str | None = field(default=None, repr=False)  # sftp: the private key's passphrase
    known_hosts: str | None = None  # sftp: host keys to trust (None: ~/.ssh/known_hosts when there)
    cluster: str | None = None  # "local:N" or a Dask scheduler address
    # Processes, each running the engine on a shard (when the CPU is the bound); "auto": as many as
    # plan.processes() finds worth their fork (the command line's default).
    workers: int | Literal["auto"] = 1
    shard_size: int | None = None  # items per cluster task
    # Names: the URL's last segment (flat) or host/path as folders (tree, as wget -x).
    layout: Literal["flat", "tree"] = "flat"
    cut_dirs: int = 0  # tree: leading path folders left out (wget's --cut-dirs)
    no_host_directories: bool = False  # tree: no host folder (wget's -nH)
    on_collision: Literal["error", "number", "query"] = "error"  # two URLs, one name
    content_disposition: bool = False  # the name a server's Content-Disposition gives, when it gives one
    # Freshness: -N asks again for a complete file (If-None-Match / If-Modified-Since) and skips it
    # on 304; every file's mtime is the server's Last-Modified unless remote_time is False.
    timestamping: bool = False
    remote_time: bool = True
    compressed: bool = False  # ask for gzip (and br, zstd where installed) and save the decoded bytes
    max_filesize: int | None = None  # no file larger (decoded bytes, where decoded)
    max_ratio: float = 200.0  # --compressed: a body inflating past this many times its size fails; 0: any
    # Big files: connections per file where ranges work (aria2c -s), no span under min_split_size.
    split: int = 1
    min_split_size: int = 20 * 1024 * 1024
    limit_rate: int | None = None  # bytes a second for the whole run (curl/wget2 --limit-rate)
    limit_rate_per_file: int | None = None  # ... for each file (all its connections together)
    speed_limit: int | None = None  # -Y: a transfer under this many bytes a second ...
    speed_time: float = 30.0  # ... for this many seconds (-y) is abandoned and retried
    # HTTP: what every request carries (aiotulip.download.http). Secrets are left out of repr().
    headers: Headers = field(default=(), repr=False)
    user_agent: str | None = None
    auth: tuple[str, str] | None = field(default=None, repr=False)  # (user, password) for every origin
    netrc: bool | str = True  # ~/.netrc when there; False for none; a path for that file
    cookies: str | None = None  # a Netscape cookies file (curl -c, wget --save-cookies) to start from
    max_redirects: int = 20
    location_trusted: bool = False  # send --user and -H headers where redirects lead too (curl's name)
    proxy: str | None = field(default=None, repr=False)  # None: from *_proxy variables; "": none
    no_proxy: str | None = None  # hosts reached directly, comma-separated; "*" for all
    proxy_auth: tuple[str, str] | None = field(default=None, repr=False)
    ca_certificate: str | None = None  # trust this CA too (PEM)
    insecure: bool = False  # do not check TLS certificates (a warning says so)
    client_cert: str | None = None
    client_key: str | None = None
    # For scripts (scripts.py): a command run as each item ends (ok or skipped; failed), how long
    # one may run, JSON lines as the run goes, and what failed saved as an input file. All of them
    # happen where fetch() runs, never in --workers' children or on a cluster's workers.
    on_complete: str | Sequence[str] | None = field(default=None, repr=False)
    on_error: str | Sequence[str] | None = field(default=None, repr=False)
    hook_timeout: float = 60.0
    events: str | None = None
    save_failed: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _header_pairs(self.headers))
        for name in ("on_complete", "on_error"):
            if getattr(self, name) is not None:
                from aiotulip.download.hooks import command

                object.__setattr__(self, name, command(getattr(self, name), "--" + name.replace("_", "-")))
        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r} (choose from {', '.join(ENGINES)})")
        _at_least(1, concurrency=self.concurrency, per_host=self.per_host, shard_size=self.shard_size)
        if self.workers != "auto":
            _at_least(1, workers=self.workers if self.workers is not None else -1)
        _at_least(0, retries=self.retries, max_redirects=self.max_redirects, cut_dirs=self.cut_dirs)
        _at_least(1, max_filesize=self.max_filesize, split=self.split, min_split_size=self.min_split_size,
                  limit_rate=self.limit_rate, limit_rate_per_file=self.limit_rate_per_file,
                  speed_limit=self.speed_limit)  # fmt: skip
        if not 0 <= self.max_ratio < float("inf"):
            raise UsageError(f"max_ratio must be 0 (no bound) or more, not {self.max_ratio}")
        if self.http_version not in ("1.1", "2", "2-prior-knowledge", "3", "3-only"):
            raise UsageError(f"unknown HTTP version {self.http_version!r} (choose from 1.1, 2, "
                             "2-prior-knowledge, 3, 3-only)")  # fmt: skip
        if self.http_auth not in ("basic", "digest", "ntlm", "any"):
            raise UsageError(f"unknown auth scheme {self.http_auth!r} (choose from basic, digest, ntlm, any)")
        if self.transport == "lean" and (self.http_version not in ("1.1", "2") or self.http_auth != "basic"):
            raise UsageError(f"--transport {self.transport} speaks HTTP/1.1 with Basic credentials "
                             "only; h2c, HTTP/3, digest and NTLM need the curl transport")  # fmt: skip
        if self.layout not in ("flat", "tree"):
            raise UsageError(f"unknown layout {self.layout!r} (choose from flat, tree)")
        if self.layout == "flat" and (self.cut_dirs or self.no_host_directories):
            raise UsageError("--cut-dirs and --no-host-directories go with --layout tree")
        if self.on_collision not in ("error", "number", "query"):
            raise UsageError(f"unknown on_collision {self.on_collision!r} (choose from error, number, query)")
        for name in ("auth", "proxy_auth"):
            pair = getattr(self, name)
            if pair is not None and (len(pair) != 2 or not all(isinstance(part, str) for part in pair)):
                raise UsageError(f"{name} must be a (user, password) pair")
        for name in ("timeout", "connect_timeout", "item_timeout", "speed_time", "hook_timeout"):
            value = getattr(self, name)
            if value is None and name != "timeout":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10**7:
                # (also refuses NaN and infinity: a socket cannot wait for ever)
                raise UsageError(f"{name.replace('_', ' ')} must be a number of seconds > 0, not {value!r}")
        for name in ("overwrite", "no_clobber", "replace_strangers", "fsync", "insecure",
                     "resume_unvalidated", "no_host_directories", "content_disposition", "timestamping",
                     "remote_time", "compressed"):  # fmt: skip
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be True or False, not {getattr(self, name)!r}")
        if self.overwrite and self.no_clobber:
            raise UsageError("--overwrite and --no-clobber ask for opposite things: give one")
        if self.timestamping and self.no_clobber:  # (together, -N wrote over a file -nc was to keep)
            raise UsageError("-N and --no-clobber ask for opposite things: give one (as wget says)")
        if self.policy is not None and not isinstance(self.policy, RetryPolicy):
            raise UsageError(f"policy must be a RetryPolicy, not {type(self.policy).__name__}")
        if not isinstance(self.netrc, bool | str):
            raise UsageError("netrc must be True, False or a file name")
        for name in (
            "user_agent",
            "cookies",
            "proxy",
            "no_proxy",
            "ca_certificate",
            "client_cert",
            "client_key",
            "events",
            "save_failed",
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise UsageError(f"{name} must be a string, not {type(value).__name__}")
        if self.user_agent is not None and (why := value_problem(self.user_agent)):
            raise UsageError(f"--user-agent {why}")
        if self.proxy:
            from aiotulip.download.http.proxies import parse_proxy

            parse_proxy(self.proxy)  # a proxy that cannot be used is a usage error now, not per item
        if self.cluster is not None:
            _check_cluster_address(self.cluster)
        if isinstance(self.transport, str):
            if self.transport not in TRANSPORTS:
                raise UsageError(
                    f"unknown transport {self.transport!r} (choose from {', '.join(TRANSPORTS)})"
                )
        elif not callable(getattr(self.transport, "open_async", None)):
            raise UsageError(f"transport must be one of {', '.join(TRANSPORTS)} or a TransportFactory")
        if self.cluster is None and self.shard_size is not None:
            raise UsageError("--shard-size only applies with --cluster")
        if self.cluster is not None and self.engine != "asyncio":
            raise UsageError(
                "--cluster runs the asyncio engine on every worker; drop --engine or choose asyncio"
            )
        spread = self.workers != "auto" and self.workers > 1  # ("auto" gives way to these)
        if spread and self.cluster is not None:
            raise UsageError("--workers and --cluster are two ways to spread a run; choose one")
        if spread and self.content_disposition:
            raise UsageError(
                "--workers cannot be combined with --content-disposition (one process names the files)"
            )
        if self.events is not None and self.events == self.save_failed:
            raise UsageError("--events and --save-failed name the same file")
        if self.cluster is not None and not isinstance(self.transport, str):
            raise UsageError("a transport object cannot travel to cluster workers; name one instead")

    def replace(self, **changes: Any) -> FetchOptions:
        """Return a copy with *changes* (checked like a new object)."""
        unknown = set(changes) - _FIELDS
        if unknown:
            raise UsageError(f"unknown fetch option {sorted(unknown)[0]!r}")
        return dataclasses.replace(self, **changes)  # (names checked above; values by __post_init__)

    @classmethod
    def from_settings(cls, options: FetchOptions | None, settings: dict[str, object]) -> FetchOptions:
        """Return *options* (or the defaults) with *settings* applied; unknown names are a UsageError."""
        if options is None:
            unknown = set(settings) - _FIELDS
            if unknown:
                raise UsageError(f"unknown fetch option {sorted(unknown)[0]!r}")
            return cls(**cast(dict[str, Any], settings))  # (names checked above; values by __post_init__)
        return options.replace(**settings) if settings else options

    def collisions(self) -> str:
        """How two items' names are told apart: as ``on_collision`` says, but numbered where the
        servers name the files (``--content-disposition``: the URL's name is only the part's and a
        fallback then, and the server's is known only after the download; wget2 numbers too).
        ``download?id=1`` and ``download?id=2`` were refused, exit 2, the typical use."""
        if self.content_disposition and self.on_collision == "error":
            return "number"
        return self.on_collision

    def naming(self) -> Naming:
        """Return how this run turns URLs into names."""
        return Naming(self.layout, self.cut_dirs, not self.no_host_directories, self.on_collision == "query")

    def tls(self) -> Tls:
        """Return what TLS trusts and offers for this run."""
        return Tls(self.ca_certificate, self.insecure, self.client_cert, self.client_key)

    def transport_options(self, *, concurrency: int | None = None) -> TransportOptions:
        """Return what the transports need to know of this run (and no more)."""
        from aiotulip.download.transports import TransportOptions

        known_hosts = self.known_hosts
        if known_hosts is None:
            default = os.path.expanduser("~/.ssh/known_hosts")
            known_hosts = default if os.path.isfile(default) else None
        return TransportOptions(
            concurrency=concurrency or self.concurrency,
            per_host=self.per_host,
            connect_timeout=self.connect_deadline,
            # With -Y, a transfer that gets nothing at all is caught within -y too.
            read_timeout=min(self.timeout, self.speed_time) if self.speed_limit else self.timeout,
            tls=self.tls(),
            buffer_size=self.buffer_size(),
            http_version=self.http_version,
            http_auth=self.http_auth,
            ssh_key=self.ssh_key,
            key_passphrase=self.key_passphrase,
            known_hosts=known_hosts,
        )

    def http_policy(self) -> HttpPolicy:
        """Return the run's HTTP policy (reading the cookie file and the proxy settings now)."""
        from aiotulip.download.http import auth, cookies, policy, proxies

        credentials = auth.Credentials(*self.auth) if self.auth is not None else None
        proxy_credentials = auth.Credentials(*self.proxy_auth) if self.proxy_auth is not None else None
        netrc = None
        if self.netrc:
            netrc = auth.Netrc(self.netrc if isinstance(self.netrc, str) else None,
                               required=isinstance(self.netrc, str))  # fmt: skip
            if isinstance(self.netrc, str):
                netrc.check()
        return policy.HttpPolicy(
            headers=self.headers,  # type: ignore[arg-type]  # normalised in __post_init__
            user_agent=self.user_agent,
            auth=credentials,
            netrc=netrc,
            cookies=cookies.Jar(self.cookies),
            routes=proxies.Routes(self.proxy, self.no_proxy, credentials=proxy_credentials),
            max_redirects=self.max_redirects,
            location_trusted=self.location_trusted,
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.policy if self.policy is not None else RetryPolicy(retries=self.retries)

    @property
    def connect_deadline(self) -> float:
        """Seconds a connection may take to open."""
        return self.connect_timeout if self.connect_timeout is not None else min(self.timeout, 10.0)

    def buffer_size(self) -> int:
        """Bytes read before each write: large for few downloads, small for many (memory stays bounded)."""
        return max(64 * 1024, min(1024 * 1024, _BUFFER_BUDGET // max(1, self.concurrency)))


_FIELDS = frozenset(field.name for field in dataclasses.fields(FetchOptions))


class Settings(TypedDict, total=False):
    """The fields of FetchOptions as keyword arguments of ``fetch`` (for type checkers; a test keeps
    the two lists equal)."""

    engine: EngineName
    concurrency: int
    per_host: int | None
    retries: int
    timeout: float
    connect_timeout: float | None
    item_timeout: float | None
    overwrite: bool
    no_clobber: bool
    replace_strangers: bool
    fsync: bool
    resume_unvalidated: bool
    policy: RetryPolicy | None
    transport: TransportName | TransportFactory
    http_version: Literal["1.1", "2", "2-prior-knowledge", "3", "3-only"]
    http_auth: Literal["basic", "digest", "ntlm", "any"]
    ssh_key: str | None
    key_passphrase: str | None
    known_hosts: str | None
    cluster: str | None
    workers: int | Literal["auto"]
    shard_size: int | None
    layout: Literal["flat", "tree"]
    cut_dirs: int
    no_host_directories: bool
    on_collision: Literal["error", "number", "query"]
    content_disposition: bool
    timestamping: bool
    remote_time: bool
    compressed: bool
    max_filesize: int | None
    max_ratio: float
    split: int
    min_split_size: int
    limit_rate: int | None
    limit_rate_per_file: int | None
    speed_limit: int | None
    speed_time: float
    headers: Headers
    user_agent: str | None
    auth: tuple[str, str] | None
    netrc: bool | str
    cookies: str | None
    max_redirects: int
    location_trusted: bool
    proxy: str | None
    no_proxy: str | None
    proxy_auth: tuple[str, str] | None
    ca_certificate: str | None
    insecure: bool
    client_cert: str | None
    client_key: str | None
    on_complete: str | Sequence[str] | None
    on_error: str | Sequence[str] | None
    hook_timeout: float
    events: str | None
    save_failed: str | None


def _at_least(low: int, **values: int | None) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise UsageError(f"{name.replace('_', ' ')} must be a whole number >= {low}, not {value!r}")


def _header_pairs(headers: Headers) -> tuple[tuple[str, str], ...]:
    """Return *headers* as (name, value) pairs; raise UsageError for one that cannot be sent."""
    items: list[str | tuple[str, str]] = (
        list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    )
    pairs = []
    for number, item in enumerate(items, 1):
        if isinstance(item, str):
            name, colon, value = item.partition(":")
            if not colon:  # nothing of it is echoed: a header without its colon may be all token
                raise UsageError(f"--header number {number} is not 'Name: value' (it has no colon)")
        elif isinstance(item, tuple) and len(item) == 2 and all(isinstance(part, str) for part in item):
            name, value = item
        else:
            raise UsageError(
                "headers must be 'Name: value' strings, (name, value) pairs or a mapping of strings"
            )
        name, value = name.strip(), value.strip()
        if not FIELD_NAME.fullmatch(name):
            raise UsageError(  # (not echoed: a header missing its colon puts its token here)
                f"--header number {number}: the part before the colon is not a header name "
                "(letters, digits and !#$%&'*+-.^_`|~)"
            )
        if why := value_problem(value):
            raise UsageError(f"--header {name}: a value {why}")
        if name.lower() in RESERVED:
            raise UsageError(f"--header {name}: tulip sets this header itself")
        pairs.append((name, value))
    return tuple(pairs)


def _check_cluster_address(address: str) -> None:
    if address.startswith("local:"):
        workers = address.removeprefix("local:")
        if not workers.isdigit() or int(workers) < 1:
            raise UsageError(f"--cluster local:N needs a number of workers >= 1, not {address!r}")
    elif "://" not in address and ":" not in address:
        raise UsageError(
            f"--cluster takes local:N or a scheduler address like tcp://host:8786, not {address!r}"
        )
