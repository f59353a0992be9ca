"""One item, start to end, for the engines that block (sequential and threads)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from tulip.errors import FetchError, IntegrityError, Timeout
from tulip.fetch import plan
from tulip.fetch.engines import EngineOptions, Interrupted, begin
from tulip.fetch.models import Job, Result
from tulip.fetch.progress import Progress
from tulip.fetch.store import PartFile, Store
from tulip.fetch.transports import SyncTransport

__all__ = ["Context", "download"]


@dataclass
class Context:
    transport: SyncTransport
    store: Store
    options: EngineOptions
    progress: Progress
    cancel: threading.Event


def download(job: Job, local: plan.Local, ctx: Context) -> Result:
    """Download *job* (skipping, resuming, retrying as needed) and return how it ended."""
    try:
        return _download(job, local, ctx)
    except Interrupted:
        raise
    except Exception as exc:  # a bug in one item must not sink the run
        return plan.internal_failure(job, ctx.store.path(job), exc)


def _download(job: Job, local: plan.Local, ctx: Context) -> Result:
    started = time.monotonic()
    deadline = started + ctx.options.item_timeout if ctx.options.item_timeout else None
    path = ctx.store.path(job)
    start = begin(job, local, ctx.store, overwrite=ctx.options.overwrite)
    if isinstance(start, Result):
        start.elapsed = time.monotonic() - started
        return start
    offset, kept = start.offset, start.offset
    part: PartFile | None = None
    validator: str | None = None
    attempts = 0
    try:
        while True:
            attempts += 1
            try:
                if offset and part is None:
                    part = ctx.store.open_part(job, offset)
                    validator = part.saved_validator
                with ctx.transport.get(job.url, plan.range_headers(offset, validator)) as response:
                    body = plan.interpret(response.status, response.headers, offset, job)
                    if part is None:  # opened only now, so that a 404 leaves no empty .part behind
                        part = ctx.store.open_part(job, 0)
                    elif body.offset != offset:  # the server sent the whole file: start the .part over
                        part.restart()
                        offset = kept = 0
                    if not body.complete:
                        if body.offset == 0:
                            part.remember_validator(body.validator)
                        validator = body.validator or validator
                        _copy(response, part, ctx, deadline)
                sha256 = part.hasher.hexdigest()
                plan.check_body(job, body, part.size, sha256)
                part.commit()
                return Result(
                    job.url, path, "ok", part.size, sha256, attempts,
                    resumed_from=kept, elapsed=time.monotonic() - started,
                )  # fmt: skip
            except FetchError as error:
                remaining = None if deadline is None else deadline - time.monotonic()
                delay = ctx.options.policy.delay(attempts, error, remaining)
                if delay is None:
                    # An empty .part helps no one; one whose bytes proved wrong would mislead a resume.
                    if part is not None and (part.size == 0 or isinstance(error, IntegrityError)):
                        part.close()
                        ctx.store.discard_part(job)
                    return plan.result_for_error(job, path, error, attempts, time.monotonic() - started)
                if isinstance(error, IntegrityError) and part is not None:
                    part.restart()  # wrong bytes: nothing of this .part can be trusted
                    kept = 0
                ctx.progress.retrying(job, attempts, error, delay)
                if ctx.cancel.wait(delay):
                    raise Interrupted from None
                offset = part.size if part is not None else 0
    finally:
        if part is not None:
            part.close()


def _copy(response: object, part: PartFile, ctx: Context, deadline: float | None) -> None:
    size = ctx.options.buffer_size()
    read = response.read  # type: ignore[attr-defined]
    while chunk := read(size):
        part.write(chunk)
        ctx.progress.advance(len(chunk))
        if ctx.cancel.is_set():
            raise Interrupted
        if deadline is not None and time.monotonic() > deadline:
            raise Timeout("item took longer than its total timeout", url=part.job.url)
