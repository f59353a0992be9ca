"""Through a real forward proxy (Debian's tinyproxy): the ``*_proxy`` variables as curl reads them,
CONNECT for https, proxy credentials (and their absence), ``no_proxy``, a proxy that is down — every
engine and transport, and no proxy password in any output."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotulip import Entry, FetchOptions, RetryPolicy, fetch
from aiotulip.download.summary import print_summary
from tests.download.conformance.scripted import Scripted, response
from tests.realworld.services import free_port, tinyproxy

COMBOS = [
    ("sequential", "auto"),
    ("threads", "auto"),
    ("asyncio", "auto"),
    ("asyncio", "lean"),
]
IDS = [f"{engine}-{transport}" for engine, transport in COMBOS]
BODY = b"through the proxy\n" * 500
PASSWORD = "pr0xy-s3cret"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scripted, Scripted, Path]]:
    import trustme

    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    routes = {"/file.bin": lambda r: [response("200 OK", BODY)]}
    with Scripted(dict(routes)) as plain, Scripted(dict(routes), tls=context) as secure:
        yield plain, secure, ca_file


def options(engine: str, transport: str, ca_file: Path, **extra: object) -> FetchOptions:
    return FetchOptions(
        engine=engine, transport=transport, concurrency=2, timeout=10.0, netrc=False,
        ca_certificate=str(ca_file), policy=RetryPolicy(retries=2, backoff=0.01, max_backoff=0.02),
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_the_environment_routes_http_and_https_through_the_proxy(
    tmp_path: Path, upstream: tuple, monkeypatch: pytest.MonkeyPatch, engine: str, transport: str
) -> None:
    plain, secure, ca_file = upstream
    _clear_proxy_env(monkeypatch)
    with tinyproxy(tmp_path) as proxy:
        monkeypatch.setenv("http_proxy", proxy)
        monkeypatch.setenv("HTTPS_PROXY", proxy)  # either case, as curl reads it
        seen = len(plain.requests)
        urls = [Entry(f"{plain.base}/file.bin", out="plain.bin"),
                Entry(f"https://localhost:{secure.port}/file.bin", out="secure.bin")]  # fmt: skip
        report = fetch(urls, tmp_path / "out", options(engine, transport, ca_file))
        log = (tmp_path / "tinyproxy" / "tinyproxy.log").read_text()
    assert [(r.status, r.bytes) for r in report.items] == [("ok", len(BODY))] * 2
    assert "via" in plain.requests[seen].headers  # the proxy forwarded the plain request
    assert f"CONNECT localhost:{secure.port}" in log  # and tunnelled the https one


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_proxy_credentials_and_their_absence(
    tmp_path: Path,
    upstream: tuple,
    monkeypatch: pytest.MonkeyPatch,
    engine: str,
    transport: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain, secure, ca_file = upstream
    _clear_proxy_env(monkeypatch)
    urls = [Entry(f"{plain.base}/file.bin", out="plain.bin"),
            Entry(f"https://localhost:{secure.port}/file.bin", out="secure.bin")]  # fmt: skip
    with tinyproxy(tmp_path, auth=("alice", PASSWORD)) as proxy:
        seen = len(plain.requests)
        allowed = fetch(urls, tmp_path / "a", options(engine, transport, ca_file,
                        proxy=proxy.replace("http://", f"http://alice:{PASSWORD}@")))  # fmt: skip
        also = fetch(urls, tmp_path / "b", options(engine, transport, ca_file, proxy=proxy,
                     proxy_auth=("alice", PASSWORD)))  # fmt: skip
        refused = fetch(urls, tmp_path / "c", options(engine, transport, ca_file, proxy=proxy))
    assert [r.status for r in allowed.items + also.items] == ["ok"] * 4
    assert all("proxy-authorization" not in r.headers for r in plain.requests[seen:])  # the proxy's alone
    assert [(r.status, r.attempts, r.error_kind) for r in refused.items] == [("failed", 1, "proxy")] * 2
    assert all("credentials" in (r.error or "") for r in refused.items)
    for report in (allowed, also, refused):
        print_summary(report)
        assert PASSWORD not in json.dumps(report.to_json())
    assert PASSWORD not in capsys.readouterr().out


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_no_proxy_and_a_proxy_that_is_down(
    tmp_path: Path, upstream: tuple, monkeypatch: pytest.MonkeyPatch, engine: str, transport: str
) -> None:
    plain, _secure, ca_file = upstream
    _clear_proxy_env(monkeypatch)
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("http_proxy", down)
    monkeypatch.setenv("no_proxy", "example.org,127.0.0.1")
    bypassed = fetch([f"{plain.base}/file.bin"], tmp_path / "a", options(engine, transport, ca_file))
    assert [r.status for r in bypassed.items] == ["ok"]
    monkeypatch.delenv("no_proxy")
    failed = fetch([f"{plain.base}/file.bin"], tmp_path / "b", options(engine, transport, ca_file))
    (result,) = failed.items
    assert (result.status, result.error_kind, result.attempts) == ("failed", "proxy", 3)
    assert "cannot reach the proxy" in (result.error or "")


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
def test_an_ftp_url_through_an_http_proxy_is_the_proxys_http_answer(tmp_path: Path, engine: str) -> None:
    """libcurl asks an HTTP proxy for an ftp:// URL with a GET: the answer is the proxy's, in HTTP.
    tinyproxy (which fetches no ftp) answers 400, and that is a failure — its error page was saved
    as the file, "ok" — while a proxy that does fetch it gives the file."""
    import socketserver
    import threading

    from tests.realworld.reach import ftp_server

    root = tmp_path / "root"
    root.mkdir()
    (root / "f.bin").write_bytes(BODY)

    class Fetching(socketserver.StreamRequestHandler):  # a proxy that fetches ftp (as squid does)
        def handle(self) -> None:
            self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\nConnection: close\r\n\r\n"
            self.wfile.write(head.encode() + BODY)

    good = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Fetching)
    threading.Thread(target=good.serve_forever, daemon=True).start()
    try:
        with ftp_server(root, "alice", PASSWORD) as (port, commands), tinyproxy(tmp_path) as proxy:
            url = f"ftp://127.0.0.1:{port}/f.bin"
            settings = dict(engine=engine, netrc=False, policy=RetryPolicy(retries=0))
            refused = fetch([url], tmp_path / "refused", proxy=proxy, **settings)  # type: ignore[arg-type]
            fetched = fetch([url], tmp_path / "fetched", proxy=f"http://127.0.0.1:{good.server_address[1]}",
                            **settings)  # type: ignore[arg-type]  # fmt: skip
    finally:
        good.shutdown()
        good.server_close()
    (item,) = refused.items
    assert (item.status, item.error_kind) == ("failed", "http"), item
    assert not (tmp_path / "refused" / "f.bin").exists()
    assert fetched.items[0].status == "ok" and (tmp_path / "fetched" / "f.bin").read_bytes() == BODY
    assert not [line for line in commands if line.startswith("RETR")]  # (the proxies asked for it)
