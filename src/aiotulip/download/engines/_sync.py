"""One item, start to end, for the engines that block (sequential and threads): a thin loop that
carries out the Item's steps with blocking calls."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from aiotulip.download import plan
from aiotulip.download.decoding import SyncDecoded
from aiotulip.download.engines import Interrupted, _split
from aiotulip.download.engines._disk import Files
from aiotulip.download.item import Finish, Item, Read, Request, Rules, Split, Step, Wait
from aiotulip.download.models import Job, Result
from aiotulip.download.progress import Progress
from aiotulip.download.store import PartBusy, Store
from aiotulip.download.store.part import digests_of
from aiotulip.download.transports import SyncResponse, SyncTransport
from aiotulip.errors import FetchError

__all__ = ["Context", "download", "run_item"]


@dataclass
class Context:
    transport: SyncTransport
    store: Store
    rules: Rules
    buffer_size: int
    progress: Progress
    cancel: threading.Event


def download(job: Job, local: plan.Local, ctx: Context) -> Result:
    """Download *job* (skipping, resuming, retrying as needed) and return how it ended."""
    path = ctx.store.path(job)
    try:
        item = Item(job, path, local, ctx.rules, time.monotonic)
    except Exception as exc:  # a bug in one item must not sink the run
        return plan.internal_failure(job, path, exc)
    return run_item(item, Files(ctx.store, job), ctx)


def run_item(item: Item, files: Files, ctx: Context) -> Result:
    """Carry out *item*'s steps, its disk steps on *files*, until it finishes; return its Result."""
    job = item.job
    try:
        step = item.begin()
        while True:
            match step:
                case Request():
                    step = _exchange(item, step, files, ctx)
                case Wait(seconds=seconds, error=error, restart_part=restart):
                    if restart:
                        files.restart()
                    if error is not None:  # (what the part keeps for the next attempt: the rest goes)
                        ctx.progress.retrying(job, item.attempts, error, seconds, files.held())
                    if ctx.cancel.wait(seconds):
                        raise Interrupted
                    step = item.waited()
                case Finish(result=result):
                    files.finish(step)
                    return result
                case Split():  # a split download resumed: its .part is open
                    step = _split.run_blocking(item, step, None, files.split(step), ctx)
                case _:
                    step = files.run(item, step)
    except (Interrupted, KeyboardInterrupt):
        raise Interrupted(item.interrupted(files.held())) from None
    except Exception as exc:  # a bug in one item must not sink the run
        return plan.internal_failure(item.public, item.path, exc)
    finally:
        files.close()


def _exchange(item: Item, request: Request, files: Files, ctx: Context) -> Step:
    """Send *request* and read what the Item asks of the response; return the next step."""
    try:
        with ctx.transport.get(request.url, request.headers, request.proxy, item.deadline) as response:
            read = item.response(response.status, response.headers, getattr(response, "http_version", None))
            if isinstance(read, Split):
                segments = read.segments
                ctx.progress.sized(item.job, segments.total, item.rules.split, segments.received)
                return _split.run_blocking(item, read, response, files.split(read), ctx)
            if not isinstance(read, Read):
                return read
            if read.into == "memory":
                data = _read_small(response, item.rules.small_body)
                ctx.progress.advance(len(data), item.job)
                if item.rules.limited:
                    _pause(item.throttle(len(data)), ctx)
                files.data = data
                return item.body_read(len(data), hashlib.sha256(data).hexdigest(), digests_of(item.job, data))
            files.prepare(read)
            part = files.part
            assert part is not None
            ctx.progress.sized(item.job, item.announced, held=part.size)
            if read.decode is not None:
                response = SyncDecoded(response, read.decode, item.public.url, read.max_ratio)
            if not read.skip and not _copy(response, files, ctx, item, read.until):
                return item.timed_out(part.size)
            return item.body_read(part.size, part.hasher.hexdigest(), part.others())
    except FetchError as error:
        if ctx.cancel.is_set():  # (the run is interrupted: ended by that, not failed)
            raise Interrupted from None
        return item.failed(error, files.size)
    except PartBusy:
        return item.busy()


def _read_small(response: SyncResponse, limit: int) -> bytes:
    chunks = []
    received = 0
    while chunk := response.read(limit + 1):
        chunks.append(chunk)
        received += len(chunk)
        if received > limit:  # more than the server announced; the Item's checks will say so
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _pause(seconds: float, ctx: Context) -> None:
    """Wait *seconds* (a rate limit), as Ctrl-C allows."""
    if seconds > 0 and ctx.cancel.wait(seconds):
        raise Interrupted


def _copy(response: SyncResponse, files: Files, ctx: Context, item: Item, until: int | None) -> bool:
    """Copy the body into the .part, stopping once it is past *until* bytes; False if the item's
    deadline passed first."""
    part = files.part
    assert part is not None
    size = ctx.buffer_size
    read = response.read
    deadline = item.deadline
    limited = item.rules.limited
    while chunk := read(size):
        part.write(chunk)
        if until is not None and part.size > until:
            break
        ctx.progress.advance(len(chunk), item.job)
        if limited:
            _pause(item.throttle(len(chunk)), ctx)
        if ctx.cancel.is_set():
            raise Interrupted
        if deadline is not None and time.monotonic() > deadline:
            return False
    return True
