"""The clients under test, each run as a whole process and measured the same way.

Every client gets a fresh output folder and the same URL list; wall time covers the whole process
(start-up included: it is part of what a user waits for) and peak RSS is the child's ``ru_maxrss``.
Commands follow ``PEERS.md`` so that the figures compare with the ones in the issues.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from aiotulip.shared.signals import left_to_main

__all__ = ["Client", "Run", "clients", "engine_spec", "run_client"]

TEXTBOOK = '''"""The textbook asyncio downloader (PEERS.md): a session, a semaphore, gather, whole bodies."""
import asyncio, sys
from pathlib import Path
import aiohttp
try:
    import uvloop
except ImportError:
    uvloop = None

async def one(session, limit, url, dest):
    async with limit:
        async with session.get(url) as resp:
            data = await resp.read()
        await asyncio.to_thread((dest / url.rsplit("/", 1)[-1]).write_bytes, data)

async def main(urls, dest, concurrency):
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(one(session, limit, url, dest) for url in urls))

urls = Path(sys.argv[1]).read_text().split()
runner = uvloop.run if uvloop else asyncio.run
runner(main(urls, Path(sys.argv[2]), int(sys.argv[3])))
'''


@dataclass(frozen=True)
class Client:
    name: str
    kind: str  # "engine" (tulip) or "peer"
    binary: str | None  # None when not installed: listed as skipped
    workers: int = 0  # tulip: processes (--workers N; 0: tulip's default, --workers auto)
    module: str = "aiotulip"  # tulip: the package to run (revisions before 0.2 were named tulip)

    @property
    def available(self) -> bool:
        return self.binary is not None


@dataclass
class Run:
    wall: float
    max_rss_kb: int
    returncode: int
    stderr: str
    cpu: float = 0.0  # user + system seconds of the client and the processes it waited for
    exec_monotonic: float = 0.0  # time.monotonic() just before the client was started


def clients(engines: list[str], compare: dict[str, str] | None = None) -> list[Client]:
    """Return tulip's engines (also as installed in each interpreter of *compare*, label -> python)
    and every peer, installed or not."""
    found = [_tulip(engine, "", sys.executable) for engine in engines]
    for label, python in (compare or {}).items():  # (one process each: another revision may lack --workers)
        found += [_tulip(engine, f"@{label}", python) for engine in engines if ":" not in engine]
    found.append(Client("textbook aiohttp", "peer", sys.executable))
    for name in ("curl", "wget2", "aria2c"):
        found.append(Client(name, "peer", shutil.which(name)))
    return found


def engine_spec(spec: str) -> tuple[str, int] | None:
    """``asyncio`` -> ("asyncio", 0): as many processes as tulip chooses (--workers auto);
    ``asyncio:2`` -> ("asyncio", 2): two; None for a count that is not a whole number >= 1 (the
    engine's name is checked by the caller)."""
    engine, colon, workers = spec.partition(":")
    if colon and not (workers.isdigit() and int(workers) >= 1):
        return None
    return engine, int(workers) if colon else 0


def _tulip(spec: str, label: str, python: str) -> Client:
    """A client named ``tulip asyncio`` or, for ``asyncio:2``, ``tulip asyncio x2``."""
    engine, count = engine_spec(spec) or (spec, 0)
    name = f"tulip {engine}{label}" + (f" x{count}" if count else "")
    return Client(name, "engine", python, count, _package(python))


def _package(python: str) -> str:
    """The import package tulip has in *python* (another revision, for --compare, may be older)."""
    if python == sys.executable:
        return "aiotulip"
    probe = subprocess.run([python, "-c", "import aiotulip"], capture_output=True, timeout=60)
    return "aiotulip" if probe.returncode == 0 else "tulip"


def _command(
    client: Client, urls_file: Path, dest: Path, concurrency: int, work: Path, split: int = 1
) -> list[str]:
    """The command line of *client*; *split* > 1: as many connections per file, where it can."""
    assert client.binary is not None
    urls = urls_file.read_text().split()
    ca = work / "ca.pem"  # over TLS (run.py puts the CA there): each client trusts it its own way
    trust = ca.exists()
    mirrors = urls_file.with_name("mirrors.txt")
    if mirrors.exists() and (client.name.startswith("tulip ") or client.name == "aria2c"):
        urls_file = mirrors  # the clients that take several URLs for one file get them all
    if client.name.startswith("tulip "):
        engine = client.name.split()[1].partition("@")[0]
        return [
            client.binary, "-m", client.module, "fetch", "-i", str(urls_file), "-d", str(dest),
            "-c", str(concurrency), "--engine", engine, "--quiet", "--retries", "0",
            "--json", str(work / "report.json"),
            *(["--workers", str(client.workers)] if client.workers else []),
            *(["--split", str(split), "--min-split-size", "1M"] if split > 1 else []),  # as aria2c -k1M
            *(["--ca-certificate", str(ca)] if trust else []),
        ]  # fmt: skip
    if client.name == "textbook aiohttp":
        script = work / "textbook.py"
        script.write_text(TEXTBOOK)
        return [client.binary, str(script), str(urls_file), str(dest), str(concurrency)]
    if client.name == "curl":
        config = work / "curl.cfg"
        config.write_text(
            "".join(f'url = "{url}"\noutput = "{dest / url.rsplit("/", 1)[-1]}"\n' for url in urls)
        )
        # Debian's curl refuses --parallel-max above 300.
        return [
            client.binary,
            "-s",
            "--parallel",
            "--parallel-max",
            str(min(concurrency, 300)),
            *(
                ["--cacert", str(ca), "--http2"] if trust else []
            ),  # (HTTP/1.1 where the server offers no more)
            "-K",
            str(config),
        ]
    if client.name == "wget2":
        chunks = []
        if split > 1:  # wget2 splits a file into chunks of this size, fetched by its threads
            chunks = ["--chunk-size=40M", f"--max-threads={split}"]  # as PEERS.md ran it
        return [
            client.binary,
            "-q",
            f"--max-threads={concurrency}",
            *chunks,
            *([f"--ca-certificate={ca}"] if trust else []),
            "-P",
            str(dest),
            "-i",
            str(urls_file),
        ]
    if client.name == "aria2c":
        return [
            client.binary, "-q", "-j", str(concurrency), "--max-connection-per-server=16",
            *([f"-x{split}", f"-s{split}", "-k1M", "--file-allocation=none"] if split > 1 else []),
            *([f"--ca-certificate={ca}"] if trust else []),
            "-d", str(dest), "-i", str(urls_file),
        ]  # fmt: skip
    raise ValueError(client.name)


def run_client(
    client: Client, urls_file: Path, dest: Path, concurrency: int, work: Path, timeout: float, split: int = 1
) -> Run:
    """Run *client* once into the fresh folder *dest*; return wall time and peak RSS.

    The peak RSS comes from the child's ``VmHWM`` (read from /proc while it runs), not from
    ``ru_maxrss``: the latter still counts the parent's memory copied by fork before exec. A client
    that forks processes of its own (``tulip --workers``) is counted with them: the sum of their peaks.
    """
    dest.mkdir(parents=True)
    command = _command(client, urls_file, dest, concurrency, work, split)
    errors = work / f"{client.name.replace(' ', '-')}.stderr"
    ended: dict[str, float | int] = {}
    with open(errors, "wb") as stderr:
        exec_monotonic = time.monotonic()
        started = time.perf_counter()
        env = None
        if (work / "ca.pem").exists():  # the textbook client trusts what OpenSSL's default paths say
            env = {**os.environ, "SSL_CERT_FILE": str(work / "ca.pem")}
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=work, env=env)

        def wait() -> None:
            left_to_main()
            _pid, status, usage = os.wait4(proc.pid, 0)
            ended["wall"] = time.perf_counter() - started
            ended["status"] = status
            ended["cpu"] = usage.ru_utime + usage.ru_stime

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        peaks: dict[int, int] = {}  # pid -> its peak: the client and any processes it forks
        while waiter.is_alive():
            for pid in (proc.pid, *_children(proc.pid)):
                peaks[pid] = max(peaks.get(pid, 0), _vm_hwm_kb(pid))
            waiter.join(0.02)
            if waiter.is_alive() and time.perf_counter() - started > timeout:
                proc.kill()
    waiter.join()
    proc.returncode = os.waitstatus_to_exitcode(int(ended["status"]))
    stderr_tail = errors.read_text(errors="replace")[-2000:]
    cpu = float(ended.get("cpu", 0.0))
    return Run(float(ended["wall"]), sum(peaks.values()), proc.returncode, stderr_tail, cpu, exec_monotonic)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            return [int(child) for child in f.read().split()]
    except (OSError, ValueError):
        return []


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
