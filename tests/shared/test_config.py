"""The config file: [fetch] and [serve] defaults that the command line overrides, and one clear line
(exit 2) for a file that says what tulip cannot take."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.download.conformance.scripted import Scripted, response
from tests.terminal import tulip_cmd


def tulip(home: Path, *args: str, xdg: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home)}
    env.pop("XDG_CONFIG_HOME", None)
    if xdg:
        env["XDG_CONFIG_HOME"] = str(home / "xdg")
    return subprocess.run(tulip_cmd(*args), capture_output=True, text=True, timeout=60, env=env)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_fetch_defaults_from_the_file_and_the_command_line_wins(tmp_path: Path) -> None:
    write(tmp_path / "xdg" / "tulip" / "config.toml", """
[fetch]
engine = "threads"
concurrency = 3
user_agent = "from-config/1"
header = ["X-Config: yes"]
retries = 0
quiet = true
""")  # fmt: skip
    with Scripted({}) as server:
        server.routes["/a"] = lambda r: [response("200 OK", b"a" * 10)]
        first = tulip(tmp_path, "fetch", f"{server.base}/a", "-d", str(tmp_path / "o1"), "--json",
                      str(tmp_path / "1.json"))  # fmt: skip
        second = tulip(tmp_path, "fetch", f"{server.base}/a", "-d", str(tmp_path / "o2"), "--json",
                       str(tmp_path / "2.json"), "--engine", "sequential", "-A", "cli/2",
                       "-H", "X-Cli: 1")  # fmt: skip
        ignored = tulip(tmp_path, "fetch", f"{server.base}/a", "-d", str(tmp_path / "o3"), "--no-config",
                        "--json", str(tmp_path / "3.json"))  # fmt: skip
        seen = [r.headers for r in server.requests]
    assert first.returncode == second.returncode == ignored.returncode == 0, first.stderr + second.stderr
    assert first.stdout == first.stderr == ""  # quiet = true
    assert json.loads((tmp_path / "1.json").read_text())["summary"]["engine"] == "threads"
    assert json.loads((tmp_path / "2.json").read_text())["summary"]["engine"] == "sequential"
    assert seen[0]["user-agent"] == "from-config/1" and seen[0]["x-config"] == "yes"
    assert seen[1]["user-agent"] == "cli/2" and seen[1]["x-config"] == "yes" and seen[1]["x-cli"] == "1"
    assert "x-config" not in seen[2] and ignored.stdout.startswith("saved ")  # --no-config: none of it
    assert json.loads((tmp_path / "3.json").read_text())["summary"]["engine"] == "asyncio"


def test_another_file_and_the_home_default(tmp_path: Path) -> None:
    other = write(tmp_path / "elsewhere.toml", '[fetch]\nengine = "sequential"\n')
    write(tmp_path / ".config" / "tulip" / "config.toml", '[fetch]\nengine = "bogus"\n')
    proc = tulip(tmp_path, "fetch", "http://127.0.0.1:9/x", "-d", str(tmp_path / "o"), "--retries", "0",
                 "--config", str(other), "--json", str(tmp_path / "r.json"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["engine"] == "sequential"
    # Without XDG_CONFIG_HOME: ~/.config/tulip/config.toml, read (and here, refused).
    proc = tulip(tmp_path, "fetch", "http://127.0.0.1:9/x", xdg=False)
    assert proc.returncode == 2 and str(tmp_path / ".config" / "tulip" / "config.toml") in proc.stderr
    assert "[fetch] engine" in proc.stderr and "bogus" in proc.stderr


def test_a_path_in_the_file_may_start_with_a_tilde(tmp_path: Path) -> None:
    write(tmp_path / "xdg" / "tulip" / "config.toml", '[fetch]\ndest = "~/downloads"\nquiet = true\n')
    with Scripted({"/a.bin": lambda r: [response("200 OK", b"a")]}) as server:
        proc = tulip(tmp_path, "fetch", f"{server.base}/a.bin")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "downloads" / "a.bin").read_bytes() == b"a"


def test_serve_reads_its_table(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write(
        tmp_path / "xdg" / "tulip" / "config.toml",
        f"[serve]\nport = {port}\nfiles = 2\n[fetch]\nretries = 1\n",
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    process = subprocess.Popen(tulip_cmd("serve"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"127.0.0.1:{port}" in line
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fetch]\nconcurency = 3\n", "[fetch] concurency: tulip fetch has no option --concurency"),
        ("[fetch]\nconcurrency = 'many'\n", "[fetch] concurrency: 'many' is not a whole number"),
        (
            "[fetch]\nconcurrency = true\n",
            "[fetch] concurrency: must be a number or a string, not true/false",
        ),
        ("[fetch]\nconcurrency = 0\n", "[fetch] concurrency: '0' is not a whole number from 1 to 10000000"),
        ("[fetch]\nquiet = 1\n", "[fetch] quiet: must be true or false, not a number"),
        ("[fetch]\nuser-agent = 5\n", "[fetch] user-agent: must be a string, not a number"),
        ("[fetch]\nheader = {x = 1}\n", "[fetch] header: must be a string or a list of strings, not a table"),
        ("[fetch]\nretries = [1]\n", "[fetch] retries: must be a number or a string, not a list"),
        (
            "[fetch]\nengine = 'rocket'\n",
            "[fetch] engine: 'rocket' is not one of asyncio, threads, sequential",
        ),
        ("[fetch]\nhelp = true\n", "[fetch] help: tulip fetch has no option --help"),
        ("[fetch]\nconfig = 'x'\n", "[fetch] config: tulip fetch has no option --config"),
        ("[fecth]\nretries = 1\n", "unknown table [fecth] (tulip reads [fetch] and [serve])"),
        ("retries = 1\n", "unknown table [retries]"),
        ("fetch = 1\n", "fetch must be a table"),
        ("[fetch\n", "is not valid TOML"),
        ("[fetch]\nretries = 1\nretries = 2\n", "is not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "xdg" / "tulip" / "config.toml", text)
    proc = tulip(tmp_path, "fetch", "http://127.0.0.1:9/x", "-d", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and message in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()


def test_config_options_themselves(tmp_path: Path) -> None:
    proc = tulip(tmp_path, "fetch", "http://127.0.0.1:9/x", "--config", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2 and "--config" in proc.stderr and "no such file" in proc.stderr
    proc = tulip(tmp_path, "fetch", "http://127.0.0.1:9/x", "--config", "x.toml", "--no-config")
    assert proc.returncode == 2 and "contradict" in proc.stderr
    write(tmp_path / "bad.toml", "\xff\xfe")
    (tmp_path / "bad.toml").write_bytes(b"\xff\xfe[fetch]")
    proc = tulip(tmp_path, "fetch", "http://127.0.0.1:9/x", "--config", str(tmp_path / "bad.toml"))
    assert proc.returncode == 2 and "not UTF-8" in proc.stderr
    assert "--no-config" in tulip(tmp_path, "fetch", "--help").stdout
    assert "--no-config" not in tulip(tmp_path, "spin", "--help").stdout
