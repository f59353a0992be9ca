"""tulip fetch for scripts: --events, --on-complete/--on-error, --save-failed and the -i per-line
options dir= and header= — through the real command, against real loopback servers."""

from __future__ import annotations

import itertools
import json
import shlex
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aiotulip.serve import Faults, ServeConfig, ServerThread
from tests.download.conformance.scripted import Scripted, response
from tests.terminal import tulip_cmd

SECRET = "s3cr3t-pw"


def run(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(tulip_cmd("fetch", *args), capture_output=True, text=True, timeout=timeout, cwd=cwd)


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def with_password(base: str) -> str:
    return base.replace("://", f"://user:{SECRET}@")


def hook_script(folder: Path) -> Path:
    """A hook (in a folder with a space in its name) that appends what it was given to log.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    hook = folder / "record hook.py"
    hook.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('TULIP_')}\n"
        f"with open({str(folder / 'log.jsonl')!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'env': env}) + '\\n')\n"
    )
    hook.chmod(0o755)
    return hook


def hook_log(folder: Path) -> list[dict]:
    path = folder / "log.jsonl"
    return lines(path.read_text()) if path.exists() else []


# -- --events -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", [("--engine", "sequential"), ("--engine", "threads"), ("--engine", "asyncio"),
                                 ("--workers", "2")])  # fmt: skip
def test_events_on_stdout_from_every_engine(tmp_path: Path, how: tuple[str, str]) -> None:
    faults = Faults(error_rate=1.0, error_codes=(503,), retry_after=0, paths=("files/file-00001.bin",))
    with ServerThread(ServeConfig(files=3, size=(5000, 5000), faults=faults)) as base:
        proc = run(f"{base}/files/file-00000.bin", f"{with_password(base)}/files/file-00001.bin",
                   f"{base}/files/missing.bin", f"{base}/files/file-00002.bin", "-d", str(tmp_path / "out"),
                   "--retries", "1", "--events", "-", *how)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    events = lines(proc.stdout)  # nothing but JSON lines on stdout: the summary went to stderr
    assert "not found" in proc.stderr and "ok" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert all({"event", "time", "url", "path"} <= set(e) for e in events)
    assert all(abs(e["time"] - time.time()) < 120 for e in events)
    ends = {e["url"].rsplit("/", 1)[1]: e for e in events if e["event"] == "end"}
    assert {name: e["status"] for name, e in ends.items()} == {
        "file-00000.bin": "ok", "file-00001.bin": "failed", "missing.bin": "not_found", "file-00002.bin": "ok"
    }  # fmt: skip
    for end in ends.values():
        assert set(end) >= {"url", "status", "path", "bytes", "sha256", "error", "attempts"}
    assert ends["file-00000.bin"]["bytes"] == 5000 and len(ends["file-00000.bin"]["sha256"]) == 64
    assert ends["file-00001.bin"]["attempts"] == 2 and "503" in ends["file-00001.bin"]["error"]
    assert ends["file-00001.bin"]["url"].startswith("http://***@")
    # Each item starts once, before anything else of it; the retry comes between.
    for name in ends:
        mine = [e["event"] for e in events if e["url"].endswith("/" + name)]
        assert mine[0] == "start" and mine[-1] == "end" and mine.count("start") == 1
    assert [e["event"] for e in events if e["url"].endswith("file-00001.bin")] == ["start", "retry", "end"]
    assert ends["file-00000.bin"]["path"] == str(tmp_path / "out" / "file-00000.bin")


def test_progress_lines_are_rate_limited_and_the_file_appears_whole(tmp_path: Path) -> None:
    """A file at 400 kB/s for about 2.5 s, reported in 64 KiB steps (-c 512 makes the buffers that
    small): progress lines at least 0.5 s apart; --events FILE is written beside its name and renamed
    over it at the end (a reader never sees half of it)."""
    events = tmp_path / "events.jsonl"
    events.write_text("old\n")
    with ServerThread(
        ServeConfig(files=1, size=(1_000_000, 1_000_000), faults=Faults(bandwidth=400_000))
    ) as base:
        proc = run(f"{base}/files/file-00000.bin", "-d", str(tmp_path / "out"), "--events", str(events),
                   "-c", "512")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = lines(events.read_text())
    progress = [e for e in found if e["event"] == "progress"]
    assert 2 <= len(progress) <= 7
    assert all(later["time"] - earlier["time"] >= 0.45 for earlier, later in itertools.pairwise(progress))
    assert [e["bytes"] for e in progress] == sorted(e["bytes"] for e in progress)
    assert all(e["size"] == 1_000_000 for e in progress)
    assert found[-1]["event"] == "end" and found[-1]["bytes"] == 1_000_000
    assert not [p for p in tmp_path.iterdir() if ".tulip-" in p.name]


def test_events_and_json_cannot_both_take_stdout(tmp_path: Path) -> None:
    proc = run("http://127.0.0.1:9/x", "--events", "-", "--json", "-", "-d", str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "standard output" in proc.stderr
    proc = run("http://127.0.0.1:9/x", "--save-failed", "/dev/stdout", "--json", "-", "-d", str(tmp_path))
    assert proc.returncode == 2 and "--json and --save-failed both name standard output" in proc.stderr
    proc = run("http://127.0.0.1:9/x", "--events", str(tmp_path / "no" / "such" / "dir" / "e.jsonl"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_a_reader_that_goes_away_costs_only_the_events(tmp_path: Path) -> None:
    """--events - into a pipe closed early: the downloads go on, one line says so, exit 2."""
    with ServerThread(ServeConfig(files=30, size=(2000, 2000))) as base:
        urls = [f"{base}/files/file-{i:05d}.bin" for i in range(30)]
        argv = tulip_cmd("fetch", *urls, "-d", str(tmp_path / "out"), "--events", "-", "-c", "2")
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None
        process.stdout.close()  # the reader is gone before the first line
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert len(list((tmp_path / "out").iterdir())) == 30
    assert err.decode().count("cannot write --events") == 1 and b"Traceback" not in err
    assert b"BrokenPipeError" not in err


# -- hooks ----------------------------------------------------------------------------------------------


def test_hooks_get_the_path_or_url_and_the_environment_without_a_shell(tmp_path: Path) -> None:
    hooks = tmp_path / "my hooks"
    hook = hook_script(hooks)
    out = tmp_path / "out"
    with ServerThread(ServeConfig(files=2, size=(3000, 3000))) as base:
        hostile = f"{base}/files/$(touch${{IFS}}{tmp_path}/pwned);x.bin"
        quoted = shlex.quote(str(hook))
        proc = run(f"{base}/files/file-00000.bin", f"{with_password(base)}/files/file-00001.bin",
                   f"{with_password(base)}/files/gone.bin", hostile, "-d", str(out),
                   "--on-complete", f"'{hook}' done", "--on-download-error", f"{quoted} failed")  # fmt: skip
        again = run(
            f"{base}/files/file-00000.bin", "-d", str(out), "--on-download-complete", shlex.quote(str(hook))
        )
    assert proc.returncode == 1 and again.returncode == 0, proc.stderr + again.stderr
    assert not (tmp_path / "pwned").exists()
    calls = hook_log(hooks)
    assert SECRET not in json.dumps(calls)
    by_name = {call["env"]["TULIP_URL"].rsplit("/", 1)[1]: call for call in calls}
    assert len(calls) == 5 and len(by_name) == 4  # file-00000.bin twice: ok, then skipped
    first = by_name["file-00001.bin"]
    assert first["argv"] == ["done", str(out / "file-00001.bin")]
    assert first["env"]["TULIP_STATUS"] == "ok" and first["env"]["TULIP_BYTES"] == "3000"
    assert len(first["env"]["TULIP_SHA256"]) == 64 and first["env"]["TULIP_ERROR"] == ""
    assert first["env"]["TULIP_URL"] == f"{base.replace('://', '://***@')}/files/file-00001.bin"
    assert first["env"]["TULIP_PATH"] == str(out / "file-00001.bin")
    gone = by_name["gone.bin"]
    assert gone["argv"] == ["failed", gone["env"]["TULIP_URL"]]  # no file: the URL, redacted
    assert gone["env"]["TULIP_STATUS"] == "not_found" and "404" in gone["env"]["TULIP_ERROR"]
    assert by_name[hostile.rsplit("/", 1)[1]]["argv"][0] == "failed"
    statuses = [c["env"]["TULIP_STATUS"] for c in calls if c["env"]["TULIP_URL"].endswith("file-00000.bin")]
    assert sorted(statuses) == ["ok", "skipped"]


def test_a_hook_that_fails_or_hangs_changes_nothing_but_a_line(tmp_path: Path) -> None:
    slow = tmp_path / "slow.sh"
    slow.write_text(f"#!/bin/sh\nsleep 600 &\necho $! > {tmp_path}/child\nwait\n")
    slow.chmod(0o755)
    with ServerThread(ServeConfig(files=3, size=(1000, 1000))) as base:
        urls = [f"{base}/files/file-{i:05d}.bin" for i in range(3)]
        started = time.monotonic()
        proc = run(*urls, "-d", str(tmp_path / "a"), "--on-complete", "sh -c 'exit 3'")
        hung = run(*urls[:1], "-d", str(tmp_path / "b"), "--on-complete", str(slow), "--hook-timeout", "1")
        took = time.monotonic() - started
    assert proc.returncode == 0 and hung.returncode == 0, proc.stderr + hung.stderr
    assert proc.stderr.count("exited with status 3") == 3
    assert "killed after 1 s" in hung.stderr and took < 30
    child = int((tmp_path / "child").read_text())
    time.sleep(0.2)
    assert not _alive(child)  # the hook's own children went with it (its process group)
    assert "Traceback" not in proc.stderr + hung.stderr


def test_ctrl_c_while_hooks_run_ends_the_run_in_order(tmp_path: Path) -> None:
    """The downloads are done, the hooks sleep: Ctrl-C kills them and the run still writes its report
    and summary, exit 130."""
    with ServerThread(ServeConfig(files=2)) as base:
        argv = tulip_cmd("fetch", f"{base}/files/file-00000.bin", f"{base}/files/file-00001.bin", "-d",
                         str(tmp_path / "out"), "--on-complete", "sh -c 'echo $$ >> \"$0.pid\"; sleep 60'",
                         "--json", str(tmp_path / "r.json"))  # fmt: skip
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pids = [tmp_path / "out" / f"file-0000{i}.bin.pid" for i in range(2)]
        deadline = time.monotonic() + 30
        while not all(p.exists() for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGINT, err
    assert "2 hooks not run or cut short: interrupted" in err and "ok" in out
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["ok"] == 2
    time.sleep(0.2)
    assert not any(_alive(int(p.read_text())) for p in pids)


def test_public_error_hides_passwords_of_every_url_in_a_text() -> None:
    from aiotulip.download.scripts import public_error

    text = "redirected from http://a:pw1@h/x to 'ftp://u:pw/2@h:21/y', mail me@example.com"
    assert public_error(text) == "redirected from http://***@h/x to 'ftp://***@h:21/y', mail me@example.com"
    assert public_error(None) is None


def _alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie no init has reaped yet does not)."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except FileNotFoundError:
        return False


def test_a_hook_that_cannot_run_is_refused_before_anything_starts(tmp_path: Path) -> None:
    for command in ("/no/such/hook", "no-such-program-anywhere", "'unbalanced"):
        proc = run("http://127.0.0.1:9/x", "-d", str(tmp_path), "--on-complete", command)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "--on-complete" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_hook_output_stays_off_a_machine_stdout(tmp_path: Path) -> None:
    with ServerThread(ServeConfig(files=1)) as base:
        proc = run(f"{base}/files/file-00000.bin", "-d", str(tmp_path / "o"), "--events", "-",
                   "--on-complete", "echo NOISE")  # fmt: skip
    assert proc.returncode == 0
    assert "NOISE" in proc.stderr and "NOISE" not in proc.stdout
    assert [e["event"] for e in lines(proc.stdout)] == ["start", "end"]


# -- --save-failed -------------------------------------------------------------------------------------


def _put_faults(base: str, faults: dict) -> None:
    request = urllib.request.Request(f"{base}/_tulip/faults", json.dumps(faults).encode(), method="PUT")
    urllib.request.urlopen(request, timeout=10).close()


def test_save_failed_runs_the_failures_again(tmp_path: Path) -> None:
    listing = tmp_path / "in.txt"
    saved = tmp_path / "failed.txt"
    out = tmp_path / "out"
    with ServerThread(ServeConfig(files=4, size=(4000, 4000))) as base:
        sums = {
            f["name"]: f["sha256"]
            for f in json.load(urllib.request.urlopen(f"{base}/manifest.json"))["files"]
        }
        listing.write_text(
            f"{base}/files/file-00000.bin\n"
            f"{with_password(base)}/files/file-00001.bin\t{base}/files/file-00001.bin\n"
            f"  out=renamed.bin\n  checksum=sha-256={sums['file-00001.bin']}\n  size=4000\n"
            "  header=X-Item: one\n"
            f"{base}/files/file-00002.bin\n  dir=sub/../deeper\n"
            f"{base}/files/file-00003.bin\n"
        )
        _put_faults(base, {"error_rate": 1.0, "error_codes": [503], "retry_after": 0,
                           "paths": ["files/file-00001.bin", "files/file-00002.bin"]})  # fmt: skip
        first = run("-i", str(listing), "-d", str(out), "--retries", "0", "--save-failed", str(saved),
                    "-u", "cli-user:cli-pass", "-H", "X-Run: secret-token")  # fmt: skip
        assert first.returncode == 1, first.stderr
        text = saved.read_text()
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert text == (
            f"{with_password(base)}/files/file-00001.bin\t{base}/files/file-00001.bin\n"
            f"  out=renamed.bin\n  checksum=sha-256={sums['file-00001.bin']}\n  size=4000\n"
            "  header=X-Item: one\n"
            f"{base}/files/file-00002.bin\n  out=sub/_/deeper/file-00002.bin\n"
        )
        assert "cli-pass" not in text and "secret-token" not in text
        _put_faults(base, {"error_rate": 0.0})
        second = run("-i", str(saved), "-d", str(out), "--save-failed", str(saved))
    assert second.returncode == 0, second.stderr
    assert saved.read_text() == ""  # nothing failed: an empty list, not the old one
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "file-00000.bin", "file-00003.bin", "renamed.bin", "sub/_/deeper/file-00002.bin"
    ]  # fmt: skip


def test_interrupted_items_end_and_are_saved(tmp_path: Path) -> None:
    """Ctrl-C while one file crawls: it ends "interrupted" (event and --on-error), the ones never
    begun get neither, and all of them are in the saved list."""
    hooks = tmp_path / "hooks"
    hook = hook_script(hooks)
    saved = tmp_path / "failed.txt"
    events = tmp_path / "events.jsonl"
    with ServerThread(
        ServeConfig(files=3, size=(2_000_000, 2_000_000), faults=Faults(bandwidth=200_000))
    ) as base:
        urls = [f"{base}/files/file-{i:05d}.bin" for i in range(3)]
        process = subprocess.Popen(
            tulip_cmd("fetch", *urls, "-d", str(tmp_path / "out"), "-c", "1", "--events", str(events),
                      "--save-failed", str(saved), "--on-error", shlex.quote(str(hook))),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(2.0)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGINT, err
    found = lines(events.read_text())
    assert [e["event"] for e in found if e["event"] != "progress"] == ["start", "end"]
    assert found[-1]["status"] == "interrupted" and found[-1]["error_kind"] == "interrupted"
    calls = hook_log(hooks)
    assert [c["env"]["TULIP_STATUS"] for c in calls] == ["interrupted"]
    assert saved.read_text().splitlines() == urls


# -- -i per-line options -------------------------------------------------------------------------------


def test_header_lines_reach_their_item_only_and_not_another_origin(tmp_path: Path) -> None:
    with Scripted({}) as other, Scripted({}) as home:
        body = b"x" * 100
        home.routes["/a"] = lambda r: [response("200 OK", body)]
        home.routes["/b"] = lambda r: [response("200 OK", body)]
        home.routes["/away"] = lambda r: [response("302 Found", b"", f"Location: {other.base}/c")]
        other.routes["/c"] = lambda r: [response("200 OK", body)]
        listing = tmp_path / "in.txt"
        listing.write_text(
            f"{home.base}/a\n  header=X-Item: a-only\n  header=Authorization: Bearer item-token\n"
            "  header=User-Agent: item-agent/1\n"
            f"{home.base}/b\n"
            f"{home.base}/away\n  header=X-Item: moved\n  header=Authorization: Bearer item-token\n"
        )
        proc = run("-i", str(listing), "-d", str(tmp_path / "out"), "--events", "-", "-A", "run-agent/2")
        seen = {r.path: r.headers for r in home.requests + other.requests}
    assert proc.returncode == 0, proc.stderr
    assert seen["/a"]["x-item"] == "a-only" and seen["/a"]["authorization"] == "Bearer item-token"
    assert seen["/a"]["user-agent"] == "item-agent/1" and seen["/b"]["user-agent"] == "run-agent/2"
    assert "x-item" not in seen["/b"] and "authorization" not in seen["/b"]
    assert seen["/away"]["authorization"] == "Bearer item-token"
    assert "x-item" not in seen["/c"] and "authorization" not in seen["/c"]  # another origin
    assert "item-token" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("  header=X-Bad: S3CRET\x01b", "control character"),
        ("  header=NoColonS3CRET", "no colon"),
        ("  header=Auth S3CRET: x", "not a header name"),
        ("  header=Host: evil", "sets this header itself"),
        ("  split=4", "--split"),
        ("  dir=/", "dir="),
        ("  trusted=maybe", "trusted="),
    ],
)
def test_bad_per_line_options_are_one_line(tmp_path: Path, line: str, message: str) -> None:
    listing = tmp_path / "in.txt"
    listing.write_text(f"http://127.0.0.1:9/a\n{line}\n")
    proc = run("-i", str(listing), "-d", str(tmp_path / "out"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr and "line 2" in proc.stderr
    assert "S3CRET" not in proc.stderr  # a header's value (or all of it, its colon missing) is a token


def test_events_and_the_failures_list_are_never_written_over_a_download(tmp_path: Path) -> None:
    """--events or --save-failed naming a file the run saves (by its name, another spelling, or a
    link to it) replaced the download as the run ended, reported ok with exit 0. Refused before
    anything starts, in one line: the file a previous run saved stays as it was."""
    with ServerThread(ServeConfig(files=2, size=(3000, 3000), seed=2)) as base:
        urls = [f"{base}/files/file-00000.bin", f"{base}/files/file-00001.bin"]
        (tmp_path / "kept").mkdir()
        (tmp_path / "kept" / "file-00001.bin").write_bytes(b"a previous run's file")
        (tmp_path / "link.jsonl").symlink_to("kept/file-00001.bin")
        for option, path, dest in (
            ("--events", "file-00000.bin", "."),
            ("--save-failed", "./kept/../file-00000.bin", "."),
            ("--events", "link.jsonl", "kept"),
            ("--save-failed", "kept/file-00001.bin", "kept"),
        ):
            done = subprocess.run(tulip_cmd("fetch", *urls, "-d", dest, option, path),
                                  capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
            assert done.returncode == 2, (option, path, done.stderr)
            assert done.stderr.count("\n") == 1 and f"{option} {path} is where this run saves" in done.stderr
            assert not (tmp_path / "file-00000.bin").exists()  # (nothing started)
            assert (tmp_path / "kept" / "file-00001.bin").read_bytes() == b"a previous run's file"
        fine = subprocess.run(tulip_cmd("fetch", *urls, "--events", "events.jsonl"),
                              capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
        assert fine.returncode == 0, fine.stderr
        assert (tmp_path / "file-00000.bin").stat().st_size == 3000
        assert '"event": "end"' in (tmp_path / "events.jsonl").read_text()


@pytest.mark.parametrize("option", ["--events", "--save-failed"])
def test_a_server_named_file_is_never_replaced_by_the_events_or_the_failures(
    tmp_path: Path, option: str
) -> None:
    """With --content-disposition the server names the file, after the check made before the run:
    `Content-Disposition: filename="ev.jsonl"` beside `--events ev.jsonl` left the events (or an
    empty list of failures) where the download was, "saved", exit 0. The download stays; the
    events or the list are not written, in one line, exit 2, as --json is."""
    payload = b"the payload, not events\n" * 100
    headers = 'Content-Disposition: attachment; filename="ev.jsonl"'
    with Scripted({"/cd": lambda r: [response("200 OK", payload, headers)]}) as server:
        command = tulip_cmd("fetch", f"{server.base}/cd", "--content-disposition", option, "ev.jsonl")
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"{option} ev.jsonl is a file this run downloaded" in done.stderr
    assert (tmp_path / "ev.jsonl").read_bytes() == payload
    assert [p.name for p in tmp_path.iterdir()] == ["ev.jsonl"]  # (no temporary left beside it)


def test_a_hook_takes_signals_as_a_program_started_by_hand_does(tmp_path: Path) -> None:
    """Hooks start from a thread that leaves the process's signals to the main thread, and a program
    begins with its parent thread's mask: `timeout` in a hook could not stop what it ran, a trap for
    TERM never ran, and --hook-timeout's SIGTERM did not reach it (it was killed a second later).
    (bash, as a hook often is: dash clears the mask it was given as it starts)"""
    probe = (
        "grep SigBlk /proc/self/status > blocked;"
        " trap 'echo caught > trapped' TERM; kill -TERM $$;"
        " timeout 1 sleep 20; echo $? > timed"
    )
    with ServerThread(ServeConfig(files=1, size=(1000, 1000))) as base:
        started = time.monotonic()
        proc = run(f"{base}/files/file-00000.bin", "-d", str(tmp_path / "out"), "--engine", "threads",
                   "--on-complete", f"bash -c {shlex.quote(probe)}", cwd=tmp_path)  # fmt: skip
        took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "blocked").read_text().split() == ["SigBlk:", "0" * 16]
    assert (tmp_path / "trapped").read_text() == "caught\n"
    assert (tmp_path / "timed").read_text() == "124\n" and took < 15
