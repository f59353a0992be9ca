"""What the curl transport reaches, against servers nobody here wrote, in every engine: HTTP/2 over
TLS and h2c (nginx, hypercorn with HTTP/2 only), FTP with a resume (pyftpdlib), SFTP with known hosts
and keys (asyncssh), SOCKS5 proxies (pproxy), Digest authentication (Apache), a redirect from http
to ftp. HTTP/3 needs a QUIC server, which no Debian package here offers: checked by hand (docs/fetch.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from email.utils import formatdate
from pathlib import Path

import pytest

from aiotulip import Entry, FetchOptions, RetryPolicy, fetch
from tests.download.conformance.scripted import Scripted, response
from tests.realworld.reach import (
    apache_digest,
    dante,
    ftp_server,
    h2_nginx,
    hypercorn_h2,
    sftp_server,
    socks5,
)
from tests.realworld.services import free_port

ENGINES = ["sequential", "threads", "asyncio"]
BIG = random.Random(7).randbytes(300_000)  # a .part, a resume
SMALL = random.Random(8).randbytes(3_000)  # read in memory
SECRET = "s3cr3t-pa55"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("files")
    (root / "big.bin").write_bytes(BIG)
    (root / "small.bin").write_bytes(SMALL)
    return root


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    import trustme

    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = where / "cert.pem", where / "key.pem", where / "ca.pem"
    leaf.private_key_pem.write_to_path(str(key))
    with open(cert, "wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    ca.cert_pem.write_to_path(str(ca_file))
    return cert, key, ca_file


def _options(engine: str, **more: object) -> FetchOptions:
    settings: dict[str, object] = {
        "engine": engine, "concurrency": 4, "timeout": 10.0, "netrc": False, "proxy": "",
        "policy": RetryPolicy(retries=1, backoff=0.01, max_backoff=0.02),
    }  # fmt: skip
    return FetchOptions(**{**settings, **more})  # type: ignore[arg-type]


def _ok(report: object, dest: Path) -> list[str | None]:
    items = report.items  # type: ignore[attr-defined]
    for item in items:
        assert item.status == "ok", item.error
        expected = BIG if item.path.endswith("big.bin") else SMALL
        assert Path(item.path).read_bytes() == expected
        assert item.sha256 == hashlib.sha256(expected).hexdigest()
    return [item.http_version for item in items]


# -- HTTP/2 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_nginx_over_http2_by_alpn_and_h2c_by_prior_knowledge(
    tmp_path: Path, files: Path, certificate: tuple[Path, Path, Path], engine: str
) -> None:
    cert, key, ca = certificate
    with h2_nginx(tmp_path, files, cert, key) as (tls, clear):
        urls = [f"{tls}/big.bin", f"{tls}/small.bin"]
        report = fetch(urls, tmp_path / "h2", _options(engine, ca_certificate=str(ca)))
        assert _ok(report, tmp_path / "h2") == ["2", "2"]
        old = fetch(urls, tmp_path / "h1", _options(engine, ca_certificate=str(ca), http_version="1.1"))
        assert _ok(old, tmp_path / "h1") == ["1.1", "1.1"]
        h2c = fetch(
            [f"{clear}/big.bin"], tmp_path / "h2c", _options(engine, http_version="2-prior-knowledge")
        )
        assert _ok(h2c, tmp_path / "h2c") == ["2"]
        # An h2c-only listener asked in HTTP/1.1: one clear failure, not a hang nor a bad file.
        refused = fetch([f"{clear}/small.bin"], tmp_path / "no", _options(engine))
        (item,) = refused.items
        assert item.status == "failed" and not (tmp_path / "no" / "small.bin").exists()


@pytest.mark.parametrize("engine", ["threads", "asyncio"])
def test_transfers_begun_together_share_one_http2_connection(
    tmp_path: Path, files: Path, certificate: tuple[Path, Path, Path], engine: str
) -> None:
    """Twenty-four files, eight at a time, from nginx over HTTP/2: one connection, as curl
    --parallel and wget2 use. The first eight transfers each opened a TLS connection of their own
    before any could say it multiplexes (a hundred handshakes on the small-h2 bench row)."""
    import ssl
    import urllib.request

    cert, key, ca = certificate
    context = ssl.create_default_context(cafile=str(ca))

    def accepted(base: str) -> int:  # nginx's count of connections accepted, this one included
        with urllib.request.urlopen(f"{base}/_status", context=context, timeout=10) as answer:
            return int(answer.read().decode().splitlines()[2].split()[0])

    with h2_nginx(tmp_path, files, cert, key) as (tls, _clear):
        before = accepted(tls)
        entries = [Entry(url=f"{tls}/small.bin?{n}", out=f"s{n}.bin") for n in range(24)]
        report = fetch(entries, tmp_path / "h2", _options(engine, concurrency=8, ca_certificate=str(ca)))
        used = accepted(tls) - before - 1
    assert [(item.status, item.http_version) for item in report.items] == [("ok", "2")] * 24
    assert all(Path(item.path).read_bytes() == SMALL for item in report.items)
    assert used == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_hypercorn_that_speaks_http2_only(
    tmp_path: Path, files: Path, certificate: tuple[Path, Path, Path], engine: str
) -> None:
    cert, key, ca = certificate
    with hypercorn_h2(tmp_path, files, cert, key) as (tls, clear):
        report = fetch(
            [f"{tls}/big.bin", f"{tls}/small.bin"], tmp_path / "a", _options(engine, ca_certificate=str(ca))
        )
        assert _ok(report, tmp_path / "a") == ["2", "2"]
        h2c = fetch(
            [f"{clear}/small.bin"], tmp_path / "b", _options(engine, http_version="2-prior-knowledge")
        )
        assert _ok(h2c, tmp_path / "b") == ["2"]


def test_a_resume_over_http2_asks_for_the_rest(
    tmp_path: Path, files: Path, certificate: tuple[Path, Path, Path]
) -> None:
    cert, key, ca = certificate
    with h2_nginx(tmp_path, files, cert, key) as (tls, _clear):
        first = fetch([f"{tls}/big.bin"], tmp_path / "x", _options("asyncio", ca_certificate=str(ca)))
        etag = None
        for item in first.items:
            assert item.status == "ok"
        import ssl
        import urllib.request  # the validator nginx gives, as the run that began the part kept it

        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"{tls}/big.bin", context=context) as answer:
            etag = answer.headers["ETag"]
        dest = tmp_path / "resume"
        dest.mkdir()
        part = dest / ".big.bin.tulip-part"
        part.write_bytes(BIG[:100_000])
        os.setxattr(part, "user.tulip.validator", etag.encode())
        os.setxattr(part, "user.tulip.total", str(len(BIG)).encode())  # (as a run of it keeps them)
        report = fetch([f"{tls}/big.bin"], dest, _options("asyncio", ca_certificate=str(ca)))
    (item,) = report.items
    assert (item.status, item.resumed_from, item.http_version) == ("ok", 100_000, "2")
    assert (dest / "big.bin").read_bytes() == BIG


# -- FTP ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_ftp_anonymous_and_with_a_user(tmp_path: Path, files: Path, engine: str) -> None:
    with ftp_server(files, "alice", SECRET) as (port, commands):
        anonymous = fetch([f"ftp://127.0.0.1:{port}/big.bin", f"ftp://127.0.0.1:{port}/small.bin"],
                          tmp_path / "anon", _options(engine))  # fmt: skip
        assert _ok(anonymous, tmp_path / "anon") == ["ftp", "ftp"]
        named = fetch(
            [f"ftp://alice:{SECRET}@127.0.0.1:{port}/small.bin"], tmp_path / "alice", _options(engine)
        )
        assert _ok(named, tmp_path / "alice") == ["ftp"]
        assert "USER alice" in commands and f"PASS {SECRET}" not in " ".join(commands)
        dumped = json.dumps(named.to_json())
        assert SECRET not in dumped and "://***@" in dumped and "alice:" not in dumped
        wrong = fetch([f"ftp://alice:wrong@127.0.0.1:{port}/small.bin"], tmp_path / "wrong", _options(engine))
        missing = fetch([f"ftp://127.0.0.1:{port}/nothing.bin"], tmp_path / "missing", _options(engine))
    assert (wrong.items[0].status, wrong.items[0].error_kind) == ("failed", "fetch")
    assert "login denied" in (wrong.items[0].error or "")
    assert missing.items[0].status == "not_found"


@pytest.mark.parametrize("engine", ENGINES)
def test_an_ftp_file_longer_than_its_size_is_never_ok(tmp_path: Path, files: Path, engine: str) -> None:
    """SIZE below what the server sends (a file growing meanwhile, or a server wrong about it):
    libcurl read up to SIZE's count and stopped, the server said 226 (all of it was in the socket's
    buffers), and the file's head was saved under its name, "ok". The data is read to its end now,
    and a body longer than its size is refused, as any."""
    with ftp_server(files, "alice", SECRET, size_off=-1000) as (port, commands):
        report = fetch([f"ftp://127.0.0.1:{port}/big.bin"], tmp_path, _options(engine))
    (item,) = report.items
    assert item.status == "failed" and f"received {len(BIG)} bytes, expected {len(BIG) - 1000}" in (
        item.error or ""
    ), item
    assert not (tmp_path / "big.bin").exists()
    assert "SIZE big.bin" in commands


def test_ftp_names_beyond_ascii_and_a_type_suffix(tmp_path: Path) -> None:
    """The SIZE tulip sends before RETR was made of the name as text: a name beyond ASCII failed
    every time ('ascii' codec can't encode), before any connection; ;type=i went into it."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "ü.bin").write_bytes(SMALL)
    (root / "t.bin").write_bytes(SMALL)
    with ftp_server(root, "alice", SECRET) as (port, commands):
        report = fetch([f"ftp://127.0.0.1:{port}/%C3%BC.bin", f"ftp://127.0.0.1:{port}/t.bin;type=i"],
                       tmp_path / "out", _options("asyncio"))  # fmt: skip
    assert [(item.status, item.error) for item in report.items] == [("ok", None), ("ok", None)]
    assert "SIZE ü.bin" in commands and "SIZE t.bin" in commands


def test_ftp_resumes_with_rest_and_a_changed_file_starts_over(tmp_path: Path, files: Path) -> None:
    big = files / "big.bin"
    stamp = formatdate(big.stat().st_mtime, usegmt=True)
    with ftp_server(files, "alice", SECRET) as (port, commands):
        dest = tmp_path / "resume"
        dest.mkdir()
        part = dest / ".big.bin.tulip-part"
        part.write_bytes(BIG[:120_000])
        os.setxattr(part, "user.tulip.validator", stamp.encode())  # what the run that began it kept
        os.setxattr(part, "user.tulip.total", str(len(BIG)).encode())
        report = fetch([f"ftp://127.0.0.1:{port}/big.bin"], dest, _options("asyncio"))
        (item,) = report.items
        assert (item.status, item.resumed_from) == ("ok", 120_000), item.error
        assert (dest / "big.bin").read_bytes() == BIG
        assert "REST 120000" in commands
        # The same part begun at another version (another modification time): never spliced.
        again = tmp_path / "changed"
        again.mkdir()
        part = again / ".big.bin.tulip-part"
        part.write_bytes(b"x" * 120_000)
        os.setxattr(part, "user.tulip.validator", b"Mon, 01 Jan 2001 00:00:00 GMT")
        report = fetch([f"ftp://127.0.0.1:{port}/big.bin"], again, _options("asyncio"))
    (item,) = report.items
    assert item.status == "ok" and (again / "big.bin").read_bytes() == BIG


def test_an_ftp_file_replaced_with_its_old_time_is_never_spliced(tmp_path: Path) -> None:
    """A run cut off mid-file, the file replaced by another of another size that keeps the old
    modification time (touch -r, rsync -t, or within its second): the kept part's validator was the
    time alone, and the resume spliced the old head onto the new tail. The size is part of it now."""
    import signal
    import time

    root = tmp_path / "root"
    root.mkdir()
    old, new = random.Random(1).randbytes(300_000), random.Random(2).randbytes(350_000)
    (root / "f.bin").write_bytes(old)
    dest = tmp_path / "out"
    with ftp_server(root, "alice", SECRET, rate=40_000) as (port, commands):
        url = f"ftp://127.0.0.1:{port}/f.bin"  # (-c 512: a write every 64 KiB, the part grows)
        command = [sys.executable, "-m", "aiotulip", "fetch", "-q", "-c", "512", url, "-d", str(dest)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        part = dest / ".f.bin.tulip-part"
        deadline = time.monotonic() + 30
        while not (part.exists() and part.stat().st_size >= 60_000) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == -signal.SIGTERM
        kept = part.stat().st_size
        assert 0 < kept < len(old) and part.read_bytes() == old[:kept]
        stamp = (root / "f.bin").stat().st_mtime
        (root / "f.bin").write_bytes(new)
        os.utime(root / "f.bin", (stamp, stamp))
        report = fetch([f"ftp://127.0.0.1:{port}/f.bin"], dest, _options("asyncio"))
    (item,) = report.items
    assert (item.status, item.resumed_from) == ("ok", 0), item.error
    assert (dest / "f.bin").read_bytes() == new
    assert not [line for line in commands if line.startswith("REST") and line != "REST 0"][1:]


@pytest.mark.parametrize("engine", ENGINES)
def test_timestamping_over_ftp_and_sftp(tmp_path: Path, engine: str) -> None:
    """-N: a file unchanged since the copy (size and time) is skipped, over ftp and sftp alike; one
    replaced by a file of another size with the old time kept (touch -r) is downloaded again (a
    time alone, libcurl's TIMECONDITION, would have called it the copy); so is one with a new time.
    It was downloaded again every time."""
    root = tmp_path / "root"
    root.mkdir()
    served = root / "f.bin"
    served.write_bytes(BIG)
    with ftp_server(root, "alice", SECRET) as (ftp_port, _), sftp_server(tmp_path, root, "alice", SECRET) as (
        sftp_port, host_line, _key,
    ):  # fmt: skip
        known = tmp_path / "known_hosts"
        known.write_text(host_line + "\n")
        for url in (
            f"ftp://127.0.0.1:{ftp_port}/f.bin",
            f"sftp://alice:{SECRET}@127.0.0.1:{sftp_port}/f.bin",
        ):
            dest = tmp_path / url.partition(":")[0]
            options = _options(engine, timestamping=True, known_hosts=str(known))
            served.write_bytes(BIG)
            os.utime(served, (1_700_000_000, 1_700_000_000))
            runs = [fetch([url], dest, options).items[0]]
            runs.append(fetch([url], dest, options).items[0])
            served.write_bytes(BIG[:-1000])  # another size, the old time kept
            os.utime(served, (1_700_000_000, 1_700_000_000))
            runs.append(fetch([url], dest, options).items[0])
            os.utime(served, (1_700_000_100, 1_700_000_100))  # the same bytes, a new time
            runs.append(fetch([url], dest, options).items[0])
            runs.append(fetch([url], dest, options).items[0])
            statuses = [r.status for r in runs]
            assert statuses == ["ok", "skipped", "ok", "ok", "skipped"], [r.error for r in runs]
            assert (dest / "f.bin").read_bytes() == BIG[:-1000]
            assert (dest / "f.bin").stat().st_mtime == 1_700_000_100


def test_timestamping_over_ftp_without_size_fetches_again(tmp_path: Path) -> None:
    """A server that gives no SIZE: no ETag of size and time is kept, and the time alone would take a
    file grown with its old time kept for the copy (it was skipped, the copy short): -N downloads it
    again."""
    root = tmp_path / "root"
    root.mkdir()
    served = root / "f.bin"
    served.write_bytes(SMALL)
    os.utime(served, (1_700_000_000, 1_700_000_000))
    with ftp_server(root, "alice", SECRET, without=("SIZE",)) as (port, commands):
        url, dest = f"ftp://127.0.0.1:{port}/f.bin", tmp_path / "out"
        first = fetch([url], dest, _options("asyncio", timestamping=True)).items[0]
        served.write_bytes(SMALL + b"more")
        os.utime(served, (1_700_000_000, 1_700_000_000))
        second = fetch([url], dest, _options("asyncio", timestamping=True)).items[0]
    assert any(line.startswith("SIZE") for line in commands)  # (asked, and refused)
    assert (first.status, second.status) == ("ok", "ok"), second.error
    assert (dest / "f.bin").read_bytes() == SMALL + b"more"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_redirect_from_http_to_ftp_is_followed(tmp_path: Path, files: Path, engine: str) -> None:
    with ftp_server(files, "alice", SECRET) as (port, _commands):
        moved = {"/f": lambda r: [response("302 Found", b"", f"Location: ftp://127.0.0.1:{port}/small.bin")]}
        with Scripted(moved) as web:
            report = fetch([Entry(f"{web.base}/f", out="small.bin")], tmp_path, _options(engine))
    assert _ok(report, tmp_path) == ["ftp"]


# -- SFTP --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_sftp_with_a_password_a_key_and_known_hosts(tmp_path: Path, files: Path, engine: str) -> None:
    with sftp_server(tmp_path, files, "alice", SECRET) as (port, host_line, client_key):
        known = tmp_path / "known_hosts"
        known.write_text(host_line + "\n")
        url = f"sftp://alice:{SECRET}@127.0.0.1:{port}/big.bin"
        report = fetch([url], tmp_path / "pw", _options(engine, known_hosts=str(known)))
        assert _ok(report, tmp_path / "pw") == ["sftp"]
        keyed = fetch([f"sftp://alice@127.0.0.1:{port}/small.bin"], tmp_path / "key",
                      _options(engine, known_hosts=str(known), ssh_key=str(client_key)))  # fmt: skip
        assert _ok(keyed, tmp_path / "key") == ["sftp"]
        stranger = tmp_path / "other_hosts"
        stranger.write_text(host_line.rsplit(" ", 1)[0] + " AAAAC3NzaC1lZDI1NTE5AAAAIB" + "A" * 42 + "\n")
        refused = fetch([url], tmp_path / "no", _options(engine, known_hosts=str(stranger)))
        blind = fetch([url], tmp_path / "k", _options(engine, known_hosts=str(stranger), insecure=True))
    (item,) = refused.items
    assert item.status == "failed" and not (tmp_path / "no" / "big.bin").exists()
    assert SECRET not in json.dumps(refused.to_json())
    assert _ok(blind, tmp_path / "k") == ["sftp"]


def test_sftp_with_a_key_under_a_passphrase(tmp_path: Path, files: Path) -> None:
    """--pass gives --ssh-key's passphrase (curl's name); it stays off the process list."""
    import asyncssh

    with sftp_server(tmp_path, files, "alice", SECRET, key_type="ecdsa-sha2-nistp256") as (
        port,
        host_line,
        client_key,
    ):
        known = tmp_path / "known_hosts"
        known.write_text(host_line + "\n")
        locked = tmp_path / "id_locked"
        locked.write_bytes(
            asyncssh.read_private_key(client_key).export_private_key("pkcs1-pem", passphrase="k3y-phrase")
        )
        locked.chmod(0o600)
        url = f"sftp://alice@127.0.0.1:{port}/small.bin"
        options = {"known_hosts": str(known), "ssh_key": str(locked)}
        opened = fetch([url], tmp_path / "ok", _options("asyncio", key_passphrase="k3y-phrase", **options))
        shut = fetch([url], tmp_path / "no", _options("asyncio", **options))
    assert _ok(opened, tmp_path / "ok") == ["sftp"]
    assert shut.items[0].status == "failed" and not (tmp_path / "no" / "small.bin").exists()


def test_sftp_never_hands_libssh2_an_rsa_key(tmp_path: Path, files: Path) -> None:
    """pycurl's libssh2 corrupts its heap on any RSA key: a password login from a home with
    ~/.ssh/id_rsa (libcurl tried that key first) ended in "free(): invalid next size", an RSA
    --ssh-key in a segmentation fault. The password goes alone now; an RSA key is refused in words."""
    import asyncssh

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    rsa = asyncssh.generate_private_key("ssh-rsa")
    (home / ".ssh" / "id_rsa").write_bytes(rsa.export_private_key())
    (home / ".ssh" / "id_rsa.pub").write_bytes(rsa.export_public_key())
    (home / ".ssh" / "id_rsa").chmod(0o600)
    env = {**os.environ, "HOME": str(home)}
    with sftp_server(tmp_path, files, "alice", SECRET) as (port, host_line, _key):
        known = tmp_path / "known_hosts"
        known.write_text(host_line + "\n")
        base = [
            sys.executable,
            "-m",
            "aiotulip",
            "fetch",
            "-q",
            "--known-hosts",
            str(known),
            "--retries",
            "0",
        ]
        url = f"127.0.0.1:{port}/small.bin"
        with_password = subprocess.run([*base, f"sftp://alice:{SECRET}@{url}", "-d", str(tmp_path / "pw")],
                                       env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        rsa_key = ["--ssh-key", str(home / ".ssh" / "id_rsa")]
        with_key = subprocess.run([*base, *rsa_key, f"sftp://alice@{url}", "-d", str(tmp_path / "key")],
                                  env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert with_password.returncode == 0, with_password.stderr
    assert (tmp_path / "pw" / "small.bin").read_bytes() == SMALL
    assert with_key.returncode == 1, with_key.stderr
    assert "is an RSA key, which the libssh2 in pycurl's wheels crashes on" in with_key.stdout


def test_sftp_with_no_known_hosts_file_trusts_no_host_key(
    tmp_path: Path, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --known-hosts and no ~/.ssh/known_hosts: libcurl, left without a file, took any host key
    and sent the password to it. Every key is refused now, as ssh's StrictHostKeyChecking, and the
    words say what to do; -k takes any key, and says so."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with sftp_server(tmp_path, files, "alice", SECRET) as (port, _line, _key):
        url = f"sftp://alice:{SECRET}@127.0.0.1:{port}/small.bin"
        refused = fetch([url], tmp_path / "no", _options("asyncio"))
        command = [sys.executable, "-m", "aiotulip", "fetch", "-k", "-q", url, "-d", str(tmp_path / "k")]
        blind = subprocess.run(command, capture_output=True, text=True, timeout=60)
    (item,) = refused.items
    assert (item.status, item.error_kind) == ("failed", "certificate"), item.error
    assert "holds another key for this host, or none" in (item.error or "")
    assert "ssh-keyscan -p " in (item.error or "")  # (what to do about a new host, said)
    assert not (tmp_path / "no" / "small.bin").exists()
    assert blind.returncode == 0 and (tmp_path / "k" / "small.bin").read_bytes() == SMALL
    assert blind.stderr.count("warning: --insecure") == 1, blind.stderr


@pytest.mark.parametrize("at", ["read", "close"])
@pytest.mark.parametrize("engine", ENGINES)
def test_an_sftp_server_that_stops_answering_fails_in_its_time(
    tmp_path: Path, files: Path, engine: str, at: str
) -> None:
    """libcurl closes the remote file before it lets an ssh transfer go, and waits for that answer
    with no limit of its own: a server that stopped answering mid-file held the whole run, --timeout,
    Ctrl-C and SIGTERM included, until it was killed. It fails as a timeout now, its part kept."""
    stall = {"stall_after": 100_000} if at == "read" else {"stall_close": True}
    with sftp_server(tmp_path, files, "alice", SECRET, **stall) as (port, host_line, _key):  # type: ignore[arg-type]
        known = tmp_path / "known_hosts"
        known.write_text(host_line + "\n")
        url = f"sftp://alice:{SECRET}@127.0.0.1:{port}/big.bin"
        command = [sys.executable, "-m", "aiotulip", "fetch", "-q", "--engine", engine, "--timeout", "2",
                   "--retries", "0", "--known-hosts", str(known), "--json", str(tmp_path / "report.json"),
                   "-d", str(tmp_path / "out"), url]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=90)  # (it hung for ever)
    report = json.loads((tmp_path / "report.json").read_text())
    (item,) = report["items"]
    assert (done.returncode, item["status"], item["error_kind"]) == (1, "failed", "timeout"), done.stderr
    assert os.listdir(tmp_path / "out") == [".big.bin.tulip-part"]
    if engine == "asyncio" and at == "read":
        # libssh2's goodbye to the stalled server waited a second of its own in the loop's thread
        # (every other download held up); on a connection shut first it has nothing to wait for.
        assert report["summary"]["max_loop_lag_ms"] < 500, report["summary"]


# -- SOCKS -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_socks5_proxies_by_option_and_environment(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = {"/small.bin": lambda r: [response("200 OK", SMALL)]}
    with Scripted(routes) as web, socks5(tmp_path) as proxy, socks5(tmp_path, ("bob", SECRET)) as guarded:
        url = f"{web.base}/small.bin"
        for how in (f"socks5://{proxy}", f"socks5h://{proxy}", f"socks5://bob:{SECRET}@{guarded}"):
            report = fetch(
                [url], tmp_path / how.partition(":")[0] / str(len(how)), _options(engine, proxy=how)
            )
            assert _ok(report, tmp_path) == ["1.1"]
        monkeypatch.setenv("all_proxy", f"socks5h://{proxy}")
        via_env = fetch([url], tmp_path / "env", _options(engine, proxy=None))
        assert _ok(via_env, tmp_path) == ["1.1"]
        refused = fetch([url], tmp_path / "refused", _options(engine, proxy=f"socks5://bob:wrong@{guarded}"))
    (item,) = refused.items
    assert (item.status, item.error_kind) == ("failed", "proxy")
    assert SECRET not in (item.error or "") and "wrong" not in json.dumps(refused.to_json())


@pytest.mark.parametrize("engine", ENGINES)
def test_a_socks_proxy_that_cannot_reach_the_server_is_retried_as_a_refused_connection(
    tmp_path: Path, engine: str
) -> None:
    """dante answers reply 5 (connection refused) for a server that is down: the proxy is fine and
    the server is not, so the item is retried as a direct connection refused is (it failed at once,
    "the proxy refused"), and says which server the proxy could not reach."""
    with dante(tmp_path) as proxy:
        down = f"127.0.0.1:{free_port()}"
        report = fetch(
            [f"http://{down}/small.bin"], tmp_path / "out", _options(engine, proxy=f"socks5://{proxy}")
        )
    (item,) = report.items
    assert (item.status, item.error_kind, item.attempts) == ("failed", "proxy", 2)  # (--retries 1)
    assert item.error == f"the proxy {proxy} could not reach {down}: connection refused"


# -- Digest ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_digest_authentication_against_apache(tmp_path: Path, files: Path, engine: str) -> None:
    with apache_digest(tmp_path, files, "carol", SECRET) as base:
        url = f"{base}/private/small.bin"
        basic = fetch([url], tmp_path / "basic", _options(engine, auth=("carol", SECRET)))
        digest = fetch(
            [url], tmp_path / "digest", _options(engine, auth=("carol", SECRET), http_auth="digest")
        )
        anyauth = fetch([f"http://carol:{SECRET}@{base.removeprefix('http://')}/private/big.bin"],
                        tmp_path / "any", _options(engine, http_auth="any"))  # fmt: skip
    assert (basic.items[0].status, basic.items[0].error) == ("failed", "HTTP 401")
    assert _ok(digest, tmp_path) == ["1.1"]
    assert _ok(anyauth, tmp_path) == ["1.1"]


def test_the_command_line_says_the_protocol_and_the_transport(tmp_path: Path, files: Path) -> None:
    with ftp_server(files, "alice", SECRET) as (port, _commands):
        out = tmp_path / "r.json"
        done = subprocess.run(
            [sys.executable, "-m", "aiotulip", "fetch", f"ftp://127.0.0.1:{port}/small.bin",
             "-d", str(tmp_path), "-q", "--json", str(out)], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["summary"]["transport"] == "curl" and report["items"][0]["http_version"] == "ftp"


@pytest.mark.parametrize("engine", ENGINES)
def test_timestamping_with_compression_gets_apaches_304(tmp_path: Path, files: Path, engine: str) -> None:
    """mod_deflate suffixes its ETags (-gzip), and Apache answers a failed If-None-Match whole: the
    If-Modified-Since sent beside it (as curl -z and wget2 -N send) is what gets the 304."""
    text = files / "notes.txt"
    text.write_text("tulip " * 20_000)
    with apache_digest(tmp_path, files, "carol", SECRET, deflate=True) as base:
        url = f"{base}/notes.txt"
        first = fetch([url], tmp_path, _options(engine, compressed=True))
        again = fetch([url], tmp_path, _options(engine, compressed=True, timestamping=True))
    assert first.items[0].status == "ok", first.items[0].error
    assert (tmp_path / "notes.txt").read_text() == text.read_text()
    assert (again.items[0].status, again.items[0].reason) == ("skipped", "not modified")
