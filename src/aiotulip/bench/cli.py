"""``tulip bench``: its arguments and its run (tulip's engines beside curl, wget2 and aria2c)."""

from __future__ import annotations

import argparse

from aiotulip.shared.args import int_list, label_python, positive, positive_float, word_list

__all__ = ["add_arguments", "run"]


def add_arguments(bench: argparse.ArgumentParser) -> None:
    from aiotulip.bench.workloads import WORKLOADS  # (names and sizes alone: nothing heavy)

    workloads = tuple(WORKLOADS)
    bench.add_argument("--workload", action="append", choices=workloads,
                       help="run only this workload (repeatable; default all)")  # fmt: skip
    bench.add_argument("--scale", type=positive_float, default=0.25, metavar="X",
                       help="multiply every workload's file count (default 0.25)")  # fmt: skip
    bench.add_argument("--concurrency", type=int_list, metavar="LIST", help="e.g. 1,10,100")
    bench.add_argument("--engines", type=word_list, metavar="LIST",
                       help="e.g. threads,asyncio,asyncio:2 (:N: N processes)")  # fmt: skip
    bench.add_argument("--repeat", type=positive, default=1, metavar="N", help="runs per client, median kept")
    bench.add_argument("--no-peers", action="store_true", help="tulip's engines only")
    bench.add_argument(
        "--dir", metavar="DIR", help="where clients write (default: the temp dir; /dev/shm: RAM)"
    )
    bench.add_argument("--compare", type=label_python, action="append", metavar="LABEL=PYTHON",
                       help="also run tulip's engines as installed for PYTHON (another version)")  # fmt: skip
    bench.add_argument("--json", metavar="FILE", help="write every row as JSON")
    bench.add_argument("--plot", metavar="PNG", help="plot time against concurrency (needs aiotulip[plot])")


def run(args: argparse.Namespace) -> int:
    from aiotulip.bench import run_bench

    rows = run_bench(
        args.workload,
        scale=args.scale,
        concurrency=args.concurrency,
        engines=args.engines,
        peers=not args.no_peers,
        repeat=args.repeat,
        json_path=args.json,
        plot_path=args.plot,
        work_dir=args.dir,
        compare=dict(args.compare or []),
    )
    return 0 if all(row.status != "failed" or not row.client.startswith("tulip") for row in rows) else 1
