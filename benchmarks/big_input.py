"""A million-line -i list: time from exec to the first request, and peak memory, for tulip fetch.

    python benchmarks/big_input.py [--lines 1000000] [--full]

Start-up: the URLs point at a listener that accepts and never answers; the figure is the time from
starting `tulip fetch` to its first connection there (the input is read, checked for colliding names
and the first request sent), and the peak RSS over the following seconds; then Ctrl-C, and the time
the run takes to stop (summary printed). With --full, a real run of every line against `tulip serve`
(tiny files, RAM disk) and its peak RSS: the Results of a million items kept compactly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from aiotulip.serve import ServeConfig, ServerProcess


def _peak_rss(proc: subprocess.Popen[bytes], until: float | None = None) -> int:
    peak = 0
    while proc.poll() is None and (until is None or time.monotonic() < until):
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        peak = max(peak, int(line.split()[1]) // 1024)
        except OSError:
            pass
        time.sleep(0.05)
    return peak


def start_up(lines: int, work: str) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    urls = os.path.join(work, "urls.txt")
    with open(urls, "w") as f:
        f.writelines(f"http://127.0.0.1:{port}/files/file-{i:07d}.bin\n" for i in range(lines))
    first: list[float] = []
    threading.Thread(target=lambda: (listener.accept(), first.append(time.monotonic())), daemon=True).start()
    started = time.monotonic()
    command = [sys.executable, "-m", "aiotulip", "fetch", "-i", urls, "-d", os.path.join(work, "out"), "-q"]
    proc = subprocess.Popen([*command, "-c", "64"], stdout=subprocess.DEVNULL)
    peak = _peak_rss(proc, until=started + 6)
    proc.send_signal(signal.SIGINT)
    stopping = time.monotonic()
    proc.wait(120)
    stopped = time.monotonic() - stopping
    took = f"{first[0] - started:.2f} s" if first else "none within 6 s"
    print(f"{lines:,} lines: first request after {took}; peak RSS in the first 6 s {peak} MB; "
          f"stopped {stopped:.1f} s after Ctrl-C (exit {proc.returncode})")  # fmt: skip
    listener.close()


def full(lines: int, work: str) -> None:
    with ServerProcess(ServeConfig(files=lines, size=(64, 64))) as base:
        width = len(str(lines - 1))
        urls = os.path.join(work, "all.txt")
        with open(urls, "w") as f:
            f.writelines(f"{base}/files/file-{i:0{max(5, width)}d}.bin\n" for i in range(lines))
        dest = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        started = time.monotonic()
        report = os.path.join(work, "report.json")
        command = [sys.executable, "-m", "aiotulip", "fetch", "-i", urls, "-d", dest, "-q", "-c", "100"]
        proc = subprocess.Popen([*command, "--json", report], stdout=subprocess.DEVNULL)
        peak = _peak_rss(proc)
        print(
            f"{lines:,} downloads: exit {proc.wait()}, {time.monotonic() - started:.1f} s, peak RSS {peak} MB"
        )
        shutil.rmtree(dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--full", action="store_true", help="also download every line from tulip serve")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        start_up(args.lines, work)
        if args.full:
            full(args.lines, work)


if __name__ == "__main__":
    main()
