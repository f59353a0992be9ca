"""Bad input to every command: one clear line, the right exit status, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.terminal import tulip_cmd

CASES = {
    "no command": ([], 2),
    "unknown command": (["frobnicate"], 2),
    "spin nothing": (["spin"], 2),
    "spin missing program": (["spin", "--", "/no/such/program"], 127),
    "spin directory": (["spin", "--", "/"], 126),
    "serve bad port": (["serve", "--port", "-1"], 2),
    "serve bad rate": (["serve", "--drop-rate", "nan"], 2),
    "serve bad size": (["serve", "--size", "1k-"], 2),
    "serve bad bandwidth": (["serve", "--bandwidth", "fast"], 2),
    "serve root is a file": (["serve", "--root", "/etc/hostname"], 2),
    "proxy bad port": (["proxy", "--port", "70000"], 2),
    "proxy missing config": (["proxy", "--config", "/no/such/toxiproxy.json"], 2),
    "proxy config not json": (["proxy", "--config", "/etc/hostname"], 2),
    "proxy unresolvable host": (["proxy", "--host", "a..b", "--port", "0"], 2),  # (no DNS query: see below)
    "serve upstream host with an empty label": (["serve", "--port", "0", "--upstream", "http://a..b:80/"], 2),
    "fetch malformed url": (["fetch", "http://[::1"], 2),
    "fetch scheme": (["fetch", "mailto:someone@example.com"], 2),
    "fetch huge concurrency": (["fetch", "-c", "999999999999", "http://127.0.0.1:1/x"], 2),
    "fetch negative timeout": (["fetch", "--timeout", "-3", "http://127.0.0.1:1/x"], 2),
    "fetch bad engine": (["fetch", "--engine", "gpu", "http://127.0.0.1:1/x"], 2),
    "fetch bad manifest url": (["fetch", "--manifest", "not a url"], 2),
    "fetch proxy is a count": (["fetch", "-x", "4", "http://127.0.0.1:1/x"], 2),  # (aria2c's -x)
    "fetch -c URL": (["fetch", "-c", "http://127.0.0.1:1/x"], 2),  # (wget's -c: "is --concurrency here")
    "fetch -N -nc": (["fetch", "-N", "-nc", "http://127.0.0.1:1/x"], 2),  # (-N wrote over what -nc kept)
    "fetch -C offset": (["fetch", "-C", "100", "http://127.0.0.1:1/x"], 2),  # (only curl's -C -)
    "bench bad scale": (["bench", "--scale", "0"], 2),
    "bench bad workload": (["bench", "--workload", "everything"], 2),
    "bench bad concurrency": (["bench", "--concurrency", "1,x"], 2),
    "bench bad engines": (["bench", "--engines", "fibers", "--workload", "latency"], 2),
}


@pytest.mark.parametrize(("args", "status"), CASES.values(), ids=CASES.keys())
def test_bad_input(tmp_path: Path, args: list[str], status: int) -> None:
    proc = subprocess.run(tulip_cmd(*args), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tulip")


def test_binary_junk_and_enormous_lines_on_stdin(tmp_path: Path) -> None:
    for junk in (bytes(range(256)) * 100, b"http://127.0.0.1:1/" + b"x" * 1_000_000 + b"\n", b"\xff" * 10):
        proc = subprocess.run(tulip_cmd("fetch", "-i", "-", "-d", str(tmp_path)), input=junk,
                              capture_output=True, timeout=60)  # fmt: skip
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert b"Traceback" not in proc.stderr


REFUSED_WITH_A_SECRET = {
    "a password with ? in it": ["fetch", "http://alice:s3c?ret@127.0.0.1:1/x"],
    "a password with / in it": ["fetch", "http://alice:s3c/ret@127.0.0.1:99999/x"],
    "a mistyped option's value": ["fetch", "--passwd=s3cret", "http://127.0.0.1:1/x"],
    "a stray URL with a password": ["fetch", "http://127.0.0.1:1/x", "--bogus", "ftp://a:s3cret@h/"],
    "spin too": ["spin", "--token=s3cret", "--", "true"],
    # netrc's parser names the token it stopped at: a password with a space in it, or first
    "a netrc file it cannot parse": ["fetch", "--netrc-file", "netrc", "http://127.0.0.1:1/x"],
    "a netrc file that begins with it": ["fetch", "--netrc-file", "first", "http://127.0.0.1:1/x"],
    "a netrc file that is not UTF-8": ["fetch", "--netrc-file", "latin", "http://127.0.0.1:1/x"],
}


@pytest.mark.parametrize("args", REFUSED_WITH_A_SECRET.values(), ids=REFUSED_WITH_A_SECRET.keys())
def test_a_refused_command_line_does_not_echo_a_secret(tmp_path: Path, args: list[str]) -> None:
    """The error says what was wrong without the password in it, not even its first letters (the
    URL parser's own reason quoted ``'s3c'`` as the port)."""
    (tmp_path / "netrc").write_text("machine 127.0.0.1\n  login alice\n  password ret horse s3c\n")
    (tmp_path / "first").write_text("s3cret machine 127.0.0.1 login alice\n")
    (tmp_path / "latin").write_bytes(b"machine 127.0.0.1 login alice password s3cr\xe9t\n")
    proc = subprocess.run(tulip_cmd(*args), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "s3c" not in proc.stderr and "horse" not in proc.stderr, proc.stderr


def test_urls_after_options_are_urls(tmp_path: Path) -> None:
    """``tulip fetch URL -c 4 URL2`` fetches both, as curl reads its command line."""
    first, second = "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"
    args = tulip_cmd("fetch", first, "--retries", "0", second, "-d", str(tmp_path))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert first in proc.stdout + proc.stderr and second in proc.stdout + proc.stderr


def test_wget_and_curl_ways_of_asking_to_resume_are_accepted(tmp_path: Path) -> None:
    """--continue (wget, aria2c) and -C - (curl) change nothing: tulip resumes by itself; -c URL
    says what -c is here."""
    for args in (["--continue"], ["-C", "-"]):
        proc = subprocess.run(tulip_cmd("fetch", *args, "http://127.0.0.1:1/x", "--retries", "0", "-q"),
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 1, proc.stderr  # (ran, and failed to connect: not a usage error)
    proc = subprocess.run(tulip_cmd("fetch", "-c", "http://127.0.0.1:1/x"), capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # fmt: skip
    assert "-c is --concurrency here" in proc.stderr
    # curl's -s (silent) before a URL: what -s is here, and the name that is silent
    proc = subprocess.run(tulip_cmd("fetch", "-s", "http://127.0.0.1:1/x"), capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "-s is --split here, as aria2c's (-q or --silent" in proc.stderr
    proc = subprocess.run(tulip_cmd("fetch", "--silent", "http://127.0.0.1:1/x", "--retries", "0"),
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1 and "\r" not in proc.stderr  # (ran quietly, and failed to connect)


@pytest.mark.parametrize("option", ["--json", "--events", "-o"])
def test_an_output_is_never_the_list_the_run_reads(tmp_path: Path, option: str) -> None:
    """``--json urls.txt`` beside ``-i urls.txt`` replaced the user's list with the report (found by
    the attack pass); by another spelling of its path too. Refused before anything starts."""
    listed = tmp_path / "urls.txt"
    listed.write_text("http://127.0.0.1:1/x\n")
    for given in ("urls.txt", "./sub/../urls.txt", str(listed)):
        (tmp_path / "sub").mkdir(exist_ok=True)
        dest = [] if option == "-o" else ["-d", "out"]  # (-o is under -d: see below)
        argv = tulip_cmd("fetch", "-i", "urls.txt", option, given, *dest, "--retries", "0")
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [
            f"tulip fetch: error: {option} {given} is a file this run reads (urls.txt): name another file"
        ]
        assert listed.read_text() == "http://127.0.0.1:1/x\n" and not (tmp_path / "out").exists()
    if option == "-o":  # -o is under -d: ../urls.txt from sub is the list; urls.txt there is not
        (tmp_path / "sub").mkdir(exist_ok=True)
        over = ["fetch", "-i", "urls.txt", "-d", "sub", "-o", "../urls.txt", "--retries", "0"]
        proc = subprocess.run(tulip_cmd(*over), capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 2 and "is a file this run reads" in proc.stderr, proc.stderr
        beside = ["fetch", "-i", "urls.txt", "-d", "sub", "-o", "urls.txt", "--retries", "0"]
        proc = subprocess.run(tulip_cmd(*beside), capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 1 and "connection refused" in proc.stdout + proc.stderr, proc.stderr
        assert listed.read_text() == "http://127.0.0.1:1/x\n"


def test_save_failed_is_never_a_file_the_run_reads_but_its_own_list(tmp_path: Path) -> None:
    """--save-failed over the -i list is the way to retry what failed; over the cookies, the netrc
    or a Metalink it replaced them with a list of URLs (found by the fourth pass)."""
    (tmp_path / "urls.txt").write_text("http://127.0.0.1:1/x\n")
    (tmp_path / "cookies.txt").write_text("# Netscape HTTP Cookie File\n")
    base = ["fetch", "http://127.0.0.1:1/x", "-d", "out", "--retries", "0"]
    proc = subprocess.run(tulip_cmd(*base, "-b", "cookies.txt", "--save-failed", "cookies.txt"),
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "is a file this run reads (cookies.txt)" in proc.stderr, proc.stderr
    assert (tmp_path / "cookies.txt").read_text() == "# Netscape HTTP Cookie File\n"
    own = ["fetch", "-i", "urls.txt", "-d", "out", "--retries", "0", "--save-failed", "urls.txt"]
    proc = subprocess.run(tulip_cmd(*own), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1 and (tmp_path / "urls.txt").read_text() == "http://127.0.0.1:1/x\n"


def test_one_line_of_a_list_saved_with_o(tmp_path: Path) -> None:
    """``-i FILE -o NAME`` with one URL in FILE ended in a traceback (TypeError: the lazy list's Job
    taken for a URL), found by the second attack pass."""
    (tmp_path / "urls.txt").write_text("http://127.0.0.1:1/x\n")
    argv = tulip_cmd("fetch", "-i", "urls.txt", "-o", "new.txt", "--retries", "0")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "failed: http://127.0.0.1:1/x — connection refused" in proc.stdout + proc.stderr


def test_a_working_folder_deleted_under_the_shell_is_one_line(tmp_path: Path) -> None:
    """A shell left in a folder somebody removed: `-o NAME` ended in a traceback (abspath needs the
    working folder); an absolute -d still works, as curl's absolute -o does."""
    gone = tmp_path / "gone"
    gone.mkdir()
    argv = tulip_cmd("fetch", "http://127.0.0.1:1/x", "--retries", "0", "-o", "y")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=gone,
                          preexec_fn=lambda: os.rmdir(os.getcwd()))  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == ["tulip fetch: error: cannot write to .: No such file or directory"]
    gone.mkdir()
    absolute = tulip_cmd("fetch", "http://127.0.0.1:1/x", "--retries", "0", "-d", str(tmp_path / "out"))
    proc = subprocess.run(absolute, capture_output=True, text=True, timeout=60, cwd=gone,
                          preexec_fn=lambda: os.rmdir(os.getcwd()))  # fmt: skip
    assert proc.returncode == 1 and "connection refused" in proc.stdout + proc.stderr, proc.stderr
