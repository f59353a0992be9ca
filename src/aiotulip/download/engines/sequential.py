"""The sequential engine: one item after another on the calling thread — the baseline."""

from __future__ import annotations

from aiotulip.download.engines import Interrupted, Outcome, Work
from aiotulip.download.engines._sync import Context, download
from aiotulip.download.transports import open_sync

__all__ = ["run"]


def run(work: Work) -> Outcome:
    """Download the jobs in order; Ctrl-C ends the run with the items not reached left as None."""
    results = work.results()
    with open_sync(work.options.transport, work.options.transport_options(concurrency=1)) as transport:
        # (work.stop: set from another thread, it ends the item under way at its next chunk)
        ctx = Context(transport, work.store, work.rules, work.options.buffer_size(), work.progress,
                      work.stop)  # fmt: skip
        for index, job in work.pending():
            if work.stop.is_set():
                return Outcome(results, interrupted=True)
            if job.duplicate_of is not None:
                continue  # fetched as the earlier job; reported from it
            try:
                result = results[index] = download(job, work.local(job), ctx)
            except (KeyboardInterrupt, Interrupted) as stop:
                if isinstance(stop, Interrupted) and stop.result is not None:
                    results[index] = stop.result
                    work.progress.done(job, stop.result)
                return Outcome(results, interrupted=True)
            work.progress.done(job, result)
    return Outcome(results)
