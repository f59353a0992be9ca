"""tulip serve from the command line: start, announce, answer, stop on a signal; bad options."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aiotulip.serve import ServeConfig, ServerProcess
from tests.terminal import tulip_cmd


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serves_until_signalled(signum: int) -> None:
    with subprocess.Popen(
        tulip_cmd("serve", "--port", "0", "--files", "3", "--size", "10k", "--seed", "5"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert match, line
        base = match.group(1)
        with urllib.request.urlopen(f"{base}/manifest.json", timeout=10) as resp:
            files = json.load(resp)["files"]
        assert [f["size"] for f in files] == [10240] * 3
        with urllib.request.urlopen(base + files[0]["url"], timeout=10) as resp:
            assert hashlib.sha256(resp.read()).hexdigest() == files[0]["sha256"]
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "70000"],
        ["--port", "abc"],
        ["--error-rate", "1.5"],
        ["--error-codes", "200"],
        ["--size", "lots"],
        ["--size", "9k-1k"],
        ["--bandwidth", "0"],
        ["--delay", "-1"],
        ["--root", "/no/such/dir"],
        ["--error-rate", "0.6", "--drop-rate", "0.6"],
        ["--root", ".", "--files", "3"],
        ["--host", "a..b"],  # (an empty label: refused with no DNS query, which *.invalid would send)
        ["--frobnicate"],
    ],
)
def test_bad_options_give_one_line_and_exit_2(args: list[str]) -> None:
    proc = subprocess.run(
        tulip_cmd("serve", "--port", "0", *args), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("tulip serve: error:")


def test_server_process_runs_in_its_own_process(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"x" * 100)
    server = ServerProcess(ServeConfig(root=tmp_path))
    with server as base:
        assert server.pid is not None
        with urllib.request.urlopen(f"{base}/files/x.bin", timeout=10) as resp:
            assert resp.read() == b"x" * 100
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/files/x.bin", timeout=2)


def test_a_server_process_ends_with_its_parent_even_a_killed_one(tmp_path: Path) -> None:
    """SIGKILL gives the parent no chance to stop its server: the child sees the end of the pipe the
    parent held, shuts down and removes its self-signed TLS folder (a pytest run killed by a CI
    timeout leaves no server behind)."""
    parent_code = (
        "import sys, time\n"
        "from aiotulip.serve import ServeConfig, ServerProcess\n"
        "server = ServerProcess(ServeConfig(files=1, self_signed=True))\n"
        "server.start()\n"
        "print(server.pid, server.ca_file, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid_text, ca_file = parent.stdout.readline().split()
        pid = int(pid_text)
        assert Path(ca_file).exists()
    finally:
        parent.kill()
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    alive = _running(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the server outlived its killed parent"
    assert not Path(ca_file).parent.exists()  # its TLS folder removed on the way out


def _running(pid: int) -> bool:
    """Whether *pid* runs (an exited child of init is a zombie until reaped: not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _mapping(path: Path, stub: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stub))


@pytest.mark.parametrize("case", ["link out", "same id twice", "no __files"])
def test_a_mappings_folder_that_cannot_be_served_as_it_is_is_refused(tmp_path: Path, case: str) -> None:
    """A mapping file linked from outside was read; two mappings with one id became one stub
    without a word; a body file without __files said to start with --mappings, as it was."""
    root = tmp_path / "wm"
    uid = "6f0c5d6e-5b56-4c39-9a7a-6f0c3d7e1a11"
    if case == "link out":
        _mapping(tmp_path / "elsewhere.json", {"request": {"url": "/a"}, "response": {"status": 200}})
        (root / "mappings").mkdir(parents=True)
        (root / "mappings" / "p.json").symlink_to(tmp_path / "elsewhere.json")
        words = "a link that leads outside"
    elif case == "same id twice":
        for name in ("a.json", "b.json"):
            _mapping(root / "mappings" / name, {"id": uid, "request": {"url": f"/{name}"}, "response": {}})
        words = f"{uid} is the id of a mapping in {root / 'mappings' / 'a.json'} too"
    else:
        stub: dict[str, object] = {"request": {"url": "/f"}, "response": {"bodyFileName": "f.txt"}}
        _mapping(root / "mappings" / "f.json", stub)
        words = f"there is no {root / '__files'} folder"
    proc = subprocess.run(
        tulip_cmd("serve", "--port", "0", "--mappings", str(root)), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, proc.stderr
