"""``--cluster``: spread a run over Dask workers, each running the asyncio engine on a shard.

Dask's futures follow the ``concurrent.futures`` interface the threads engine already speaks, so the
shape is the same: submit, then take results ``as_completed``. What Dask adds is a scheduler that
moves a shard to another worker when its worker dies; resume makes that cheap, because the new
worker skips the files already complete and continues the ``.part`` files.

Every worker writes into the same destination, so it must be a filesystem they all share; the run
proves that first, by having each worker read a probe file the client wrote and write one back.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable
from typing import Any

from aiotulip.download.engines import Outcome, Work
from aiotulip.download.models import Job, Result
from aiotulip.download.options import FetchOptions
from aiotulip.download.progress import Progress
from aiotulip.download.store import Store
from aiotulip.errors import UsageError

__all__ = ["run_cluster", "shard_size_for"]

_SHARDS_PER_WORKER = 4  # enough to balance uneven shards, few enough to keep the scheduler idle
_MAX_SHARD = 20_000


def shard_size_for(items: int, workers: int) -> int:
    """Return a shard size that gives each worker about four shards."""
    return max(1, min(_MAX_SHARD, math.ceil(items / max(1, workers * _SHARDS_PER_WORKER))))


def _connect(address: str) -> tuple[Any, Any]:
    """Return (client, cluster or None) for ``local:N`` or a scheduler address."""
    try:
        import logging

        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install 'aiotulip[dask]'") from None
    if address.startswith("local:"):
        try:
            workers = int(address.removeprefix("local:"))
        except ValueError:
            workers = 0
        if workers < 1:
            raise UsageError(f"--cluster local:N needs a number of workers >= 1, not {address!r}")
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.ERROR,
        )  # fmt: skip
        return Client(cluster), cluster
    try:
        return Client(address, timeout="10s"), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _probe(dest: str, token: str) -> str:
    """Run on a worker: read the client's probe file, write our own; return what went wrong."""
    import socket

    try:
        with open(os.path.join(dest, f".tulip-probe-{token}")) as f:
            if f.read() != token:
                return "sees a different probe file"
        mine = os.path.join(dest, f".tulip-probe-{token}-{os.getpid()}")
        with open(mine, "w") as f:
            f.write(token)
        os.unlink(mine)
    except OSError as exc:
        return f"cannot use {dest} on {socket.gethostname()}: {exc.strerror or exc}"
    return ""


def _check_shared(client: Any, dest: str) -> None:
    token = secrets.token_hex(8)
    probe = os.path.join(dest, f".tulip-probe-{token}")
    with open(probe, "w") as f:
        f.write(token)
    try:
        answers = client.run(_probe, dest, token)
    finally:
        os.unlink(probe)
    problems = {worker: answer for worker, answer in answers.items() if answer}
    if problems:
        worker, answer = next(iter(problems.items()))
        raise UsageError(f"dest must be a directory every worker shares: worker {worker} {answer}")


def _run_shard(jobs: list[Job], dest: str, options: FetchOptions) -> list[Result | None]:
    """Run on a worker: the asyncio engine over one shard (resuming whatever is already there)."""
    from aiotulip.download import engines

    store = Store(dest, fsync=options.fsync)
    store.prepare()
    outcome = engines.load("asyncio").run_to_end(Work(jobs, store, options, Progress()))
    return list(outcome.results)  # plain Results travel back; the client keeps them compactly


def run_cluster(work: Work, on_client: Callable[[Any], None] | None = None) -> Outcome:
    """Download the jobs on the Dask cluster ``work.options.cluster`` names."""
    jobs, options, progress = list(work.jobs), work.options, work.progress
    assert options.cluster is not None
    dest = os.path.abspath(work.store.dest)
    client, cluster = _connect(options.cluster)  # first: it says how to install Dask if it is missing
    from distributed import as_completed

    futures: dict[Any, int] = {}
    results: list[Result | None] = [None] * len(jobs)
    try:
        _check_shared(client, dest)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        size = options.shard_size or shard_size_for(len(jobs), workers)
        for start in range(0, len(jobs), size):
            shard = jobs[start : start + size]
            # pure=False: two runs of the same shard are two tasks; retries: a shard whose worker
            # raised goes again (one whose worker died is rescheduled by the scheduler itself).
            future = client.submit(_run_shard, shard, dest, options, pure=False, retries=2)
            futures[future] = start
        if on_client is not None:
            on_client(client)
        for future in as_completed(futures):
            start = futures[future]
            shard_results = future.result()
            for offset, result in enumerate(shard_results):
                results[start + offset] = result
                if result is not None:
                    job = jobs[start + offset]
                    brought = result.bytes - result.resumed_from
                    if result.status in ("ok", "interrupted") and result.attempts and brought:
                        # (a worker's bytes are not told as they come: they count as its shard ends,
                        # as the Report counts them, not as 0 B to the end of the run)
                        progress.advance(brought, job)
                    progress.done(job, result)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        return Outcome(results, interrupted=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return Outcome(results)
