"""Secrets typed on the command line are off the process list while a run goes (ps, /proc)."""

from __future__ import annotations

import argparse
import base64
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiotulip.shared.proctitle import hidden, parsed_hidden
from tests.download.conformance.scripted import Pause, Scripted, response


@pytest.mark.parametrize(
    ("words", "shown"),
    [
        (["fetch", "http://h/x"], ["fetch", "http://h/x"]),
        (["fetch", "http://al:s3c@h:1/x?a=b@c"], ["fetch", "http://***@h:1/x?a=b@c"]),
        (["fetch", "ftp://al:p%40ss@h/x"], ["fetch", "ftp://***@h/x"]),
        (["fetch", "-u", "bob:pw", "--user=bob:pw", "-ubob:pw", "--user", "bob"],
         ["fetch", "-u", "***", "--user=***", "-u***", "--user", "bob"]),
        (["fetch", "--user", "@creds.txt", "--proxy-user", "p:q"],
         ["fetch", "--user", "@creds.txt", "--proxy-user", "***"]),
        (["fetch", "-H", "X-Api-Key: k", "--header=Cookie: c", "-HAuthorization: Bearer t", "-H", "X-Empty:"],
         ["fetch", "-H", "X-Api-Key: ***", "--header=Cookie: ***", "-HAuthorization: ***", "-H", "X-Empty:"]),
        (["serve", "--upstream", "https://u:p@up:8/"], ["serve", "--upstream", "https://***@up:8/"]),
        (["fetch", "-x", "socks5h://u:p@127.0.0.1:1", "-A", "agent"],
         ["fetch", "-x", "socks5h://***@127.0.0.1:1", "-A", "agent"]),
        # No scheme (tulip takes http://), a proxy without one, an @ in the user name (ftp logins):
        (["fetch", "al:s3c@h:1/x", "-x", "pu:pw@h:2", "-xpu:pw@h:2", "--proxy=pu:pw@h:2"],
         ["fetch", "***@h:1/x", "-x", "***@h:2", "-x***@h:2", "--proxy=***@h:2"]),
        (["fetch", "http://me@site.com:p@ss@h/x", "ftp://u:a:b@[::1]:21/f"],
         ["fetch", "http://***@h/x", "ftp://***@[::1]:21/f"]),
        (["fetch", "-x", "http://u:S3 PW@h:1", "-x", "my user:PW@h:1", "-x", " u:PW@h", "--proxy=\tu:PW@h"],
         ["fetch", "-x", "http://***@h:1", "-x", "***@h:1", "-x", "***@h", "--proxy=***@h"]),
        (["fetch", "--pass", "ph", "--pass=ph", "--ssh-key", "k", "sftp://u@h/f"],
         ["fetch", "--pass", "***", "--pass=***", "--ssh-key", "k", "sftp://***@h/f"]),
        # The user too, with a password or none: it may be a token (TOKEN:x-oauth-basic, TOKEN:).
        (["fetch", "https://ghp_T0k@h/x@y", "ftp://me@site.com@h:21/f", "http://me@site.com:pw@h/"],
         ["fetch", "https://***@h/x@y", "ftp://***@h:21/f", "http://***@h/"]),
        (["fetch", "http://[::1]:8080/x@y", "-o", "a@b", "http://h:80/p:q@r"],
         ["fetch", "http://[::1]:8080/x@y", "-o", "a@b", "http://h:80/p:q@r"]),
    ],
)  # fmt: skip
def test_what_the_title_hides(words: list[str], shown: list[str]) -> None:
    assert hidden(words) == shown


@pytest.mark.parametrize(
    ("words", "values", "shown"),
    [
        # A password that is also a piece of another word: masked where it stands, nowhere else
        # (http://***.0.0.1 said the password was 127).
        (["fetch", "-qubob:127", "http://127.0.0.1:1/x"], {"user": "bob:127"},
         ["fetch", "-qubob:***", "http://127.0.0.1:1/x"]),
        (["fetch", "-qHX-Key: file", "http://h/file-1.bin"], {"header": ["X-Key: file"]},
         ["fetch", "-qHX-Key: ***", "http://h/file-1.bin"]),
        (["fetch", "--proxy-us=p:q", "-qxp:q@h:1", "http://q/"], {"proxy_user": "p:q", "proxy": "p:q@h:1"},
         ["fetch", "--proxy-us=***", "***@h:1", "http://q/"]),  # (the flags too: a word hidden whole)
        # A URL and a proxy without a scheme, with a token for a user (tulip sends it as http://):
        (["fetch", "TOK5@h:1/x", "-x", "TOK6@h:2", "-o", "a@b"],
         {"urls": ["TOK5@h:1/x"], "proxy": "TOK6@h:2", "output": "a@b"},
         ["fetch", "***@h:1/x", "-x", "***@h:2", "-o", "a@b"]),
        # (a value with blanks after it: the parsed one is stripped)
        (["fetch", "--head", "X-Token: Zq9 ", "-qHX-Key: k\t"], {"header": ["X-Token: Zq9 ", "X-Key: k\t"]},
         ["fetch", "--head", "X-Token: *** ", "-qHX-Key: ***\t"]),
    ],
)  # fmt: skip
def test_what_the_parsed_values_hide(words: list[str], values: dict[str, object], shown: list[str]) -> None:
    assert parsed_hidden(words, argparse.Namespace(**values)) == shown


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_config_files_secrets_leave_the_title_alone(tmp_path: Path) -> None:
    """The config file's password and header were masked wherever their text appeared on the command
    line (``http://***.0.0.1/***s/***-1.bin``): the process list gave them away."""
    config = tmp_path / "tulip.toml"
    config.write_text('[fetch]\nuser = "bob:file"\nheader = ["X-Api-Key: 127"]\n')
    with Scripted({"/files/file-1.bin": lambda r: [Pause(30), response("200 OK", b"late")]}) as server:
        words = ["fetch", "--config", str(config), "-d", str(tmp_path / "out"), "--retries", "0",
                 f"{server.base}/files/file-1.bin"]  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "aiotulip", *words],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while not server.requests and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert server.requests, "the request never came"
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        finally:
            proc.kill()
            proc.wait(10)
    assert server.requests[0].headers.get("x-api-key") == "127"  # (the file was read)
    assert b"***" not in b" ".join(cmdline) and cmdline[-2].decode() == words[-1], cmdline


SECRETS = ("url-pa55", "user-pa55", "api-k3y", "proxy-pa55")
SPELLINGS = [  # argparse takes abbreviations and clusters: the values are hidden however spelt
    ["-u", f"bob:{SECRETS[1]}", "-H", f"X-Api-Key: {SECRETS[2]}", "--proxy-user", f"p:{SECRETS[3]}"],
    [f"-qubob:{SECRETS[1]}", "--head", f"X-Api-Key: {SECRETS[2]}", "--proxy-u", f"p:{SECRETS[3]}"],
    ["-qH", f"X-Api-Key: {SECRETS[2]}", "-ku", f"bob:{SECRETS[1]}", f"--proxy-use=p:{SECRETS[3]}"],
    # (the URL without its scheme, and a proxy without one, which tulip takes as http://)
    ["-u", f"bob:{SECRETS[1]}", "-H", f"X-Api-Key: {SECRETS[2]}", "-x", f"p:{SECRETS[3]}@127.0.0.1:9"],
]


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
@pytest.mark.parametrize("spelling", SPELLINGS, ids=["plain", "abbreviated", "clustered", "no-scheme"])
def test_no_secret_on_the_process_list_while_a_run_goes(tmp_path: Path, spelling: list[str]) -> None:
    with Scripted({"/slow": lambda r: [Pause(30), response("200 OK", b"late")]}) as server:
        authority = server.base.removeprefix("http://")
        scheme = "" if "-x" in spelling else "http://"
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiotulip", "fetch", f"{scheme}al:{SECRETS[0]}@{authority}/slow",
             *spelling, "--no-proxy", "*", "-d", str(tmp_path), "--retries", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while not server.requests and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert server.requests, "the request never came"
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            ps = shutil.which("ps")
            listed = subprocess.run([ps, "-o", "args=", "-p", str(proc.pid)], capture_output=True, text=True,
                                    check=False).stdout if ps else ""  # fmt: skip
        finally:
            proc.kill()
            proc.wait(10)
    assert "***@" in cmdline and "al:" not in cmdline, cmdline
    for secret in SECRETS:
        assert secret not in cmdline and secret not in listed, (secret, cmdline, listed)


def test_user_from_a_file(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.write_text("carol:fr0m-file\nignored\n")
    with Scripted({"/x": lambda r: [response("200 OK", b"x")]}) as server:
        ok = subprocess.run([sys.executable, "-m", "aiotulip", "fetch", f"{server.base}/x", "-d",
                             str(tmp_path / "o"), "--user", f"@{creds}", "--no-netrc"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
        seen = [r.headers.get("authorization") for r in server.requests]
    assert ok.returncode == 0, ok.stderr
    assert seen == ["Basic " + base64.b64encode(b"carol:fr0m-file").decode()]
    missing = subprocess.run([sys.executable, "-m", "aiotulip", "fetch", "http://127.0.0.1:9/x", "-d",
                              str(tmp_path), "--user", f"@{tmp_path}/nope"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
    assert "--user @" in missing.stderr and "No such file" in missing.stderr
