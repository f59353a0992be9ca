"""The sequential engine: one item after another on the calling thread — the baseline."""

from __future__ import annotations

import dataclasses
import threading

from tulip.fetch.engines import EngineOptions, Interrupted
from tulip.fetch.engines._sync import Context, download
from tulip.fetch.models import Job, Result
from tulip.fetch.plan import Local
from tulip.fetch.progress import Progress
from tulip.fetch.store import Store
from tulip.fetch.transports.urllib3 import Urllib3Transport

__all__ = ["run"]


def run(
    jobs: list[Job], locals_: list[Local], store: Store, options: EngineOptions, progress: Progress
) -> tuple[list[Result | None], bool]:
    """Download *jobs* in order; return the results (None for items never reached) and whether
    the run was interrupted."""
    results: list[Result | None] = [None] * len(jobs)
    single = dataclasses.replace(options, concurrency=1)
    with Urllib3Transport(single.transport_options()) as transport:
        ctx = Context(transport, store, single, progress, threading.Event())
        for index, (job, local) in enumerate(zip(jobs, locals_, strict=True)):
            try:
                results[index] = download(job, local, ctx)
            except (KeyboardInterrupt, Interrupted):
                return results, True
            progress.done(job, results[index])  # type: ignore[arg-type]
    return results, False
