"""How ``--cluster`` scales on one machine: the c10k and small workloads on local:1 and local:2.

On a 2-core machine that also runs the server, two workers can at best share what one process
could not use; the figures show the overhead of sharding and what a second process buys.

    python benchmarks/cluster_scaling.py [--scale 0.5]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from aiotulip import fetch
from aiotulip.bench.workloads import WORKLOADS
from aiotulip.serve import Faults, ServeConfig, ServerProcess
from aiotulip.shared.limits import raise_open_file_limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.5)
    args = parser.parse_args()
    raise_open_file_limit()
    print(f"{'workload':<8} {'run':<14} {'files':>6} {'wall s':>8} {'files/s':>9} {'vs single':>9}")
    from distributed import LocalCluster

    for name in ("small", "c10k"):
        workload = WORKLOADS[name].scaled(args.scale)
        config = ServeConfig(files=workload.files, size=(workload.size, workload.size),
                             faults=Faults(delay=workload.delay))  # fmt: skip
        with ServerProcess(config) as base:
            urls = [f"{base}/files/file-{i:05d}.bin" for i in range(workload.files)]
            single = None
            for workers in (0, 1, 2):
                cluster = None
                if workers:
                    # Started outside the timing: its start-up (about 2 s) is paid once per cluster.
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
                # -c is per worker: the same total number of downloads in flight in every row.
                concurrency = max(1, workload.concurrency // max(1, workers))
                with tempfile.TemporaryDirectory() as dest:
                    started = time.perf_counter()
                    report = fetch(urls, dest, concurrency=concurrency,
                                   cluster=cluster.scheduler_address if cluster else None)  # fmt: skip
                    wall = time.perf_counter() - started
                if cluster is not None:
                    cluster.close()
                assert report.ok, report.counts()
                single = single or wall
                label = f"local:{workers}" if workers else "one process"
                print(f"{name:<8} {label:<14} {workload.files:>6} {wall:>8.2f} {workload.files / wall:>9.0f} "
                      f"{single / wall:>8.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
