"""tulip serve --upstream in front of a real nginx: bytes intact when quiet, every fault at its rate,
toxiproxy's TCP shapes, path globs — each fault test run in both modes (tulip's own files, and proxy).

nginx serves the same names under /files/ as the synthetic corpus, so a URL means the same in both.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from aiotulip import FetchOptions, RetryPolicy, fetch
from aiotulip.serve import Faults, ServeConfig, ServerThread
from aiotulip.serve.faults import decide
from tests.needs import binary
from tests.realworld.services import free_port, nginx
from tests.serve.outcomes import outcome, within

COMBOS = [
    ("sequential", "auto"),
    ("threads", "auto"),
    ("asyncio", "auto"),
    ("asyncio", "lean"),
]
NAMES = [f"file-{i:05d}.bin" for i in range(12)]
SIZE = 100_000


class Upstream:
    def __init__(self, root: Path, port: int, log: Path) -> None:
        self.root, self.port, self.log = root, port, log
        self.url = f"http://127.0.0.1:{port}"

    def sha(self, name: str) -> str:
        return hashlib.sha256((self.root / name).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    work = tmp_path_factory.mktemp("upstream")
    root = work / "root"
    root.mkdir()
    for name in NAMES:
        (root / name).write_bytes(os.urandom(SIZE))
    (root / "big.bin").write_bytes(os.urandom(3_000_000))
    (root / "empty.bin").write_bytes(b"")
    (root / "text.txt").write_text("a line of text to compress\n" * 2000)
    (root / "dir").mkdir()
    (root / "dir" / "café.txt").write_text("accents\n")
    port = free_port()
    servers = f"""
    log_format seen escape=json '$request_uri|$http_x_forwarded_for|$http_x_secret|$http_host';
    server {{
        listen 127.0.0.1:{port};
        access_log {work}/access.log seen;
        gzip on; gzip_types text/plain; gzip_min_length 0;
        location /files/ {{ alias {root}/; }}
        location = /files/go-in {{ return 302 http://127.0.0.1:{port}/files/empty.bin; }}
        location = /files/go-beside {{ return 302 http://127.0.0.1:{port}/filesother/x; }}
        location = /cookies {{
            add_header Set-Cookie "a=1; Path=/";
            add_header Set-Cookie "b=2; Path=/";
            return 204;
        }}
    }}
    """
    with nginx(work, servers, wait=("127.0.0.1", port)):
        yield Upstream(root, port, work / "access.log")


@pytest.fixture(scope="module")
def proxy(upstream: Upstream) -> Iterator[str]:
    with ServerThread(ServeConfig(upstream=upstream.url)) as url:
        yield url


@pytest.fixture(params=["files", "proxy"])
def server(request: pytest.FixtureRequest, upstream: Upstream) -> Iterator[str]:
    """A server in either mode, quiet until the test sets its faults."""
    if request.param == "files":
        config = ServeConfig(files=len(NAMES), size=(SIZE, SIZE), seed=5)
    else:
        config = ServeConfig(upstream=upstream.url, seed=5)
    with ServerThread(config) as url:
        yield url


def control(base: str, method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/_tulip/{path}", data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def outcomes(urls: list[str], *, timeout: float = 10.0, concurrency: int = 20) -> list[str]:
    async def main() -> list[str]:
        limit = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def one(url: str) -> str:
                async with limit:
                    return await outcome(session, url, timeout)

            return list(await asyncio.gather(*(one(url) for url in urls)))

    return asyncio.run(main())


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([binary("curl"), "-sS", "--max-time", "20", *args], capture_output=True, timeout=60)


# -- quiet: a proxy that changes nothing --------------------------------------------------------------


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=[f"{e}-{t}" for e, t in COMBOS])
def test_quiet_proxy_delivers_nginx_bytes_to_every_engine(
    upstream: Upstream, proxy: str, tmp_path: Path, engine: str, transport: str
) -> None:
    names = [*NAMES[:4], "big.bin", "empty.bin", "dir/café.txt"]
    urls = [f"{proxy}/files/{name}" for name in names]
    options = FetchOptions(engine=engine, transport=transport, layout="tree", no_host_directories=True)
    report = fetch(urls, tmp_path, options=options, concurrency=4)
    assert [r.status for r in report.items] == ["ok"] * len(names)
    for result, name in zip(report.items, names, strict=True):
        assert result.sha256 == upstream.sha(name)
        assert hashlib.sha256(Path(result.path).read_bytes()).hexdigest() == upstream.sha(name)


def test_curl_sees_what_nginx_sends(upstream: Upstream, proxy: str, tmp_path: Path) -> None:
    direct, through = upstream.url, proxy
    for name in ("big.bin", "empty.bin"):
        out = tmp_path / name
        assert curl("-f", "-o", str(out), f"{through}/files/{name}").returncode == 0
        assert hashlib.sha256(out.read_bytes()).hexdigest() == upstream.sha(name)
    # Ranges, validators and encodings are the upstream's business: passed through untouched.
    ranged = curl("-f", "-r", "1000-1999", f"{through}/files/big.bin").stdout
    assert ranged == (upstream.root / "big.bin").read_bytes()[1000:2000]
    head = curl("-fsI", f"{through}/files/big.bin").stdout.decode().lower()
    assert "content-length: 3000000" in head and "etag:" in head
    etag = next(line.split(":", 1)[1].strip() for line in head.splitlines() if line.startswith("etag:"))
    cached = curl(
        "-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {etag}", f"{through}/files/big.bin"
    )
    assert cached.stdout == b"304"
    gz = ["-H", "Accept-Encoding: gzip"]
    assert curl(*gz, f"{through}/files/text.txt").stdout == curl(*gz, f"{direct}/files/text.txt").stdout
    assert curl(*gz, "-I", f"{through}/files/text.txt").stdout.lower().count(b"content-encoding: gzip") == 1
    # nginx's own absolute redirect (a folder without its slash) comes back through the proxy.
    moved = curl("-sI", f"{through}/files/dir").stdout.decode()
    assert f"Location: {through}/files/dir/" in moved
    # Two Set-Cookie headers stay two.
    assert curl("-sI", f"{through}/cookies").stdout.count(b"Set-Cookie:") == 2


def test_hop_by_hop_headers_stop_at_the_proxy_and_the_client_is_named(upstream: Upstream, proxy: str) -> None:
    port = proxy.rsplit(":", 1)[1]
    curl("-f", "-o", "/dev/null", "-H", "Connection: keep-alive, X-Secret", "-H", "X-Secret: 1",
         f"{proxy}/files/empty.bin?hop")  # fmt: skip
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "?hop" not in upstream.log.read_text():
        time.sleep(0.05)
    line = next(x for x in upstream.log.read_text().splitlines() if x.startswith("/files/empty.bin?hop"))
    _uri, forwarded_for, secret, host = line.split("|")
    assert forwarded_for == "127.0.0.1" and secret == ""
    assert host == f"127.0.0.1:{upstream.port}" != f"127.0.0.1:{port}"


def test_unreachable_upstream_is_a_502(tmp_path: Path) -> None:
    with ServerThread(ServeConfig(upstream=f"http://127.0.0.1:{free_port()}")) as url:
        answer = curl("-o", "/dev/null", "-w", "%{http_code}", f"{url}/x")
    assert answer.stdout == b"502"


def test_serve_command_in_proxy_mode(upstream: Upstream, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "aiotulip", "serve", "--port", str(port), "--upstream", upstream.url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            assert f"http://127.0.0.1:{port}/" in line and upstream.url in line
            done = subprocess.run(
                [sys.executable, "-m", "aiotulip", "fetch", "--quiet", "-d", str(tmp_path),
                 f"http://127.0.0.1:{port}/files/{NAMES[0]}"], capture_output=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert hashlib.sha256((tmp_path / NAMES[0]).read_bytes()).hexdigest() == upstream.sha(NAMES[0])
        finally:
            proc.terminate()
    bad = subprocess.run(
        [sys.executable, "-m", "aiotulip", "serve", "--upstream", "ftp://x", "--port", "0"],
        capture_output=True,
    )
    assert bad.returncode == 2 and len(bad.stderr.decode().strip().splitlines()) == 1


# -- faults, in both modes ------------------------------------------------------------------------------

KINDS = {
    "error_rate": ({"error_codes": [503]}, "503"),
    "drop_rate": ({}, "broken"),
    "truncate_rate": ({}, "broken"),
    "reset_rate": ({"reset_after": 0.05}, "broken"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_kind_at_its_rate(server: str, kind: str) -> None:
    n, rate = 300, 0.3
    extra, seen_as = KINDS[kind]
    control(server, "PUT", "faults", {kind: rate, "retry_after": 0, **extra})
    urls = [f"{server}/files/{NAMES[i % len(NAMES)]}" for i in range(n)]
    seen = outcomes(urls)
    stats = control(server, "GET", "stats")
    faulted = seen.count(seen_as)
    assert set(seen) == {"ok", seen_as}
    assert within(faulted, n, rate), faulted
    assert stats["faults"] == {kind.removesuffix("_rate"): faulted}


def test_stalls_at_their_rate(server: str) -> None:
    n, rate = 40, 0.3
    control(server, "PUT", "faults", {"stall_rate": rate})
    seen = outcomes([f"{server}/files/{NAMES[i % len(NAMES)]}" for i in range(n)], timeout=1.5, concurrency=n)
    assert set(seen) == {"ok", "timeout"}
    assert within(seen.count("timeout"), n, rate)
    assert control(server, "GET", "stats")["faults"] == {"stall": seen.count("timeout")}


def test_fetch_gets_every_file_whole_through_every_fault(
    server: str, upstream: Upstream, tmp_path: Path
) -> None:
    faults = {"error_rate": 0.15, "drop_rate": 0.1, "truncate_rate": 0.1, "reset_rate": 0.1}
    control(server, "PUT", "faults", {**faults, "reset_after": 0.02, "retry_after": 0})
    urls = [f"{server}/files/{name}" for name in NAMES]
    options = FetchOptions(policy=RetryPolicy(retries=20, backoff=0.01, max_backoff=0.05))
    report = fetch(urls, tmp_path, options=options, concurrency=6)
    assert [r.status for r in report.items] == ["ok"] * len(NAMES)
    stats = control(server, "GET", "stats")
    assert sum(stats["faults"].values()) > 0
    for result in report.items:
        assert hashlib.sha256(Path(result.path).read_bytes()).hexdigest() == result.sha256


CURL_EXITS = [
    ({"error_rate": 1, "error_codes": [500]}, 22),  # --fail
    ({"truncate_rate": 1}, 18),  # partial file
    ({"drop_rate": 1}, 56),  # recv failure: connection reset
    ({"reset_rate": 1, "reset_after": 0}, 56),  # reset before a byte
    ({"reset_rate": 1, "reset_after": 0.1}, 56),
    ({"limit_data": 1000}, 18),
]


@pytest.mark.parametrize(("faults", "code"), CURL_EXITS, ids=[next(iter(f)) + str(c) for f, c in CURL_EXITS])
def test_curl_meets_each_fault(server: str, faults: dict, code: int) -> None:
    control(server, "PUT", "faults", faults)
    assert curl("-f", "-o", "/dev/null", f"{server}/files/{NAMES[0]}").returncode == code


def test_faults_reach_only_the_paths_named(server: str) -> None:
    control(
        server, "PUT", "faults", {"error_rate": 1, "error_codes": [500], "paths": ["files/file-0000[01].bin"]}
    )
    seen = outcomes([f"{server}/files/{name}" for name in NAMES[:4]])
    assert seen == ["500", "500", "ok", "ok"]
    assert control(server, "GET", "faults")["paths"] == ["files/file-0000[01].bin"]


def test_limit_data_counts_the_connection_not_the_answer(server: str) -> None:
    # 100 kB answers on one keep-alive connection, limit 250 kB: two whole, the third cut.
    control(server, "PUT", "faults", {"limit_data": 250_000})
    host, port = server.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        request = f"GET /files/{NAMES[0]} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        received = b""
        for _ in range(3):
            sock.sendall(request)
        while chunk := sock.recv(65536):
            received += chunk
    heads = received.count(b"HTTP/1.1 200")
    assert heads == 3
    body_bytes = len(received) - sum(len(h) for h in _heads(received))
    assert body_bytes == 250_000


def _heads(stream: bytes) -> list[bytes]:
    heads, at = [], 0
    while (start := stream.find(b"HTTP/1.1 200", at)) >= 0:
        end = stream.index(b"\r\n\r\n", start) + 4
        heads.append(stream[start:end])
        at = end
    return heads


def test_slicer_slow_close_and_upstream_delay_take_their_time(server: str) -> None:
    # Lower bounds only: a slow machine may take longer, never shorter.
    control(server, "PUT", "faults", {"slice_size": 10_000, "slice_delay": 0.05})
    began = time.monotonic()
    assert outcomes([f"{server}/files/{NAMES[0]}"]) == ["ok"]  # 10 slices of 10 kB
    assert time.monotonic() - began >= 0.45
    control(server, "PUT", "faults", {"slice_size": 0, "slice_delay": 0, "upstream_delay": 0.3})
    began = time.monotonic()
    assert outcomes([f"{server}/files/{NAMES[1]}"]) == ["ok"]
    assert time.monotonic() - began >= 0.3
    control(server, "PUT", "faults", {"upstream_delay": 0, "truncate_rate": 1, "slow_close": 0.5})
    began = time.monotonic()
    assert outcomes([f"{server}/files/{NAMES[2]}"]) == ["broken"]
    assert time.monotonic() - began >= 0.5


# -- what a reviewer broke ------------------------------------------------------------------------------


def test_a_chunked_answer_is_cut_too(upstream: Upstream, proxy: str) -> None:
    gz = ["-H", "Accept-Encoding: gzip"]
    whole = curl(*gz, f"{upstream.url}/files/text.txt").stdout
    with ServerThread(ServeConfig(upstream=upstream.url, faults=Faults(truncate_rate=1, drop_rate=0))) as cut:
        short = curl(*gz, f"{cut}/files/text.txt")
    assert short.returncode == 18 and len(short.stdout) < len(whole)


def test_drops_cut_where_the_seed_says_whatever_the_timing(upstream: Upstream) -> None:
    faults = Faults(drop_rate=1)
    with ServerThread(ServeConfig(upstream=upstream.url, seed=1, faults=faults)) as url:
        got = [len(curl(f"{url}/files/big.bin").stdout) for _ in range(3)]
        sent = control(url, "GET", "stats")["bytes_sent"]
    want = [int(3_000_000 * decide(faults, 1, "/files/big.bin", n).cut) for n in range(3)]
    assert got == want and sent == sum(want)


def test_the_upstream_prefix_cannot_be_left_and_redirects_keep_to_it(upstream: Upstream) -> None:
    with ServerThread(ServeConfig(upstream=upstream.url + "/files/")) as url:
        for path in ("/%2e%2e/cookies", "/../cookies", "/x/%2E%2E/%2e%2e/cookies"):
            answer = curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", url + path)
            assert answer.stdout == b"400", path
        assert curl("-f", url + "/dir/caf%C3%A9.txt").stdout == b"accents\n"
        inside = curl("-sI", f"{url}/go-in").stdout.decode()
        beside = curl("-sI", f"{url}/go-beside").stdout.decode()
    assert f"Location: {url}/empty.bin" in inside
    assert f"Location: {upstream.url}/filesother/x" in beside  # not the prefix: left as it is


def test_odd_request_targets_get_4xx_not_500(proxy: str) -> None:
    host, port = proxy.removeprefix("http://").rsplit(":", 1)
    for line, status in (
        (f"GET http://{host}:{port}/files/empty.bin HTTP/1.1", b"200"),  # absolute-form (RFC 9112)
        ("OPTIONS * HTTP/1.1", b"400"),
        (f"CONNECT {host}:{port} HTTP/1.1", b"405"),
    ):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"{line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            head = sock.recv(65536)
        assert head.split(b" ")[1] == status, (line, head)


def test_uploads_stream_through_whatever_their_size(tmp_path: Path) -> None:
    import http.server
    import threading

    class Hashing(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = hashlib.sha256(body).hexdigest().encode()
            self.send_response(201)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hashing)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    payload = tmp_path / "upload.bin"
    payload.write_bytes(os.urandom(3_000_000))  # past aiohttp's 1 MiB default for a read body
    try:
        with ServerThread(ServeConfig(upstream=f"http://127.0.0.1:{origin.server_port}")) as url:
            # curl sends Expect: 100-continue for a body this big; the proxy must answer it.
            done = curl("-v", "-T", str(payload), f"{url}/up")
    finally:
        origin.shutdown()
        origin.server_close()
    assert done.stdout.decode() == hashlib.sha256(payload.read_bytes()).hexdigest()
    assert b"HTTP/1.1 100 Continue" in done.stderr


def test_upstream_urls_with_credentials_or_spaces_are_refused() -> None:
    from aiotulip.errors import UsageError

    for url in ("http://alice:hunter2@127.0.0.1:1/", "http://a b/", "http://127.0.0.1:notaport/"):
        with pytest.raises(UsageError) as refused:
            ServeConfig(upstream=url)
        assert "hunter2" not in str(refused.value)


def test_a_client_that_hangs_up_ends_the_upstream_request_too() -> None:
    import threading

    opened, closed = threading.Event(), threading.Event()

    def hanging_origin(sock: socket.socket) -> None:
        conn, _ = sock.accept()
        with conn:
            conn.recv(65536)
            opened.set()
            conn.settimeout(20)
            try:
                closed.set() if conn.recv(1) == b"" else None  # the proxy closes its side: EOF
            except OSError:
                closed.set()

    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=hanging_origin, args=(listener,), daemon=True).start()
    try:
        with ServerThread(ServeConfig(upstream=f"http://127.0.0.1:{listener.getsockname()[1]}")) as url:
            host, port = url.removeprefix("http://").rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as client:
                client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                assert opened.wait(10)
            assert closed.wait(10)  # within seconds, not the 60 s read timeout
    finally:
        listener.close()
