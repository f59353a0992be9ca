"""Start-up: from exec to the first connection a client opens, and to the exit of ``tulip --version``
and ``tulip --help``, each beside its floor measured in the same run (median of N).

Floors: for a connection, ``python -c "import asyncio, uvloop, httptools; socket.create_connection()"``
(what any asyncio client here must load); for --version and --help, ``python -c pass``. wget2 and curl
for scale. Targets (issue 15): tulip fetch <= 1.10 x its floor; --version and --help <= 1.3 x theirs.

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

TULIP = str(Path(sys.executable).with_name("tulip"))


def first_connection(argv: list[str], listener: socket.socket) -> float:
    """Seconds from exec until *argv* connects to *listener* (the client is then killed)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn, _ = listener.accept()
        took = time.perf_counter() - started
        conn.close()
        return took
    finally:
        proc.kill()
        proc.wait()


def until_exit(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    host, port = "127.0.0.1", listener.getsockname()[1]
    floor = f"import asyncio, socket, uvloop, httptools; socket.create_connection(({host!r}, {port}))"
    connecting = {
        "floor: python + asyncio, uvloop, httptools": [sys.executable, "-c", floor],
        "tulip fetch": [TULIP, "fetch", url, "-d", "/tmp/tulip-startup", "-q"],
    }
    for peer, argv in (("wget2", ["wget2", "-q", "-O", "/dev/null", url]), ("curl", ["curl", "-s", url])):
        if shutil.which(peer):
            connecting[peer] = argv
    exiting = {
        "floor: python -c pass": [sys.executable, "-c", "pass"],
        "tulip --version": [TULIP, "--version"],
        "tulip --help": [TULIP, "--help"],
    }
    results: dict[str, list[float]] = {name: [] for name in (*connecting, *exiting)}
    for _ in range(args.runs):  # interleaved, so that a noisy moment hurts every row alike
        for name, argv in connecting.items():
            results[name].append(first_connection(argv, listener))
        for name, argv in exiting.items():
            results[name].append(until_exit(argv))
    listener.close()
    median = {name: statistics.median(values) * 1000 for name, values in results.items()}
    print(f"start-up, median of {args.runs} (ms)")
    base = median["floor: python + asyncio, uvloop, httptools"]
    for name in connecting:
        print(
            f"  exec -> first connection  {name:<44} {median[name]:7.1f}  {median[name] / base:5.2f} x floor"
        )
    base = median["floor: python -c pass"]
    for name in exiting:
        print(
            f"  exec -> exit              {name:<44} {median[name]:7.1f}  {median[name] / base:5.2f} x floor"
        )


if __name__ == "__main__":
    main()
