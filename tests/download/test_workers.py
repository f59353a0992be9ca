"""--workers N: one run over N processes gives the Report one process gives, keeps the limits, and
ends cleanly however it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from aiotulip import Entry, fetch, fetch_async
from aiotulip.download.models import Job
from aiotulip.download.processes import shards, shares
from aiotulip.download.progress import Progress
from aiotulip.errors import UsageError
from aiotulip.serve import Faults, ServeConfig, ServerProcess, ServerThread
from tests.download.helpers import assert_disk_matches, comparable, entries, manifest
from tests.download.test_engines import chaos_config, quick_policy
from tests.terminal import tulip_cmd


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_a_run_over_processes_reports_what_one_process_reports(tmp_path: Path, engine: str) -> None:
    reports = {}
    for workers in (1, 3):
        with ServerThread(chaos_config(90)) as base:  # the same seed: the same faults for each run
            files = manifest(base)
            sources = [*entries(base), Entry(f"{base}/files/missing.bin"), Entry(base + files[5]["url"])]
            dest = tmp_path / f"{engine}{workers}"
            report = fetch(
                sources, dest, engine=engine, concurrency=6, workers=workers, policy=quick_policy()
            )
        reports[workers] = comparable(report, dest)
        assert report.retried > 5 and report.exit_status() == 1
        assert report.items[-2].status == "not_found"
        assert (
            report.items[-1].status == "ok" and report.items[-1].sha256 == files[5]["sha256"]
        )  # a duplicate
        assert_disk_matches(dest, files)
    assert reports[1] == reports[3]


def test_the_display_hears_of_every_item_from_the_children(tmp_path: Path) -> None:
    seen: dict[str, int] = {"done": 0, "bytes": 0}

    class Count(Progress):
        def done(self, job: Job, result: object) -> None:
            seen["done"] += 1

        def advance(self, nbytes: int, job: Job | None = None) -> None:
            seen["bytes"] += nbytes

    config = ServeConfig(files=50, size=(1_000, 300_000), seed=3)
    with ServerThread(config) as base:
        files = manifest(base)
        report = fetch(entries(base), tmp_path, workers=2, progress=Count())
    assert report.ok
    assert seen == {"done": 50, "bytes": sum(f["size"] for f in files)}


def test_concurrency_is_shared_and_per_host_holds_across_processes(tmp_path: Path) -> None:
    config = ServeConfig(files=40, size=(100, 100), faults=Faults(delay=0.2))
    for concurrency, per_host, expected in ((10, None, 10), (10, 3, 3)):
        with ServerThread(config) as base:
            report = fetch(entries(base), tmp_path / f"{concurrency}{per_host}", concurrency=concurrency,
                           per_host=per_host, workers=2)  # fmt: skip
            with urllib.request.urlopen(f"{base}/_tulip/stats") as resp:
                peak = json.load(resp)["peak_connections"]
        assert report.ok
        assert peak == expected, (concurrency, per_host, peak)


def test_shards_deal_items_out_and_keep_a_host_together() -> None:
    jobs = [Job(f"http://h{n % 3}.test/{n}", f"f{n}") for n in range(12)]
    dealt = shards(jobs, 2, by_host=False)
    assert sorted(i for shard in dealt for i in shard) == list(range(12))
    assert all(list(shard) == sorted(shard) for shard in dealt) and sorted(map(len, dealt)) == [6, 6]
    by_host = shards(jobs, 2, by_host=True)
    assert sorted(i for shard in by_host for i in shard) == list(range(12))
    for shard in by_host:
        hosts = {jobs[i].host for i in shard}
        assert all(jobs[i].host not in hosts for other in by_host if other is not shard for i in other)
    assert shards(jobs[:1], 4, by_host=False) == [[0]]  # no empty children
    # hosts dealt to the emptiest child, the biggest first: four hosts, four children, one each
    four = [Job(f"http://h{n % 4}.test/{n}", f"g{n}") for n in range(40)]
    assert sorted(len({four[i].host for i in shard}) for shard in shards(four, 4, by_host=True)) == [1] * 4
    uneven = [Job(f"http://{'big' if n < 30 else f's{n}'}.test/{n}", f"u{n}") for n in range(36)]
    assert sorted(len(shard) for shard in shards(uneven, 2, by_host=True)) == [6, 30]


def test_shares_add_up_to_what_was_asked_in_proportion() -> None:
    assert shares(3, [5, 5]) == [2, 1]
    assert shares(10, [9, 1]) == [9, 1]
    assert shares(4, [30, 1, 1, 1]) == [1, 1, 1, 1]  # one each, at the least
    assert shares(100, [30, 6]) == [83, 17]
    for total, weights in ((7, [1, 2, 3]), (5, [1] * 5), (1000, [3, 3, 3]), (8_000_000, [4, 1])):
        split = shares(total, weights)
        assert sum(split) == total and min(split) >= 1


def test_no_items_and_more_workers_than_connections(tmp_path: Path) -> None:
    assert fetch([], tmp_path, workers=2).items == []
    config = ServeConfig(files=12, size=(100, 100), faults=Faults(delay=0.2))
    for concurrency, workers in ((3, 2), (1, 4), (5, 4)):
        with ServerThread(config) as base:
            report = fetch(entries(base), tmp_path / f"{concurrency}{workers}", concurrency=concurrency,
                           workers=workers)  # fmt: skip
            with urllib.request.urlopen(f"{base}/_tulip/stats") as resp:
                peak = json.load(resp)["peak_connections"]
        assert report.ok and peak == concurrency, (concurrency, workers, peak)
        # The Report names the processes that ran, not the number asked for (--workers 4 -c 1
        # said "4 processes" with one child running).
        assert report.workers == min(concurrency, workers), (concurrency, workers, report.workers)
        assert report.summary()["workers"] == report.workers


def test_a_finished_item_reaches_the_display_while_others_are_slow(tmp_path: Path) -> None:
    heard: dict[str, float] = {}
    started = time.monotonic()

    class Clock(Progress):
        def done(self, job: Job, result: object) -> None:
            heard[job.name] = time.monotonic() - started

    config = ServeConfig(
        files=4, size=(100, 100), faults=Faults(delay=2.0, paths=("files/file-0000[23].bin",))
    )
    with ServerThread(config) as base:
        report = fetch(entries(base), tmp_path, workers=2, concurrency=4, progress=Clock())
    assert report.ok
    assert heard["file-00000.bin"] < 1.0 and heard["file-00001.bin"] < 1.0  # not held until the end
    assert heard["file-00002.bin"] >= 2.0


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_every_engine_counts_the_cpu_of_its_stages(tmp_path: Path, engine: str) -> None:
    config = ServeConfig(files=3, size=(2_000_000, 2_000_000), seed=4)
    with ServerThread(config) as base:
        report = fetch(entries(base), tmp_path, engine=engine)
    assert report.ok and report.cpu is not None
    assert report.cpu["sha256"] > 0.0005 and report.cpu["write"] > 0.0001


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"workers": 0}, "workers must be"),
        ({"workers": 2, "cluster": "local:2"}, "choose one"),
        ({"workers": 2, "content_disposition": True}, "content-disposition"),
    ],
)
def test_bad_combinations_are_usage_errors(tmp_path: Path, settings: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        fetch(["http://127.0.0.1:9/x"], tmp_path, **settings)


def _slow_run(base: str, dest: Path, *extra: str) -> subprocess.Popen[str]:
    report = str(dest.parent / "report.json")
    return subprocess.Popen(
        [
            *tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(dest), "-c", "4"),
            *("--workers", "2", "-q", "--json", report, *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a job
    )


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_for_children(pid: int, count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = _children(pid)
        if len(children) >= count:
            return children
        time.sleep(0.02)
    raise AssertionError(f"{pid} never had {count} children")


def _gone(pids: list[int], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not alive:
            return True
        time.sleep(0.05)
    return False


SLOW = ServeConfig(files=24, size=(200_000, 200_000), seed=2, faults=Faults(bandwidth=400_000))


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("ctrl-c", -signal.SIGINT),
        ("sigint", -signal.SIGINT),
        ("sigterm", -signal.SIGTERM),
        ("sighup", -signal.SIGHUP),
        ("group-sigterm", -signal.SIGTERM),  # timeout(1), systemd: every process of the group
        ("group-sighup", -signal.SIGHUP),  # a terminal closed
        ("child-sigterm", -signal.SIGTERM),  # one child alone: the other finishes its items
    ],
)
def test_an_interrupted_run_ends_every_process_and_reports(tmp_path: Path, how: str, status: int) -> None:
    with ServerProcess(SLOW) as base:
        files = manifest(base)
        dest = tmp_path / "dest"
        proc = _slow_run(base, dest)
        children = _wait_for_children(proc.pid, 2)
        time.sleep(1.5)  # a few files done (0.5 s each), most not
        if how == "ctrl-c":  # the terminal signals the whole foreground group
            os.killpg(proc.pid, signal.SIGINT)
        elif how.startswith("group-"):
            os.killpg(proc.pid, signal.SIGTERM if how.endswith("term") else signal.SIGHUP)
        elif how == "child-sigterm":
            os.kill(children[0], signal.SIGTERM)
        else:
            proc.send_signal(
                {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sighup": signal.SIGHUP}[how]
            )
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert _gone(children)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["interrupted"] is True
    done = {item["path"] for item in report["items"] if item["status"] == "ok"}
    sizes = {f["name"]: f["size"] for f in files}
    for path in dest.iterdir():  # complete under its final name, or a .part to resume
        if path.name in sizes:
            assert path.stat().st_size == sizes[path.name]
    complete = {str(path) for path in dest.iterdir() if path.name in sizes}
    assert done <= complete  # what the Report calls ok is there
    # ... and what the children finished reached it: all but, at most, a file per connection whose
    # rename, already in a disk thread, outlived the cancelled item (as in a one-process run).
    assert len(complete - done) <= 4
    assert 0 < len(done) < len(files)
    if how == "child-sigterm":  # the other child's half all done
        assert len(done) >= len(files) // 2


@pytest.mark.parametrize("workers", ["1", "2"])
def test_hangups_that_nohup_ignores_stay_ignored(tmp_path: Path, workers: str) -> None:
    with ServerProcess(SLOW) as base:
        files = manifest(base)
        dest = tmp_path / "dest"
        fetch_command = tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(dest), "-c", "8")
        proc = subprocess.Popen(
            ["nohup", *fetch_command, "--workers", workers, "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            cwd=tmp_path,
        )
        time.sleep(0.8)
        os.killpg(proc.pid, signal.SIGHUP)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert_disk_matches(dest, files)


@pytest.mark.parametrize("moment", [0.2, 0.6, 1.0, 1.4])
def test_a_killed_parent_takes_its_children_with_it(tmp_path: Path, moment: float) -> None:
    with ServerProcess(SLOW) as base:
        proc = _slow_run(base, tmp_path / "dest")
        children = _wait_for_children(proc.pid, 2)
        time.sleep(moment)
        proc.kill()
        _out, err = proc.communicate(timeout=30)  # (the children write to the same stderr)
        assert _gone(children)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_child_that_dies_fails_its_own_unfinished_items_only(tmp_path: Path) -> None:
    with ServerProcess(SLOW) as base:
        files = manifest(base)
        proc = _slow_run(base, tmp_path / "dest", "--events", str(tmp_path / "events.jsonl"))
        children = _wait_for_children(proc.pid, 2)
        time.sleep(0.3)
        os.kill(children[0], signal.SIGKILL)
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    items = json.loads((tmp_path / "report.json").read_text())["items"]
    failed = [item for item in items if item["status"] == "failed"]
    ok = [item for item in items if item["status"] == "ok"]
    assert failed and ok and len(failed) + len(ok) == len(files)
    assert all("worker process" in item["error"] and "killed by SIGKILL" in item["error"] for item in failed)
    assert {item["error_kind"] for item in failed} == {"interrupted"}
    assert len(ok) >= len(files) // 2  # the other child finished all of its own
    # Each of them ends in the events (and gets its --on-error) as any failure does: they had none.
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    ended = {event["path"]: event["status"] for event in events if event["event"] == "end"}
    assert {item["path"]: "failed" for item in failed}.items() <= ended.items()


@pytest.mark.parametrize("workers", [1, 2])
def test_the_report_counts_the_cpu_of_the_run_and_of_its_stages(tmp_path: Path, workers: int) -> None:
    config = ServeConfig(files=4, size=(4_000_000, 4_000_000), seed=1)
    with ServerThread(config) as base:
        report = fetch(entries(base), tmp_path, workers=workers)
    assert report.ok and report.cpu is not None
    # 16 MB hashed and written: tenths of a millisecond a megabyte at the least, seconds at the most
    assert 0.001 < report.cpu["sha256"] < report.cpu["total"] < 30
    assert 0.0005 < report.cpu["write"] < report.cpu["total"]
    assert set(report.summary()["cpu_seconds"]) == {"total", "sha256", "write"}


def test_auto_spreads_long_lists_that_come_in_waves_and_nothing_else() -> None:
    from aiotulip.download.plan import processes

    assert processes(10_000, 100, "asyncio", 2) == 2  # the small row: 100 waves
    assert processes(3_000, 100, "threads", 2) == 2
    assert processes(2_999, 100, "asyncio", 2) == 1  # under 1,500 items a process
    assert processes(100_000, 100, "asyncio", 16) == 4  # one a core, up to 4
    assert processes(10_000, 10_000, "asyncio", 2) == 1  # c10k: every item in flight at once
    assert processes(10_000, 1_001, "asyncio", 2) == 1  # under ten waves
    assert processes(10_000, 100, "sequential", 2) == 1  # one item at a time is what it is for
    assert processes(10_000, 1, "asyncio", 2) == 1  # -c 1 the same
    assert processes(10_000, 100, "asyncio", 1) == 1  # one core


def test_the_command_line_spreads_a_long_list_by_itself(tmp_path: Path) -> None:
    """A plain `tulip fetch -i LIST` of 3,000 files runs on as many processes as plan.processes says
    for this machine's cores (its Report the same as ever); --workers 1, --per-host with one host,
    and the library's fetch() stay in one."""
    from aiotulip.download.plan import processes

    cores = len(os.sched_getaffinity(0))
    config = ServeConfig(files=3_000, size=(64, 64), seed=5)
    with ServerThread(config) as base:
        files = manifest(base)
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{base}{f['url']}\n" for f in files))
        for extra, expected in (
            ((), processes(3_000, 16, "asyncio", cores)),
            (("--workers", "1"), 1),
            (("--per-host", "16"), 1),  # (any --per-host: hosts are dealt whole, unevenly)
            (("--limit-rate", "1G"), 1),
            (("--workers", "auto", "--engine", "sequential"), 1),
        ):
            dest = tmp_path / f"out{len(extra)}{extra[-1] if extra else ''}"
            report_file = tmp_path / "report.json"
            done = subprocess.run(
                tulip_cmd("fetch", "-i", str(urls), "-d", str(dest), "-c", "16", "--json",
                          str(report_file), *extra),
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            summary = json.loads(report_file.read_text())["summary"]
            assert (summary["workers"], summary["ok"]) == (expected, 3_000), extra
            spread = f" engine, {expected} processes): " if expected > 1 else " engine): "
            assert spread + "3000 items" in done.stdout, done.stdout
            assert_disk_matches(dest, files)
        few = [Entry(base + f["url"]) for f in files[:50]]
        assert fetch(few, tmp_path / "api").workers == 1  # (the library's default: one process)
        # Inside somebody's event loop nothing is forked, "auto" or not.
        every = [Entry(base + f["url"]) for f in files]
        inside = asyncio.run(fetch_async(every, tmp_path / "loop", workers="auto"))
        assert inside.workers == 1 and inside.ok


def test_a_plain_list_is_dealt_out_by_number_and_stays_lazy(tmp_path: Path) -> None:
    """A plain -i list is not made into a million Jobs in the parent (4.4 s and 456 MB before the
    first request of a million-line list under --workers auto): its shards are ranges, each child
    makes its own Jobs as it takes them, and the parent takes one by number."""
    from aiotulip.download.processes import _Shard
    from aiotulip.download.sources import UrlList

    data = "".join(f"http://127.0.0.1:9/d/f{n:04d}.bin\n" for n in range(1001)).encode()
    plain = UrlList.parse(data, "list")
    assert plain is not None
    every = list(plain)
    groups = shards(plain, 3, by_host=False)
    assert sorted(n for group in groups for n in group) == list(range(1001))
    assert [plain[n] for n in (0, 500, 1000, -1)] == [every[0], every[500], every[1000], every[1000]]
    with pytest.raises(IndexError):
        plain[1001]
    for group in groups:
        assert list(group) == sorted(group) and 300 < len(group) < 370
        shard = _Shard(plain, group)
        assert list(shard) == [every[n] for n in group] and len(shard) == len(group)
        assert shard[-1] == every[group[-1]]
    assert shards(plain, 2, by_host=True) == [list(range(1001))]  # (one host: one child)


@pytest.mark.parametrize("count", [2, 3, 4])
@pytest.mark.parametrize("period", [2, 3, 4, 5, 8])
def test_items_are_dealt_evenly_whatever_pattern_the_list_repeats(count: int, period: int) -> None:
    """A list that alternates (a file and its checksum, two hosts, a big and a small file) gave
    every Nth item to one child: with N=2 and a period of 2, one child had every big file and the
    other sat idle when done (7.2 s became 14.3 s). Each kind of item is now shared evenly."""
    from aiotulip.download.processes import owner

    items = 6_000
    for kind in range(period):
        mine = [0] * count
        for index in range(kind, items, period):
            mine[owner(index, count)] += 1
        fair = items / period / count
        assert all(abs(got - fair) <= 0.05 * fair + 2 for got in mine), (period, kind, mine)


@pytest.mark.parametrize("workers", ["1", "auto"])
def test_a_reader_of_the_progress_lines_that_goes_away_costs_nothing(tmp_path: Path, workers: str) -> None:
    """`tulip fetch ... 2>&1 | head -1`: the progress line after the reader left raised
    BrokenPipeError. Over processes it ended the run half-way (the children went on alone), and in
    one process the closing line lost the --json report; exit 1 both ways. The lines stop; the
    downloads, the report and the exit status are what they would be."""
    config = ServeConfig(files=3_000, size=(64, 64), seed=8, faults=Faults(delay=0.1))
    with ServerThread(config) as base:
        files = manifest(base)
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{base}{f['url']}\n" for f in files))
        report_file = tmp_path / "report.json"
        proc = subprocess.Popen(
            tulip_cmd("fetch", "-i", str(urls), "-d", str(tmp_path / "out"), "-c", "100", "--json",
                      str(report_file), "--workers", workers),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        proc.stdout.close()  # (as `| head -0`: the reader is gone from the start; lines come every 2 s)
        assert proc.wait(timeout=120) == 0
    summary = json.loads(report_file.read_text())["summary"]
    from aiotulip.download.plan import processes

    spread = processes(3_000, 100, "asyncio", len(os.sched_getaffinity(0))) if workers == "auto" else 1
    assert (summary["ok"], summary["workers"]) == (3_000, spread)
    assert_disk_matches(tmp_path / "out", files)


def test_a_second_ctrl_c_does_not_wait_for_a_child_that_hangs(tmp_path: Path) -> None:
    """A child that cannot end in order (stopped, hung) held the run for its 30 s grace, and a
    second Ctrl-C did nothing. The second one ends it now: what was done is reported, exit 130."""
    with ServerProcess(SLOW) as base:
        proc = _slow_run(base, tmp_path / "dest")
        children = _wait_for_children(proc.pid, 2)
        deadline = time.monotonic() + 20
        while len(list((tmp_path / "dest").glob(".*.tulip-part"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # (each child's two first items under way: their parts made)
        time.sleep(0.2)  # (and their events, sent every 50 ms, with the parent)
        os.kill(children[0], signal.SIGSTOP)
        try:
            os.kill(proc.pid, signal.SIGINT)
            time.sleep(0.5)
            asked = time.monotonic()
            os.kill(proc.pid, signal.SIGINT)
            _out, err = proc.communicate(timeout=20)
            waited = time.monotonic() - asked
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(children[0], signal.SIGKILL)
    assert proc.returncode == -signal.SIGINT, err
    assert waited < 10, waited  # (the grace is 30 s; the impatient wait 2 s)
    assert "Traceback" not in err
    report = json.loads((tmp_path / "report.json").read_text())
    summary = report["summary"]
    assert summary["interrupted"] is True and summary["ok"] < summary["items"]
    assert not _children(proc.pid)
    # The killed child's items under way kept their parts: interrupted, not "not started" (as they
    # were said to be), and what each part holds is what the report says.
    parts = {p.name[1:].removesuffix(".tulip-part") for p in (tmp_path / "dest").glob(".*.tulip-part")}
    assert len(parts) >= 3, parts  # (two in each child at -c 4, less one that had just ended)
    said = {Path(item["path"]).name: item for item in report["items"]}
    assert {name: said[name]["error"] for name in parts} == {name: "interrupted" for name in parts}
    held = {name: os.path.getsize(tmp_path / "dest" / f".{name}.tulip-part") for name in parts}
    assert {name: said[name]["bytes"] for name in parts} == held
