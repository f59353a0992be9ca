"""tulip fetch on the command line: inputs, report file, exit statuses, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from aiotulip.serve import Faults, ServeConfig, ServerThread
from tests.download.conformance.scripted import Scripted, response
from tests.download.helpers import assert_disk_matches, manifest
from tests.terminal import tulip_cmd


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tulip_cmd("fetch", *args), capture_output=True, text=True, input=stdin, timeout=60, cwd=cwd
    )


def test_input_file_manifest_and_json_report(tmp_path: Path) -> None:
    config = ServeConfig(files=6, size=(10, 100_000), faults=Faults(error_rate=0.3, retry_after=0))
    with ServerThread(config) as base:
        files = manifest(base)
        listing = tmp_path / "urls.txt"
        listing.write_text(
            "# from the manifest, with aria2c-style options\n\n"
            + "".join(f"{base}{f['url']}\n  out={f['name']}\n  sha256={f['sha256']}\n" for f in files[:3])
            + "".join(f"{base}{f['url']}\n  checksum=sha-256={f['sha256']}\n" for f in files[3:])
        )
        dest = tmp_path / "out"
        proc = run("-i", str(listing), "-d", str(dest), "--json", str(tmp_path / "r.json"), "-c", "3")
        assert proc.returncode == 0, proc.stderr
        assert_disk_matches(dest, files)
        report = json.loads((tmp_path / "r.json").read_text())
        assert [item["status"] for item in report["items"]] == ["ok"] * 6
        assert set(report["items"][0]) >= {"url", "path", "status", "bytes", "sha256", "attempts", "error"}
        assert report["summary"]["ok"] == 6

        stdin_dest = tmp_path / "stdin"
        proc = run("-i", "-", "-d", str(stdin_dest), "-q", stdin=f"{base}/files/file-00000.bin\n")
        assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
        assert (stdin_dest / "file-00000.bin").read_bytes()

        proc = run("--manifest", f"{base}/manifest.json", "-d", str(tmp_path / "m"), "--engine", "threads")
        assert proc.returncode == 0, proc.stderr
        assert "ok" in proc.stdout and "threads engine" in proc.stdout
        assert_disk_matches(tmp_path / "m", files)

        proc = run(f"{base}/files/file-00000.bin", f"{base}/files/nothing-here", "-d", str(tmp_path / "x"))
        assert proc.returncode == 1
        assert "not_found" in proc.stdout


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_a_wrong_checksum_fails_the_item_not_the_run(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2)) as base:
        listing = tmp_path / "urls.txt"
        listing.write_text(f"{base}/files/file-00000.bin\n  sha256={'0' * 64}\n{base}/files/file-00001.bin\n")
        proc = run(
            "-i",
            str(listing),
            "-d",
            str(tmp_path / "out"),
            "--retries",
            "1",
            "--json",
            str(tmp_path / "r.json"),
            "--engine",
            engine,
        )
    assert proc.returncode == 1
    items = json.loads((tmp_path / "r.json").read_text())["items"]
    assert [(i["status"], i["attempts"]) for i in items] == [("failed", 2), ("ok", 1)]
    assert "sha256 mismatch" in items[0]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["file-00001.bin"]  # no wrong .part kept


BAD_INPUTS = {
    "no sources": [],
    "malformed url": ["http://exa mple.com/x"],
    "no host": ["http:///x"],
    "bad port": ["http://127.0.0.1:99999/x"],
    "gopher scheme": ["gopher://127.0.0.1/x"],
    "file scheme": ["file:///etc/passwd"],
    "missing input file": ["-i", "/no/such/list.txt"],
    "concurrency zero": ["-c", "0", "http://127.0.0.1:1/x"],
    "negative retries": ["--retries", "-1", "http://127.0.0.1:1/x"],
    "zero timeout": ["--timeout", "0", "http://127.0.0.1:1/x"],
    "unknown engine": ["--engine", "fibers", "http://127.0.0.1:1/x"],
    "duplicate names": ["http://127.0.0.1:1/a/x.bin", "http://127.0.0.1:1/b/x.bin"],
    "unreachable manifest": ["--manifest", "http://127.0.0.1:1/manifest.json"],
    "a cookie string to -b": ["-b", "session=S3cr3tPW", "http://127.0.0.1:1/x"],
    "known hosts a folder": ["--known-hosts", "/", "sftp://127.0.0.1:1/x"],
    "ssh key a folder": ["--ssh-key", "/", "sftp://127.0.0.1:1/x"],
    "a URL to -o": ["-o", "http://u:S3cr3tPW@127.0.0.1:1/x", "http://127.0.0.1:1/x"],
    "a half-typed URL to -o": ["-o", " http:/u:S3cr3tPW@h", "http://127.0.0.1:1/x"],
    "a network path to -o": ["-o", "//u:S3cr3tPW@h/x", "http://127.0.0.1:1/x"],
    "a URL to --json": ["--json", "http://u:S3cr3tPW@127.0.0.1:1/x", "http://127.0.0.1:1/x"],
    "a URL to -i": ["-i", "http://u:S3cr3tPW@127.0.0.1:1/x"],
    # A user with no password may be a token (https://TOKEN@host/), a folder's name too (http:/TOKEN@h).
    "a token URL to --json": ["--json", "http://S3cr3tPW@127.0.0.1:1/x", "http://127.0.0.1:1/x"],
    "a token URL to -i": ["-i", "https://S3cr3tPW@127.0.0.1:1/x"],
    "a half-typed token URL to -o": ["-o", "http:/S3cr3tPW@h/x", "http://127.0.0.1:1/x"],
    "a token with an empty password to -o": ["-o", "http:/S3cr3tPW:@h/x", "http://127.0.0.1:1/x"],
    # A mistyped option's value was echoed (argparse says the whole word it cannot take).
    "a mistyped --user": ["--usr", "bob:S3cr3tPW", "http://127.0.0.1:1/x"],
    "an ambiguous --us=": ["--us=bob:S3cr3tPW", "http://127.0.0.1:1/x"],
    "an unknown short option with its value": ["-ZS3cr3tPW", "http://127.0.0.1:1/x"],
    "a URL to --config": ["--config", "http://u:S3cr3tPW@127.0.0.1:1/x", "http://127.0.0.1:1/x"],
    "a control byte in a header value": ["-H", "Authorization: Bearer S3cr3tPW\x7f", "http://127.0.0.1:9/x"],
    "a header without its colon": ["-H", "X-Api-Key S3cr3tPW", "http://127.0.0.1:1/x"],
    "a header's name with a space": ["-H", "Authorization Bearer S3cr3tPW: x", "http://127.0.0.1:1/x"],
    "a control byte in the user agent": ["-A", "agent\x01", "http://127.0.0.1:1/x"],
    "events through a missing folder": ["--events", "./missing/../ev.jsonl", "http://127.0.0.1:1/x"],
    "json through a missing folder": ["--json", "missing/../r.json", "http://127.0.0.1:1/x"],
}


def test_a_url_given_to_d_is_refused_not_made_a_folder(tmp_path: Path) -> None:
    """`tulip fetch -d URL` ("d" for download) made the folders http:/127.0.0.1/... and a run with
    nothing to fetch ended 0; it is refused in one line, the password not in it."""
    proc = run("-d", "http://u:S3cr3tPW@127.0.0.1:1/x", "-i", os.devnull, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "tulip fetch: error: -d names a folder, not a URL (http://***@127.0.0.1:1/x): "
        "give the URL on its own\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    proc = run(*args, "-d", str(tmp_path / "out"))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("tulip fetch: error:")
    assert "S3cr3tPW" not in proc.stderr  # (a cookie's value was echoed)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02binary junk\xff\xfe",
        b"http://127.0.0.1:1/ok\n\xff\xfe not utf-8\n",
        b"  out=first-line-option\n",
        b"http://127.0.0.1:1/x\n  colour=blue\n",
        b"http://127.0.0.1:1/x\n  sha256=nothex\n",
        b"http://127.0.0.1:1/" + b"a" * 70_000 + b"\n",
        b"gopher://127.0.0.1/x\n",
    ],
    ids=["binary", "not-utf8", "option-first", "unknown-option", "bad-sha", "enormous-line", "bad-scheme"],
)
def test_bad_input_files_are_refused_before_any_download(tmp_path: Path, content: bytes) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_bytes(content)
    proc = run("-i", str(listing), "-d", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "extra", [[], ["--engine", "threads"], ["--workers", "2"]], ids=["asyncio", "threads", "workers"]
)
def test_an_auth_scheme_libcurl_lacks_is_refused_before_any_request(tmp_path: Path, extra: list[str]) -> None:
    """pycurl's wheels have no NTLM: --ntlm failed every request with credentials as "invalid URL",
    one by one (in each worker process too). Now one line, exit 2, before anything starts."""
    import pycurl

    proc = run(
        "--ntlm", "-u", "a:b", *extra, "--retries", "0", "http://127.0.0.1:1/x", "-d", str(tmp_path / "out")
    )
    if pycurl.version_info()[4] & pycurl.VERSION_NTLM:  # (a pycurl built on a libcurl with NTLM)
        assert proc.returncode == 1 and "connection refused" in proc.stderr, proc.stderr
        return
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "tulip fetch: error: --ntlm: this libcurl was built without NTLM (pycurl's wheels are); "
        "--anyauth or --digest may do, or a pycurl built on a libcurl with it"
    ]


def test_unwritable_dest_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = run("http://127.0.0.1:1/x", "-d", str(blocker / "sub"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("tulip fetch: error: cannot write to")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert run("http://127.0.0.1:1/x", "-d", str(locked)).returncode == 2


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_checksums_other_than_sha256_are_checked_before_the_rename(tmp_path: Path, engine: str) -> None:
    """aria2c's checksum=md5=, sha-1=, sha-512= (mirrors often publish only those): a right one lets
    the file through, a wrong one fails it as a wrong sha256 does, in memory and through a .part."""
    import hashlib

    config = ServeConfig(files=2, size=(300_000, 300_000), seed=3)
    with ServerThread(config) as base:
        files = manifest(base)
        digests = {}
        for f in files:
            with urllib.request.urlopen(f"{base}{f['url']}") as answer:
                data = answer.read()
            digests[f["name"]] = {
                kind: hashlib.new(kind, data).hexdigest() for kind in ("md5", "sha1", "sha512")
            }
        first, second = (f["name"] for f in files)
        listing = tmp_path / "urls.txt"
        listing.write_text(
            f"{base}/files/{first}\n  checksum=md5={digests[first]['md5']}\n"
            f"  checksum=sha-1={digests[first]['sha1'].upper()}\n"
            f"  checksum=sha-512={digests[first]['sha512']}\n"
            f"{base}/files/{second}\n  checksum=md5={'0' * 32}\n"
        )
        proc = run("-i", str(listing), "-d", str(tmp_path / "out"), "--retries", "0", "--engine", engine,
                   "--json", str(tmp_path / "r.json"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    items = json.loads((tmp_path / "r.json").read_text())["items"]
    assert [(i["status"], i["error_kind"]) for i in items] == [("ok", None), ("failed", "integrity")]
    assert "md5 mismatch" in items[1]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [first]
    bad = tmp_path / "bad.txt"
    bad.write_text("http://127.0.0.1:1/x\n  checksum=crc32=abcd\n")
    proc = run("-i", str(bad), "-d", str(tmp_path / "x"))
    assert proc.returncode == 2 and "checksum must be" in proc.stderr


def test_an_empty_list_is_nothing_to_do_and_no_list_at_all_is_a_mistake(tmp_path: Path) -> None:
    """A list that holds no URL today (a cron job's quiet day: an empty pipe, comments only) ends
    with an empty report and exit 0, as wget2 and aria2c end; it was refused as bad usage (exit 2).
    No source at all is still a usage error."""
    (tmp_path / "quiet.txt").write_text("# nothing new today\n\n")
    piped = run("-i", "-", "-d", str(tmp_path / "a"), "--json", "-", stdin="")
    listed = run("-i", str(tmp_path / "quiet.txt"), "-d", str(tmp_path / "b"), "-q")
    nothing = run("-d", str(tmp_path / "c"))
    named = run("-i", str(tmp_path / "quiet.txt"), "-o", str(tmp_path / "x.bin"))
    assert named.returncode == 0, named.stderr  # (-o with an empty list: nothing to do either)
    assert piped.returncode == 0, piped.stderr
    report = json.loads(piped.stdout)
    assert report["items"] == [] and report["summary"]["items"] == 0
    assert listed.returncode == 0, listed.stderr
    assert nothing.returncode == 2 and "nothing to fetch" in nothing.stderr
    assert "Traceback" not in piped.stderr + listed.stderr + nothing.stderr


def test_curls_habits_l_and_a_zero_limit_mean_what_they_mean_to_curl(tmp_path: Path) -> None:
    """-L (tulip always follows redirects) and --limit-rate 0 / --max-filesize 0 (no limit, in curl
    and wget) were refused: "'0' is not a size like 500k". An out-of-range count says its range."""
    with ServerThread(ServeConfig(files=1, size=(5000, 5000))) as base:
        url = f"{base}/files/file-00000.bin"
        done = run("-L", url, "--limit-rate", "0", "--max-filesize", "0", "--limit-rate-per-file", "0",
                   "-d", str(tmp_path), "--json", "-")  # fmt: skip
        too_many = run(url, "-c", "1000000000", "-d", str(tmp_path / "x"))
        under_a_byte = run(url, "--max-filesize", "0.5", "-d", str(tmp_path / "y"))
    assert under_a_byte.returncode == 2 and "0: no limit" in under_a_byte.stderr  # (not "no limit")
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["items"]
    assert item["status"] == "ok" and item["bytes"] == 5000
    assert too_many.returncode == 2 and "from 1 to 10000000" in too_many.stderr


@pytest.mark.parametrize("closed", [(2,), (1, 2), (0, 1, 2)])
def test_a_run_with_its_standard_streams_closed_saves_and_reports(
    tmp_path: Path, closed: tuple[int, ...]
) -> None:
    """`tulip fetch ... 2>&-`: the first socket took descriptor 2, and libuv, closing it, aborted
    the run (SIGABRT, no report; over processes the files complete on disk were reported failed).
    A closed standard descriptor is /dev/null now: the run ends as any other."""
    with ServerThread(ServeConfig(files=500, size=(64, 64), seed=9)) as base:
        files = manifest(base)
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{base}{f['url']}\n" for f in files))
        report_file = tmp_path / "report.json"
        proc = subprocess.run(
            tulip_cmd("fetch", "-i", str(urls), "-d", str(tmp_path / "out"), "--json", str(report_file)),
            preexec_fn=lambda: [os.close(fd) for fd in closed], timeout=120,
        )  # fmt: skip
    assert proc.returncode == 0
    assert json.loads(report_file.read_text())["summary"]["ok"] == 500
    assert_disk_matches(tmp_path / "out", files)


@pytest.mark.parametrize(
    "option",
    [["-o", "-"], ["--json", "-"], ["--events", "-", "-q"], ["-o", "/dev/stdout"], ["--json", "/dev/fd/1"]],
)
def test_standard_output_closed_is_no_place_to_write_to(tmp_path: Path, option: list[str]) -> None:
    """`tulip fetch URL -o - >&-` said "saved to standard output" and exited 0: the closed descriptor
    had been given /dev/null (found by the attack pass; curl fails it, 23). Refused before a byte."""
    argv = tulip_cmd("fetch", "http://127.0.0.1:1/x", "-d", str(tmp_path / "out"), *option)
    proc = subprocess.run(argv, preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"tulip fetch: error: {option[0]} {option[1]}: standard output is closed"
    ]


def test_o_dev_stdout_keeps_the_closing_line_out_of_the_body(tmp_path: Path) -> None:
    """``tulip fetch URL -o /dev/stdout | sha256sum`` hashed "saved /dev/stdout (...)" with the body:
    only ``-o -`` sent that line to stderr (found by the second attack pass)."""
    body = b"x" * 5000
    with Scripted({"/f.bin": lambda r: [response("200 OK", body)]}) as server:
        argv = tulip_cmd("fetch", f"{server.base}/f.bin", "--no-netrc", "-o", "/dev/stdout")
        proc = subprocess.run(argv, capture_output=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == body
    assert proc.stderr.decode().startswith("saved /dev/stdout (")


@pytest.mark.parametrize("where", ["as the loop closes", "as the display closes"])
def test_an_interrupt_after_the_run_keeps_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A SIGTERM in the moments after the run ended and before the report was out (the loop's
    executor shutting down, the bar's last frame) wrote `--json` with no items, exit 143, the
    files all complete on disk (found by the attack pass). The Report made stands, and is written."""
    from aiotulip import cli
    from aiotulip.download import progress
    from aiotulip.shared import loop

    if where == "as the loop closes":
        real = loop.run

        def run_then_interrupt(main: object, **kwargs: object) -> object:
            real(main, **kwargs)  # type: ignore[arg-type]
            raise KeyboardInterrupt

        monkeypatch.setattr(loop, "run", run_then_interrupt)
    else:

        def close(self: object, report: object = None) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(progress.PlainProgress, "close", close)
    with ServerThread(ServeConfig(files=20, size=(100, 100), seed=3)) as base:
        files = manifest(base)
        report_file = tmp_path / "report.json"
        words = ["fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path / "out")]
        # (main() leaves SIGINT ignored as it returns: what this process had is put back, or every
        # later test's child would inherit the ignored signal; plain lines: stderr is no terminal)
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            status = cli.main([*words, "--json", str(report_file)])
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
    report = json.loads(report_file.read_text())
    assert (status, report["summary"]["ok"], len(report["items"])) == (0, 20, 20)
    assert_disk_matches(tmp_path / "out", files)


def test_d_naming_a_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"mine")
    proc = run("-d", "a.bin", "http://127.0.0.1:1/x", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (
        2,
        "tulip fetch: error: cannot write to a.bin: a file is there, not a folder\n",
    )
    assert (tmp_path / "a.bin").read_bytes() == b"mine"
