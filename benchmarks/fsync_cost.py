"""What durability against power loss costs: many small files with and without ``--fsync``.

The rename alone already makes a file appear complete or not at all if the process dies; ``--fsync``
adds a flush of each file and of its directory, so a power cut cannot lose a rename either. On many
small files that flush is most of the work. Runs alternate; medians are printed.

    python benchmarks/fsync_cost.py [--files 2000] [--repeat 3] [--dir PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiotulip.serve import ServeConfig, ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: the temp dir)")
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"rename only": [], "--fsync": []}
    config = ServeConfig(files=args.files, size=(args.size, args.size))
    with ServerProcess(config) as base, tempfile.TemporaryDirectory(dir=args.dir) as work:
        for round_ in range(args.repeat):
            for label in walls:
                dest = Path(work) / f"{label.strip('-')}-{round_}"
                extra = ["--fsync"] if label == "--fsync" else []
                command = [sys.executable, "-m", "aiotulip", "fetch", "--manifest", f"{base}/manifest.json",
                           "-d", str(dest), "-c", "100", "-q", *extra]  # fmt: skip
                started = time.perf_counter()
                subprocess.run(command, check=True)
                walls[label].append(time.perf_counter() - started)
    plain = statistics.median(walls["rename only"])
    print(f"{args.files} files of {args.size} bytes, c=100, median of {args.repeat}")
    for label, values in walls.items():
        wall = statistics.median(values)
        print(f"{label:<12} {wall:7.2f} s  {args.files / wall:8.0f} files/s  x{wall / plain:.2f}")


if __name__ == "__main__":
    main()
