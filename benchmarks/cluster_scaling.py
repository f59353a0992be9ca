"""How ``--cluster`` scales on one machine: the c10k and small workloads on local:1 and local:2.

On a 2-core machine that also runs the server, two workers can at best share what one process
could not use; the figures show the overhead of sharding and what a second process buys.

    python benchmarks/cluster_scaling.py [--scale 0.5]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from tulip import fetch
from tulip._limits import raise_open_file_limit
from tulip.bench.workloads import WORKLOADS
from tulip.serve import Faults, ServeConfig, ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.5)
    args = parser.parse_args()
    raise_open_file_limit()
    print(f"{'workload':<8} {'run':<14} {'files':>6} {'wall s':>8} {'files/s':>9} {'vs single':>9}")
    for name in ("small", "c10k"):
        workload = WORKLOADS[name].scaled(args.scale)
        config = ServeConfig(files=workload.files, size=(workload.size, workload.size),
                             faults=Faults(delay=workload.delay))  # fmt: skip
        with ServerProcess(config) as base:
            urls = [f"{base}/files/file-{i:05d}.bin" for i in range(workload.files)]
            single = None
            for label, cluster in (("one process", None), ("local:1", "local:1"), ("local:2", "local:2")):
                concurrency = workload.concurrency if cluster is None else max(1, workload.concurrency // 2)
                with tempfile.TemporaryDirectory() as dest:
                    started = time.perf_counter()
                    report = fetch(urls, dest, concurrency=concurrency, cluster=cluster)
                    wall = time.perf_counter() - started
                assert report.ok, report.counts()
                single = single or wall
                print(f"{name:<8} {label:<14} {workload.files:>6} {wall:>8.2f} {workload.files / wall:>9.0f} "
                      f"{single / wall:>8.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
