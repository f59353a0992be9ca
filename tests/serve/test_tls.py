"""tulip serve over HTTPS: a throwaway CA that tulip fetch and curl can be told to trust, a user's
certificate, proxy mode behind TLS, and bad certificate options as one line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from aiotulip import FetchOptions, fetch
from aiotulip.serve import ServeConfig, ServerThread
from tests.needs import binary

TULIP = [sys.executable, "-m", "aiotulip"]


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([binary("curl"), "-sS", "--max-time", "20", *args], capture_output=True, timeout=60)


def test_self_signed_server_is_trusted_by_fetch_and_curl_given_its_ca(tmp_path: Path) -> None:
    command = [*TULIP, "serve", "--port", "0", "--files", "3", "--tls", "self-signed"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        try:
            assert proc.stdout is not None
            first, second = proc.stdout.readline(), proc.stdout.readline()
            url = first.split()[2].rstrip("/")
            ca = Path(second.split("CA certificate ")[1].split()[0])
            assert url.startswith("https://127.0.0.1:") and ca.is_file()
            manifest = json.loads(curl("--cacert", str(ca), f"{url}/manifest.json").stdout)
            want = {f["name"]: f["sha256"] for f in manifest["files"]}

            out = tmp_path / "out"
            done = subprocess.run(
                [*TULIP, "fetch", "--quiet", "-d", str(out), "--ca-certificate", str(ca), "--manifest",
                 f"{url}/manifest.json"], capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            got = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()}
            assert got == want
            # localhost is in the certificate too, and curl checks it the same way.
            local = url.replace("127.0.0.1", "localhost")
            body = curl("--cacert", str(ca), f"{local}/files/file-00000.bin").stdout
            assert hashlib.sha256(body).hexdigest() == want["file-00000.bin"]

            # Without the CA, both refuse: nothing is trusted by accident.
            assert curl(f"{url}/files/file-00000.bin").returncode == 60
            refused = subprocess.run(
                [*TULIP, "fetch", "--quiet", "-d", str(tmp_path / "no"), f"{url}/files/file-00000.bin"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert refused.returncode == 1 and "certificate not trusted" in refused.stdout + refused.stderr
        finally:
            proc.terminate()
    assert proc.returncode == 0
    assert not ca.exists() and not ca.parent.exists()  # the throwaway key is gone with the server


def test_sighup_removes_the_throwaway_ca_too() -> None:
    import signal

    command = [*TULIP, "serve", "--port", "0", "--files", "1", "--tls", "self-signed"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        proc.stdout.readline()
        ca = Path(proc.stdout.readline().split("CA certificate ")[1].split()[0])
        assert ca.is_file()
        proc.send_signal(signal.SIGHUP)
        proc.wait(30)
    assert not ca.parent.exists()


def test_a_users_certificate_and_proxy_mode_behind_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    options = FetchOptions(ca_certificate=str(ca_file))
    with ServerThread(ServeConfig(files=2)) as upstream:
        with ServerThread(ServeConfig(cert=cert, key=key, files=2)) as direct:
            assert direct.startswith("https://")
            report = fetch([f"{direct}/files/file-00000.bin"], tmp_path / "a", options=options)
        with ServerThread(ServeConfig(cert=cert, key=key, upstream=upstream)) as front:
            report2 = fetch([f"{front}/files/file-00000.bin"], tmp_path / "b", options=options)
    assert report.items[0].status == report2.items[0].status == "ok"
    assert report.items[0].sha256 == report2.items[0].sha256


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--cert", "/nonexistent.pem"], "cannot read --cert /nonexistent.pem"),
        (["--key", "/etc/hostname"], "--key goes with --cert"),
        (["--tls"], "--tls needs --cert"),
        (["--tls", "self-signed", "--cert", "/etc/hostname"], "no --cert or --key"),
        (["--cert", "/etc/hostname"], "does not hold a certificate and its key"),
    ],
)
def test_bad_tls_options_are_one_line(args: list[str], words: str) -> None:
    done = subprocess.run([*TULIP, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_an_https_upstream_is_checked_against_the_ca_given(tmp_path: Path) -> None:
    origin = ServerThread(ServeConfig(files=1, self_signed=True))
    with origin as upstream:
        assert origin.ca_file is not None
        with ServerThread(ServeConfig(upstream=upstream, upstream_ca=origin.ca_file)) as trusted:
            good = curl("-o", "/dev/null", "-w", "%{http_code}", f"{trusted}/files/file-00000.bin").stdout
        with ServerThread(ServeConfig(upstream=upstream)) as untrusted:
            bad = curl("-o", "/dev/null", "-w", "%{http_code}", f"{untrusted}/files/file-00000.bin").stdout
        with ServerThread(ServeConfig(upstream=upstream, upstream_insecure=True)) as unchecked:
            skipped = curl(
                "-o", "/dev/null", "-w", "%{http_code}", f"{unchecked}/files/file-00000.bin"
            ).stdout
    assert (good, bad, skipped) == (b"200", b"502", b"200")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--upstream", "https://127.0.0.1:1/", "--upstream-ca", "/etc/hostname"], "holds no CA certificate"),
        (
            ["--upstream", "https://127.0.0.1:1/", "--upstream-ca", "/etc/hostname", "--upstream-insecure"],
            "give one of them",
        ),
        (["--upstream", "http://u:s3cretpw@127.0.0.1:99999/"], "must not carry credentials"),
        (["--upstream", "ftp://u:s3cretpw@h/"], "must not carry credentials"),
    ],
)
def test_bad_upstream_options_are_one_line_without_secrets(args: list[str], words: str) -> None:
    done = subprocess.run([*TULIP, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "s3cretpw" not in done.stderr + done.stdout
