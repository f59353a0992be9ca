"""Requests per second for a 1 KB file with keep-alive under wrk: tulip serve beside a minimal aiohttp
server and nginx, measured in the same run; then 10,000 concurrent connections held through a 1 s delay;
then proxy mode (tulip serve --upstream, quiet) against a direct connection to the same upstream, for
nginx and for tulip serve as upstreams: requests/s on 1 KB and MB/s on 50 MB.

Targets: tulip serve >= the minimal aiohttp server, >= 0.5 x nginx; a 1 KB stub (WireMock's format,
--mappings) >= 0.8 x the 1 KB file; all 10,000 answered; proxy >= 0.7 x direct requests/s and >= 0.9 x
direct MB/s.

    python benchmarks/serve_rps.py [--duration 5] [--rounds 2] [--connections 10000] [--only proxy]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from aiotulip.bench.nginx import Nginx, nginx_available
from aiotulip.serve import Faults, ServeConfig, ServerProcess
from aiotulip.shared.limits import raise_open_file_limit

HELLO = """
import asyncio, os, socket, sys
from aiohttp import web
import uvloop
BODY = os.urandom(1024)
async def handler(request):
    return web.Response(body=BODY)
async def main():
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""


class Hello:
    """The minimal aiohttp server: one route, a 1 KB body from memory, uvloop, no access log."""

    def __enter__(self) -> str:
        self.proc = subprocess.Popen([sys.executable, "-c", HELLO], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()


def wrk(url: str, duration: float, connections: int = 100, *, megabytes: bool = False) -> float:
    """Requests a second (or MB a second of body) wrk reaches on *url*."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert errors is None, out
    if megabytes:
        match = re.search(r"Transfer/sec:\s*([\d.]+)([KMG]B)", out)
        assert match, out
        return float(match.group(1)) * {"KB": 1 / 1024, "MB": 1, "GB": 1024}[match.group(2)]
    match = re.search(r"Requests/sec:\s*([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def stub_folder(root: Path) -> Path:
    """A mappings folder with one stub answering the file's URL with 1 KB, as a WireMock user writes it."""
    import base64
    import json

    folder = root / "stubs"
    (folder / "mappings").mkdir(parents=True, exist_ok=True)
    body = base64.b64encode(os.urandom(1024)).decode()
    mapping = {"request": {"method": "GET", "url": "/files/file-00000.bin"}, "response": {"base64Body": body}}
    (folder / "mappings" / "one-kb.json").write_text(json.dumps(mapping))
    return folder


def proxy_rows(root: Path, duration: float, rounds: int) -> None:
    """Proxy mode beside a direct connection to its upstream, for nginx and tulip serve upstreams."""
    (root / "big.bin").write_bytes(os.urandom(50 * 1024 * 1024))
    upstreams: dict[str, Callable[[], AbstractContextManager[str]]] = {
        "tulip serve": lambda: ServerProcess(ServeConfig(root=root)),
    }
    if nginx_available():
        upstreams["nginx (1 worker)"] = lambda: Nginx(root)
    print(f"\nproxy mode (quiet) vs direct, wrk -t1 -d{duration:g}s, best of {rounds}")
    print(f"{'upstream':<18} {'1 KB req/s direct':>18} {'proxied':>9} {'ratio':>6}"
          f" {'50 MB MB/s direct':>18} {'proxied':>9} {'ratio':>6}")  # fmt: skip
    for name, start in upstreams.items():
        with start() as upstream, ServerProcess(ServeConfig(upstream=upstream)) as proxy:
            small: dict[str, float] = {}
            large: dict[str, float] = {}
            for _ in range(rounds):
                for label, base in (("direct", upstream), ("proxied", proxy)):
                    wrk(f"{base}/files/file-00000.bin", 1)  # warm up
                    small[label] = max(small.get(label, 0), wrk(f"{base}/files/file-00000.bin", duration))
                    rate = wrk(f"{base}/files/big.bin", duration, 4, megabytes=True)
                    large[label] = max(large.get(label, 0), rate)
        ratios = small["proxied"] / small["direct"], large["proxied"] / large["direct"]
        print(
            f"{name:<18} {small['direct']:>18.0f} {small['proxied']:>9.0f} {ratios[0]:>6.2f}"
            f" {large['direct']:>18.0f} {large['proxied']:>9.0f} {ratios[1]:>6.2f}"
        )


async def hold_connections(base: str, n: int) -> tuple[int, float]:
    """Open *n* connections at once, each asking for a delayed file; return (answered, seconds)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)

    async def one(i: int) -> bool:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            return False
        try:
            writer.write(f"GET /files/file-{i % 10:05d}.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            await reader.readexactly(1024)
            return head.startswith(b"HTTP/1.1 200")
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            return False
        finally:
            writer.close()

    started = time.monotonic()
    answered = sum(await asyncio.gather(*(one(i) for i in range(n))))
    return answered, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternate the servers this many times")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--only", choices=("proxy",), help="only the proxy-mode rows")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    raise_open_file_limit()

    root = Path(tempfile.mkdtemp(prefix="tulip-rps-"))
    os.chmod(root, 0o755)
    config = ServeConfig(files=1, size=(1024, 1024))
    (root / "file-00000.bin").write_bytes(os.urandom(1024))
    if args.only == "proxy":
        proxy_rows(root, args.duration, args.rounds)
        shutil.rmtree(root)
        return
    stubs = ServeConfig(files=0, mappings=stub_folder(root))
    unjournaled = ServeConfig(files=1, size=(1024, 1024), journal=0)
    servers: dict[str, Callable[[], AbstractContextManager[str]]] = {
        "tulip serve": lambda: ServerProcess(config),
        "tulip serve, 1 KB stub": lambda: ServerProcess(stubs),
        "tulip serve, no journal": lambda: ServerProcess(unjournaled),
        "aiohttp hello world": Hello,
    }
    if nginx_available():
        servers["nginx (1 worker)"] = lambda: Nginx(root)
    results: dict[str, list[float]] = {name: [] for name in servers}
    for _ in range(args.rounds):
        for name, start in servers.items():
            with start() as base:
                wrk(f"{base}/files/file-00000.bin", 1)  # warm up
                results[name].append(wrk(f"{base}/files/file-00000.bin", args.duration))

    best = {name: max(values) for name, values in results.items()}
    print(f"wrk -t1 -c100 -d{args.duration:g}s, 1 KB file, keep-alive; best of {args.rounds} rounds")
    print(f"{'server':<24} {'req/s':>10} {'vs tulip':>9}")
    for name, rps in best.items():
        print(f"{name:<24} {rps:>10.0f} {rps / best['tulip serve']:>9.2f}")
    tulip = best["tulip serve"]
    print(f"1 KB stub / 1 KB file = {best['tulip serve, 1 KB stub'] / tulip:.2f}  (target >= 0.8)")
    print(f"tulip / aiohttp hello world = {tulip / best['aiohttp hello world']:.2f}  (target >= 1.0)")
    if "nginx (1 worker)" in best:
        print(f"tulip / nginx = {tulip / best['nginx (1 worker)']:.2f}  (target >= 0.5)")

    delayed = ServeConfig(files=10, size=(1024, 1024), faults=Faults(delay=1.0))
    with ServerProcess(delayed) as base:
        answered, seconds = asyncio.run(hold_connections(base, args.connections))
        import json
        import urllib.request

        with urllib.request.urlopen(f"{base}/_tulip/stats") as resp:
            peak = json.load(resp)["peak_connections"]
    print(
        f"{args.connections} concurrent connections, 1 s delay: {answered} answered in {seconds:.2f} s, "
        f"server peak {peak} connections"
    )
    proxy_rows(root, args.duration, args.rounds)
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
