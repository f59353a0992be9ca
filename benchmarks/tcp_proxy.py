"""200 MB through a TCP relay: tulip proxy with no toxic beside socat relaying the same bytes in the same
run, then tulip proxy with a latency toxic (its toxics' path, where Python touches every byte).

The source and socat are run as PEERS.md says: ``socat -U TCP-LISTEN:UP,fork OPEN:FILE,rdonly`` (the
file opened per connection), the relay ``socat TCP-LISTEN:P,fork TCP:127.0.0.1:UP``. tulip proxy runs
as ``tulip proxy`` in its own process, driven through its API. The reader never half-closes (socat
would end a relay 0.5 s after one side's EOF): it reads until the end and is timed from its connect.
Every row is checked once (byte count and sha256) before it is timed; then the rows take turns, and
each row's figure is the median of its runs.

Target: tulip proxy with no toxic at least as fast as socat.

    python benchmarks/tcp_proxy.py [--size 200000000] [--repeat 3] [--latency 10] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from aiotulip.shared.units import parse_size


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int) -> None:
    """Wait until *port* is taken, without connecting (the source would start sending to nobody)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def read_through(port: int, *, digest: bool = False) -> tuple[float, int, str]:
    """Connect, read to the end; return (seconds, bytes, sha256 or "")."""
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    hasher = hashlib.sha256() if digest else None
    started = time.perf_counter()
    count = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        while got := sock.recv_into(buffer):
            count += got
            if hasher is not None:
                hasher.update(view[:got])
    return time.perf_counter() - started, count, hasher.hexdigest() if hasher else ""


class TulipProxy:
    """``tulip proxy`` in its own process, and its API."""

    def __init__(self) -> None:
        command = [sys.executable, "-m", "aiotulip", "proxy", "--port", "0"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.api = self.proc.stdout.readline().split()[3]

    def call(self, path: str, body: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(self.api + path, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return dict(json.load(answer))

    def proxy(self, name: str, upstream: int, toxic: dict[str, object] | None = None) -> int:
        made = self.call("/proxies", {"name": name, "upstream": f"127.0.0.1:{upstream}"})
        if toxic is not None:
            self.call(f"/proxies/{name}/toxics", toxic)
        return int(str(made["listen"]).rsplit(":", 1)[1])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="200000000", help="bytes moved per run (default 200 MB)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (default 3)")
    parser.add_argument("--latency", type=int, default=10, help="ms of the latency toxic row (default 10)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args()
    socat = shutil.which("socat")
    if socat is None:
        print("socat is not installed (apt-get install socat)", file=sys.stderr)
        return 2
    size = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="tulip-tcp-proxy-", dir=args.dir))
    procs: list[subprocess.Popen[bytes]] = []
    tulip: TulipProxy | None = None
    try:
        source_file = work / "source.bin"
        with source_file.open("wb") as out:
            for _ in range(0, size, 1 << 24):
                out.write(os.urandom(min(1 << 24, size - out.tell())))
        expected = hashlib.sha256(source_file.read_bytes()).hexdigest()
        up = free_port()
        procs.append(subprocess.Popen([socat, "-U", f"TCP-LISTEN:{up},fork,reuseaddr,backlog=128",
                                       f"OPEN:{source_file},rdonly"]))  # fmt: skip
        relay = free_port()
        procs.append(subprocess.Popen([socat, f"TCP-LISTEN:{relay},fork,reuseaddr", f"TCP:127.0.0.1:{up}"]))
        wait_listening(up)
        wait_listening(relay)
        tulip = TulipProxy()
        latency = {"type": "latency", "attributes": {"latency": args.latency}}
        rows = {
            "direct (no relay)": up,
            "socat relay": relay,
            "tulip proxy, no toxic": tulip.proxy("plain", up),
            f"tulip proxy, latency {args.latency} ms": tulip.proxy("latency", up, latency),
        }
        for name, port in rows.items():  # every row checked before any is timed
            _seconds, count, digest = read_through(port, digest=True)
            if (count, digest) != (size, expected):
                print(f"{name}: {count} bytes, sha256 {digest[:12]}: not the file", file=sys.stderr)
                return 1
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.repeat):
            for name, port in rows.items():  # the rows take turns: drift hits them all alike
                seconds, count, _digest = read_through(port)
                if count != size:
                    print(f"{name}: {count} bytes of {size}", file=sys.stderr)
                    return 1
                times[name].append(seconds)
    finally:
        if tulip is not None:
            tulip.close()
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    machine = f"Linux {platform.release()}, Python {platform.python_version()}, {os.cpu_count()} cores"
    print(f"{size / 1e6:.0f} MB through each, medians of {args.repeat} ({machine})")
    print(f"{'':34} {'median s':>9} {'MB/s':>7}  runs")
    medians = {}
    for name, runs in times.items():
        medians[name] = statistics.median(runs)
        print(f"{name:34} {medians[name]:9.3f} {size / 1e6 / medians[name]:7.0f}  "
              + " ".join(f"{run:.3f}" for run in runs))  # fmt: skip
    ratio = medians["tulip proxy, no toxic"] / medians["socat relay"]
    print(f"tulip proxy / socat: {ratio:.2f} x the time ({'at least as fast' if ratio <= 1 else 'slower'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
