"""Run workloads against every client in one go, check every output, and collect the rows.

A client that is fast but wrong (missing files, a bad sha256) is marked failed and never ranked; a
client that is not installed is listed as skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

from aiotulip.bench.nginx import Nginx, nginx_available
from aiotulip.bench.peers import Client, clients, run_client
from aiotulip.bench.workloads import Workload
from aiotulip.serve import Faults, ServeConfig, ServerProcess
from aiotulip.serve.corpus import SyntheticCorpus
from aiotulip.shared.limits import raise_open_file_limit

__all__ = ["Row", "run_workload"]

SEED = 2026
_SEQUENTIAL_BUDGET = 30.0  # seconds: one file at a time behind a delay is skipped past this


@dataclass
class Row:
    workload: str
    client: str
    concurrency: int
    status: str  # "ok", "failed" (wrong or missing output, or a crash), "skipped" (not installed)
    wall: float | None = None
    files: int = 0
    bytes: int = 0
    max_rss_mb: float | None = None
    server_peak: int | None = None  # concurrent connections the server saw (tulip serve only)
    limit: float | None = None  # the latency floor, where the workload has one
    max_loop_lag_ms: float | None = None  # tulip's asyncio engine reports it
    cpu_s: float | None = None  # user + system seconds of the client's processes
    startup_s: float | None = None  # exec to the first request the server saw (tulip serve only)
    cpu_stages: dict[str, float] | None = None  # tulip: CPU seconds hashing and writing streamed bodies
    note: str = ""

    @property
    def files_per_s(self) -> float | None:
        return self.files / self.wall if self.wall else None

    @property
    def mb_per_s(self) -> float | None:
        return self.bytes / self.wall / 1e6 if self.wall else None

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["files_per_s"] = self.files_per_s
        data["mb_per_s"] = self.mb_per_s
        return data


@contextmanager
def _server(
    workload: Workload, corpus: SyntheticCorpus, work: Path
) -> Iterator[tuple[list[tuple[str, str]], str]]:
    """Serve the workload's corpus; give where each file is (prefix and suffix of its URL: the
    first, then its mirrors) and the server's name."""
    if workload.mirrors and not nginx_available():
        raise RuntimeError("the mirrors workload needs nginx (apt-get install nginx)")
    if workload.server == "nginx" and nginx_available() and not workload.delay:
        root = work / "root"
        root.mkdir()
        os.chmod(work, 0o755)
        os.chmod(root, 0o755)
        for name in corpus.names():
            entry = corpus.lookup(name)
            assert entry is not None
            with open(root / name, "wb") as f:
                for chunk in corpus.read(entry, 0, entry.size):
                    f.write(chunk)
        nginx = Nginx(root, workload.rate, workload.mirrors, workload.tls)
        with nginx as base, _failing(workload) as failing:
            if nginx.ca_file is not None:
                # Where every client finds the CA to trust (peers.py gives it as each one's option).
                shutil.copy(nginx.ca_file, work / "ca.pem")
            bases = [(f"{base}/m{n}/", "") for n in range(1, len(workload.mirrors) + 1)]
            yield (bases or [(f"{base}/files/", "")]) + failing, "nginx"
        shutil.rmtree(root)
        return
    config = ServeConfig(files=workload.files, size=(workload.size, workload.size), seed=SEED,
                         faults=Faults(delay=workload.delay, bandwidth=workload.rate))  # fmt: skip
    with ServerProcess(config) as base:
        yield [(f"{base}/files/", "")], "tulip serve"


@contextmanager
def _failing(workload: Workload) -> Iterator[list[tuple[str, str]]]:
    """The mirror that breaks every answer half-way (tulip serve, the same bytes), if the workload has one."""
    if not workload.failing_mirror:
        yield []
        return
    config = ServeConfig(files=workload.files, size=(workload.size, workload.size), seed=SEED,
                         faults=Faults(bandwidth=10 * 1024 * 1024))  # fmt: skip
    with ServerProcess(config) as base:
        yield [(f"{base}/files/", "?drop=1&cut=0.5")]  # every answer cut half-way, then reset


def _expected(corpus: SyntheticCorpus) -> dict[str, str]:
    expected = {}
    for name in corpus.names():
        entry = corpus.lookup(name)
        assert entry is not None
        expected[name] = corpus.sha256(entry)
    return expected


def _verify(dest: Path, expected: dict[str, str]) -> str:
    """Return "" if *dest* holds exactly the expected files, else what is wrong."""
    found = {p.name for p in dest.iterdir()}
    missing = set(expected) - found
    if missing:
        return f"{len(missing)} of {len(expected)} files missing"
    extra = found - set(expected)
    if extra:
        return f"{len(extra)} unexpected files (e.g. {sorted(extra)[0]})"
    for name, digest in expected.items():
        sha = hashlib.sha256()
        with open(dest / name, "rb") as f:
            while block := f.read(1024 * 1024):
                sha.update(block)
        if sha.hexdigest() != digest:
            return f"{name} has the wrong sha256"
    return ""


def _first_error(report: Path) -> str:
    """What the first failed item of tulip's report says (a quiet run prints nothing of it)."""
    try:
        items = json.loads(report.read_text())["items"]
    except (OSError, ValueError, KeyError):
        return ""
    failed = [item for item in items if item.get("status") not in ("ok", "skipped")]
    if not failed:
        return ""
    first = failed[0]
    return f"{len(failed)} items failed, e.g. {first.get('url')}: {first.get('error')}"


def _stats(base: str, method: str = "GET") -> dict[str, object]:
    request = urllib.request.Request(f"{base}/_tulip/stats", method=method)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def run_workload(
    workload: Workload,
    concurrencies: list[int],
    engines: list[str],
    *,
    compare: dict[str, str] | None = None,
    peers: bool = True,
    repeat: int = 1,
    on_row: Callable[[Row], None] = lambda row: None,
    timeout: float = 300.0,
    work_dir: str | Path | None = None,
) -> list[Row]:
    """Run every client on *workload* at each concurrency, *repeat* times in alternation; return one
    Row per client and concurrency holding the median wall time (and the worst of everything else)."""
    raise_open_file_limit()
    corpus = SyntheticCorpus(workload.files, (workload.size, workload.size), SEED)
    expected = _expected(corpus)
    rows: list[Row] = []
    chosen = [c for c in clients(engines, compare) if peers or c.kind == "engine"]
    with tempfile.TemporaryDirectory(prefix=f"tulip-bench-{workload.name}-", dir=work_dir) as temp:
        work = Path(temp)
        with _server(workload, corpus, work) as (places, server):
            (prefix, suffix), base = places[0], places[0][0].rsplit("/", 2)[0]
            urls_file = work / "urls.txt"
            urls_file.write_text("".join(f"{prefix}{name}{suffix}\n" for name in expected))
            if len(places) > 1:  # aria2c's form: every URL of a file on its line, tab-separated
                lines = ("\t".join(f"{p}{name}{s}" for p, s in places) for name in expected)
                (work / "mirrors.txt").write_text("".join(line + "\n" for line in lines))
            for concurrency in concurrencies:
                runs: dict[str, list[Row]] = {client.name: [] for client in chosen}
                # Round-robin, so that a slow spell of the machine (or its disk) hits every client.
                for _ in range(max(1, repeat)):
                    for client in chosen:
                        runs[client.name].append(
                            _measure(
                                client,
                                workload,
                                concurrency,
                                base,
                                server,
                                urls_file,
                                work,
                                expected,
                                timeout,
                            )
                        )
                for client in chosen:
                    row = _combine(runs[client.name])
                    rows.append(row)
                    on_row(row)
    return rows


def _combine(runs: list[Row]) -> Row:
    """One Row from repeated runs: the median wall time, the largest RSS and lag, any failure."""
    failed = [row for row in runs if row.status == "failed"]
    if failed or runs[0].status == "skipped":
        return failed[0] if failed else runs[0]
    walls = sorted(row.wall for row in runs if row.wall is not None)
    row = runs[0]
    row.wall = statistics.median(walls)
    row.max_rss_mb = max(r.max_rss_mb or 0 for r in runs)
    peaks = [r.server_peak for r in runs if r.server_peak is not None]
    row.server_peak = min(peaks) if peaks else None
    lags = [r.max_loop_lag_ms for r in runs if r.max_loop_lag_ms is not None]
    row.max_loop_lag_ms = max(lags) if lags else None
    starts = [r.startup_s for r in runs if r.startup_s is not None]
    row.startup_s = statistics.median(starts) if starts else None
    cpus = [r.cpu_s for r in runs if r.cpu_s is not None]
    row.cpu_s = statistics.median(cpus) if cpus else None
    staged = [r.cpu_stages for r in runs if r.cpu_stages]
    if staged:
        row.cpu_stages = {key: statistics.median(s.get(key, 0.0) for s in staged) for key in staged[0]}
    if len(runs) > 1:
        row.note = f"median of {len(runs)}: " + ", ".join(f"{w:.2f}" for w in walls)
    return row


def _measure(
    client: Client,
    workload: Workload,
    concurrency: int,
    base: str,
    server: str,
    urls_file: Path,
    work: Path,
    expected: dict[str, str],
    timeout: float,
) -> Row:
    row = Row(workload.name, client.name, concurrency, "skipped", limit=workload.limit(concurrency))
    if not client.available:
        row.note = "not installed"
        return row
    if client.name.startswith("tulip sequential") and workload.files * workload.delay > _SEQUENTIAL_BUDGET:
        row.note = f"would wait {workload.files * workload.delay:.0f} s for the delays alone"
        return row
    if server == "tulip serve":
        _stats(base, "DELETE")
    dest = work / "out" / f"{client.name.replace(' ', '-')}-{concurrency}"
    # Untimed: write back what earlier runs left dirty (a gigabyte, after bulk) so that the kernel
    # does not flush it on this client's time.
    os.sync()
    run = run_client(client, urls_file, dest, concurrency, work, timeout, workload.split)
    row.wall = run.wall
    row.max_rss_mb = run.max_rss_kb / 1024
    row.cpu_s = run.cpu
    if server == "tulip serve":
        stats = _stats(base)
        row.server_peak = int(cast(int, stats["peak_connections"]))
        first = stats.get("first_request_monotonic")
        if isinstance(first, float):
            row.startup_s = max(0.0, first - run.exec_monotonic)
    problem = (
        _verify(dest, expected)
        if run.returncode == 0
        else f"exit {run.returncode}: {run.stderr.strip()[-200:] or _first_error(work / 'report.json')}"
    )
    if problem:
        row.status, row.note = "failed", problem
    else:
        row.status, row.files, row.bytes = "ok", len(expected), workload.files * workload.size
    report = work / "report.json"
    if report.exists():
        summary = json.loads(report.read_text())["summary"]
        row.max_loop_lag_ms = summary.get("max_loop_lag_ms")
        row.cpu_stages = summary.get("cpu_seconds")
        report.unlink()
    shutil.rmtree(dest, ignore_errors=True)
    return row
