"""``--manifest URL``: the manifest is fetched like any item — the same policy (headers, credentials,
cookies, proxy, TLS), redirects and retries — but into memory, then parsed. Its relative URLs resolve
against where the redirects led, as a browser resolves a page's links."""

from __future__ import annotations

import hashlib
import threading
import time

from aiotulip.download.engines import Interrupted
from aiotulip.download.engines._sync import Context, run_item
from aiotulip.download.http.urls import origin, split_userinfo, with_userinfo
from aiotulip.download.item import Commit, Finish, Item, Read, Rules, Step
from aiotulip.download.models import Job
from aiotulip.download.options import FetchOptions
from aiotulip.download.plan import Local
from aiotulip.download.progress import Progress
from aiotulip.download.retry import RetryPolicy
from aiotulip.download.sources import Entry, check_url, parse_manifest
from aiotulip.download.transports import open_sync
from aiotulip.errors import IntegrityError, UsageError

__all__ = ["MAX_MANIFEST", "load_manifest"]

MAX_MANIFEST = 64 * 1024 * 1024


class _Buffer:
    """What the blocking driver writes a streamed body into: here, memory, bounded."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.data = bytearray()
        self.hasher = hashlib.sha256()

    @property
    def size(self) -> int:
        return len(self.data)

    def write(self, chunk: bytes) -> None:
        if len(self.data) + len(chunk) > MAX_MANIFEST:
            raise IntegrityError(f"larger than {MAX_MANIFEST >> 20} MiB", url=self.url)
        self.data += chunk
        self.hasher.update(chunk)

    def restart(self) -> None:
        self.data.clear()
        self.hasher = hashlib.sha256()


class _Memory:
    """The disk steps of one Item, in memory (the Item never learns the difference)."""

    def __init__(self, url: str) -> None:
        self.part: _Buffer | None = None
        self.data: bytes | None = None
        self.url = url
        self.body = b""

    @property
    def size(self) -> int | None:
        return self.part.size if self.part is not None else None

    def run(self, item: Item, step: Step) -> Step:
        if isinstance(step, Commit):  # the only disk step a fresh item in memory meets
            self.body = self.data if self.data is not None else bytes(self.part.data if self.part else b"")
            step = item.committed()
        return step

    def prepare(self, read: Read) -> None:
        if read.part == "open" or self.part is None:
            self.part = _Buffer(self.url)
        elif read.part == "restart":
            self.part.restart()

    def restart(self) -> None:
        if self.part is not None:
            self.part.restart()

    def finish(self, step: Finish) -> None:
        pass

    def held(self) -> int:
        return 0  # nothing on disk to resume from

    def close(self) -> None:
        pass


def load_manifest(url: str, options: FetchOptions | None = None) -> list[Entry]:
    """Fetch and parse the manifest at *url*; raise UsageError if it cannot be had."""
    url = check_url(url, "--manifest")
    options = options or FetchOptions()
    rules = Rules(
        RetryPolicy(retries=min(3, options.retries), max_retry_after=30.0),
        overwrite=True,
        item_timeout=options.item_timeout,
        small_body=MAX_MANIFEST,
        http=options.http_policy(),
    )
    job = Job(url, "manifest.json")
    item = Item(job, "", Local(), rules, time.monotonic)
    memory = _Memory(url)
    with open_sync(options.transport, options.transport_options(concurrency=1)) as transport:
        ctx = Context(transport, None, rules, options.buffer_size(), Progress(), threading.Event())  # type: ignore[arg-type]  # no disk: bodies stay in memory
        try:
            result = run_item(item, memory, ctx)  # type: ignore[arg-type]  # _Memory stands in for Files
        except Interrupted:  # Ctrl-C while the manifest came: the run ends before it began
            raise KeyboardInterrupt from None
    if result.status != "ok":
        raise UsageError(f"cannot fetch manifest {result.url}: {result.error}")
    base = item.url or url
    _bare, user, password = split_userinfo(url)
    if user is not None and origin(base) == origin(url):  # entries beside it share its credentials
        base = with_userinfo(base, user, password)
    return parse_manifest(memory.body, base)
