"""tulip serve from the command line: start, announce, answer, stop on a signal; bad options."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
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
        ["--host", "no.such.host.invalid"],
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
