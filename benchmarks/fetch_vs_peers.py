"""The README's performance table: every workload at full scale, tulip's engines beside curl, wget2,
aria2c and the textbook aiohttp client, three runs each in alternation, medians kept.

    python benchmarks/fetch_vs_peers.py [--scale 1] [--repeat 3] [--out bench-out]

Equivalent to ``tulip bench --scale 1 --repeat 3 --json bench-out/full.json --plot bench-out/full.png``.
Peers come from Debian: apt-get install curl aria2 wget2 nginx (nginx serves the small and bulk rows).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiotulip.bench import run_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    run_bench(
        scale=args.scale,
        repeat=args.repeat,
        json_path=args.out / "full.json",
        plot_path=args.out / "full.png",
    )


if __name__ == "__main__":
    main()
