"""Output paths the way the user means them (``--json``): ``-`` is stdout, a link is followed, a FIFO or
a device is written through, a regular file is replaced whole (issue: a report renamed over
``/dev/stdout`` or a symlink never reached its reader)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from aiotulip.serve import ServeConfig, ServerThread

FETCH = [sys.executable, "-m", "aiotulip", "fetch", "--retries", "0", "-q"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FETCH, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_json_to_stdout_a_link_a_fifo_and_a_file(tmp_path: Path) -> None:
    with ServerThread(ServeConfig(files=2)) as base:
        url = f"{base}/files/file-00000.bin"
        # -: the report on stdout, nothing else there (the summary, if any, on stderr).
        done = _run(url, "-d", "a", "--json", "-", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["items"][0]["status"] == "ok"
        assert not (tmp_path / "-").exists()
        # A symbolic link is followed: the link stays, its target gets the report.
        (tmp_path / "reports").mkdir()
        (tmp_path / "reports" / "old.json").write_text("{}")
        (tmp_path / "latest.json").symlink_to("reports/old.json")
        assert _run(url, "-d", "b", "--json", "latest.json", cwd=tmp_path).returncode == 0
        assert (tmp_path / "latest.json").is_symlink()
        assert json.loads((tmp_path / "reports" / "old.json").read_text())["summary"]["ok"] == 1
        # A FIFO with a reader: written through, still a FIFO after.
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
        reader.start()
        assert _run(url, "-d", "c", "--json", str(fifo), cwd=tmp_path).returncode == 0
        reader.join(30)
        assert json.loads(got[0])["summary"]["ok"] == 1 and fifo.is_fifo()
        # /dev/stdout, as a script writes it: the report reaches the pipe, /dev/stdout stays a link.
        done = _run(url, "-d", "d", "--json", "/dev/stdout", cwd=tmp_path)
        assert json.loads(done.stdout)["summary"]["ok"] == 1
        assert os.path.islink("/dev/stdout") or not os.path.isfile("/dev/stdout")
        # A regular file: replaced whole, no temporary left beside it.
        assert _run(url, "-d", "e", "--json", "r.json", cwd=tmp_path).returncode == 0
        assert json.loads((tmp_path / "r.json").read_text())["summary"]["ok"] == 1
        assert not [p for p in os.listdir(tmp_path) if ".tulip-" in p]


def test_a_directory_or_an_unwritable_place_is_refused_before_anything_starts(tmp_path: Path) -> None:
    done = _run("http://127.0.0.1:1/x", "--json", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and "is a directory" in done.stderr and "Traceback" not in done.stderr
    done = _run("http://127.0.0.1:1/x", "--json", "/nonexistent/dir/r.json", cwd=tmp_path)
    assert done.returncode == 2 and "cannot write in" in done.stderr


def test_ctrl_c_while_a_long_list_is_read_still_writes_the_report(tmp_path: Path) -> None:
    """Half a million lines with mirrors take seconds to read and name: a Ctrl-C then ends the run
    at once (130), and --json holds a report that says it was interrupted with nothing begun."""
    import signal
    import time

    listing = tmp_path / "in.txt"
    with listing.open("w") as out:
        for i in range(500_000):
            out.write(f"http://127.0.0.1:9/f{i}.bin\thttp://127.0.0.2:9/f{i}.bin\n")
    report = tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-m", "aiotulip", "fetch", "-i", str(listing), "-d",
                             str(tmp_path / "o"), "--json", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(1.5)  # started, and still reading (the list takes several seconds)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, err
    assert "Traceback" not in err
    document = json.loads(report.read_text())
    assert document["summary"]["interrupted"] is True
    assert document["items"] == []  # (were the list read in 1.5 s, this would say so: make it longer)


def test_ctrl_c_while_the_manifest_comes_is_a_quiet_130(tmp_path: Path) -> None:
    import signal
    import time

    from tests.download.conformance.scripted import Pause, Scripted, response

    with Scripted({"/m.json": lambda r: [Pause(30), response("200 OK", b"{}")]}) as server:
        report = tmp_path / "report.json"
        proc = subprocess.Popen([sys.executable, "-m", "aiotulip", "fetch", "--manifest",
                                 f"{server.base}/m.json", "-d", str(tmp_path / "o"), "--json", str(report)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 20
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT and "Traceback" not in err, err
    assert json.loads(report.read_text())["summary"]["interrupted"] is True


def test_a_report_on_the_ram_disk_is_a_file_like_any_other(tmp_path: Path) -> None:
    """/dev/shm holds ordinary files: --json there is written whole and renamed (it was refused as
    a device, and tulip bench --dir /dev/shm failed every tulip row)."""
    import tempfile

    from aiotulip.shared.output import check_output, writing

    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        import pytest

        pytest.skip("no writable /dev/shm")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
        path = os.path.join(folder, "report.json")
        check_output(path, "--json")
        with writing(path) as out:
            out.write("{}")
        os.symlink(path, os.path.join(folder, "latest.json"))
        with writing(os.path.join(folder, "latest.json")) as out:
            out.write('{"a": 1}')
        assert sorted(os.listdir(folder)) == ["latest.json", "report.json"]
        assert Path(path).read_text() == '{"a": 1}' and os.path.islink(os.path.join(folder, "latest.json"))


def test_the_ram_disk_itself_is_a_folder_to_download_into(tmp_path: Path) -> None:
    """``-d /dev/shm`` and ``-o /dev/shm/NAME`` (the folder /dev/shm itself, not one below it) were
    taken for a device, opened for writing and refused: "cannot write to /dev/shm: Is a directory".
    No folder is ever written through, under /dev and /proc or anywhere."""
    import uuid

    import pytest

    from aiotulip.shared.output import check_output, writes_through

    assert not writes_through(str(tmp_path))
    with pytest.raises(Exception, match="is a directory"):
        check_output(str(tmp_path), "--json")
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm")
    assert not writes_through("/dev/shm") and not writes_through("/dev/shm/")
    names = [f"tulip-test-{uuid.uuid4().hex}-{n}.bin" for n in (1, 2)]
    try:
        with ServerThread(ServeConfig(files=1, size=(3000, 3000))) as base:
            url = f"{base}/files/file-00000.bin"
            into = _run(url, "-d", "/dev/shm", "-o", names[0], "--json", "-", cwd=tmp_path)
            named = _run(url, "-o", f"/dev/shm/{names[1]}", cwd=tmp_path)
        assert into.returncode == 0, into.stderr
        (item,) = json.loads(into.stdout)["items"]
        assert item["status"] == "ok" and item["path"] == f"/dev/shm/{names[0]}", item
        assert named.returncode == 0, named.stderr
        assert [os.path.getsize(f"/dev/shm/{name}") for name in names] == [3000, 3000]
    finally:
        for name in names:  # (unique names: nothing of anybody else's is touched)
            if os.path.exists(f"/dev/shm/{name}"):
                os.unlink(f"/dev/shm/{name}")


def test_the_report_is_never_written_over_a_file_the_run_downloaded(tmp_path: Path) -> None:
    """--json naming a file the run saves (the same name, or -o and --json alike) replaced the
    download with the report, and the run said "saved" with exit 0. The file stays; the report is
    not written, in one line, exit 2."""
    with ServerThread(ServeConfig(files=1, size=(2000, 2000))) as base:
        url = f"{base}/files/file-00000.bin"
        same = _run(url, "--json", "file-00000.bin", cwd=tmp_path)
        both = _run(url, "-o", "r.json", "--json", "r.json", cwd=tmp_path)
        (tmp_path / "l").mkdir()
        (tmp_path / "l" / "link.json").symlink_to("file-00000.bin")  # (followed: its target is written)
        linked = _run(url, "-d", "l", "--json", "l/link.json", cwd=tmp_path)
        files = json.loads(subprocess.run(
            [*FETCH, url, "-d", "x", "--json", "-"], capture_output=True, text=True, cwd=tmp_path, timeout=60
        ).stdout)["items"]  # fmt: skip
    size = files[0]["bytes"]
    for proc, name, saved in ((same, "file-00000.bin", "file-00000.bin"), (both, "r.json", "r.json"),
                              (linked, "l/link.json", "l/file-00000.bin")):  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert f"--json {name} is a file this run downloaded" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert (tmp_path / saved).stat().st_size == size == 2000


def test_the_saved_paths_come_from_the_log_as_from_a_list() -> None:
    """Report.saved() (what the --json guard compares) names the files that ended complete — a
    renamed one by its new name — whether the Report holds the run's compact log or a list."""
    from aiotulip.download.models import Job, Report, Result
    from aiotulip.download.results import Items, ResultLog

    jobs = [Job(f"http://127.0.0.1:9/{n}", f"f{n}") for n in range(5)]
    results = [
        Result(jobs[0].url, "d/f0", "ok", 1, "00" * 32, 1),
        Result(jobs[1].url, "d/f1", "failed", error="HTTP 500"),
        Result(jobs[2].url, "d/f2.1", "ok", 1, "00" * 32, 1, reason="saved beside a stranger's file"),
        Result(jobs[3].url, "d/f3", "skipped"),
    ]
    log = ResultLog(jobs, lambda job: "d/" + job.name, renames=True)
    for index, result in enumerate(results):
        log[index] = result  # (the fifth never begun)
    assert list(Report(Items(log)).saved()) == ["d/f0", "d/f2.1", "d/f3"]
    assert list(Report(results).saved()) == ["d/f0", "d/f2.1", "d/f3"]


def test_the_log_answers_the_summary_as_the_items_do() -> None:
    """The failures shown, the bytes interrupted items keep, and the items that ended come from
    the log's arrays (a million-item run's Ctrl-C took 3.8 s making every Result for them, 6 s
    over --workers); they say what the Results themselves say."""
    from aiotulip.download.models import Report, Result
    from aiotulip.download.results import Items, ResultLog
    from aiotulip.download.sources import UrlList

    plain = UrlList.parse("".join(f"http://127.0.0.1:9/f{n}\n" for n in range(30)).encode(), "list")
    assert plain is not None
    jobs = list(plain)
    ends: dict[int, Result] = {}
    for n in range(0, 24, 2):  # every other one ends, the last six never begin
        status = ("ok", "failed", "not_found", "interrupted")[n // 2 % 4]
        ends[n] = Result(
            jobs[n].url, "d/" + jobs[n].name, status, n * 10, error=None if status == "ok" else "x"
        )
    for source in (plain, jobs):
        log = ResultLog(source, lambda job: "d/" + job.name)
        for n, result in ends.items():
            log[n] = result
        listed = list(Items(log))
        for limit in (0, 2, 10):
            shown, total = Report(Items(log)).failures(limit)
            assert (shown, total) == Report(listed).failures(limit)
        assert (
            Report(Items(log)).held()
            == Report(listed).held()
            == sum(r.bytes for r in ends.values() if r.status == "interrupted")
            > 0
        )
        assert list(log.ended()) == sorted(ends)
