"""The HTTP policy: URLs, proxies, credentials, cookies, headers — its rules as units, and what a
server on the wire sees from every engine. And: no secret reaches any output."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aiotulip import ENGINES, Entry, FetchOptions, fetch
from aiotulip.download.http.proxies import Routes, parse_proxy
from aiotulip.download.http.urls import normalise, origin, redact, split_userinfo
from aiotulip.download.manifest import load_manifest
from aiotulip.errors import UsageError
from tests.download.conformance.scripted import Request, Scripted, response

BODY = b"policy\n" * 100


# -- units --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "wire"),
    [
        ("http://h/plain/path?q=1", "http://h/plain/path?q=1"),
        ("http://h/café.txt", "http://h/caf%C3%A9.txt"),
        ("http://h/中文.txt?q=ü", "http://h/%E4%B8%AD%E6%96%87.txt?q=%C3%BC"),
        ("http://h/a b", "http://h/a%20b"),
        ("http://h/keep%20escapes%2F", "http://h/keep%20escapes%2F"),
        ("http://h/bad%zz", "http://h/bad%25zz"),
        ("http://例え.jp/x", "http://xn--r8jz45g.jp/x"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_urls_go_on_the_wire_encoded(url: str, wire: str) -> None:
    assert normalise(url) == wire


def test_credentials_are_split_off_and_redacted() -> None:
    assert split_userinfo("http://alice:p%40ss@h:81/x") == ("http://h:81/x", "alice", "p@ss")
    assert split_userinfo("http://h/x@y") == ("http://h/x@y", None, None)
    assert redact("http://alice:secret@h/x?y=1") == "http://***@h/x?y=1"
    # A user with no password may be a token (https://TOKEN@host/): hidden too.
    assert redact("http://ghp_T0ken@h/x") == "http://***@h/x"
    assert redact("sftp://me@site.com@h:22/f@g") == "sftp://***@h:22/f@g"
    for odd in ("http://[::1]:8/user@example.com.txt", "http://[::1]:8/missing?email=me@example.com"):
        assert redact(odd) == odd  # (an IPv6 host, an "@" after it: no credentials; they were cut up)
    assert redact("http://h/path@with-at") == "http://h/path@with-at"
    assert redact("https://a:b:c@h") == "https://***@h"
    # A password with "@" and then "/" in it: the parsers find a "host" (ss:w) that is none.
    assert redact("ftp://zed:p@ss:w/rd%Z9@127.0.0.1:21/f") == "ftp://***@127.0.0.1:21/f"
    assert redact("http://u:p@h:80/x@y") == "http://***@h:80/x@y"  # (an "@" in a path stays)
    assert origin("HTTP://Example.COM/x") == ("http", "example.com", 80)
    assert origin("https://h:8443/") == ("https", "h", 8443)


def test_proxies_from_options_and_the_environment() -> None:
    env = {
        "http_proxy": "http://p1:3128",
        "HTTPS_PROXY": "p2:8080",
        "no_proxy": "internal.example,.corp,10.0.0.0/8,h:81",
    }
    routes = Routes(environ=env)
    assert routes.route("http://a.example/x") == parse_proxy("http://p1:3128")
    assert routes.route("https://a.example/x") == parse_proxy("http://p2:8080")
    for direct in ("http://internal.example/", "http://x.internal.example/", "http://db.corp/", "http://10.1.2.3/",
                   "http://h:81/"):  # fmt: skip
        assert routes.route(direct) is None, direct
    assert routes.route("http://h:82/") is not None  # the port must match
    assert Routes(environ={"HTTP_PROXY": "http://cgi:1"}).route("http://a/") is None  # httpoxy: ignored
    assert Routes(environ={"ALL_PROXY": "http://all:1"}).route("https://a/") == parse_proxy("http://all:1")
    assert Routes(environ=env, no_proxy="*").route("http://a.example/") is None
    assert Routes(proxy="", environ=env).route("http://a.example/") is None  # --proxy '' turns them off
    explicit = Routes(proxy="http://u:pw@p3:1", environ=env)
    proxy = explicit.route("https://a.example/")
    assert (
        proxy is not None
        and proxy.host == "p3"
        and dict(proxy.headers)["Proxy-Authorization"].startswith("Basic ")
    )
    assert "pw" not in repr(proxy)
    socks = Routes(proxy="socks5h://u:pw@p4").route("ftp://a.example/f")  # any URL, through any kind
    assert socks is not None and (socks.url, socks.port) == ("socks5h://p4:1080", 1080)
    with pytest.raises(UsageError, match="gopher:// is not a proxy"):
        Routes(proxy="gopher://p:1")


@pytest.mark.parametrize(
    "headers",
    [
        ["no colon"],
        ["Bad Name: x"],
        ["X-Ok: line\r\nInjected: 1"],
        ["X-Ok: a\x01b"],  # a control byte other than CR or LF
        ["X-Ok: a\x7fb"],
        ["Host: evil"],
        ["Range: bytes=0-"],
        [": v"],
    ],
)
def test_headers_that_cannot_be_sent_are_refused(headers: list[str]) -> None:
    with pytest.raises(UsageError):
        FetchOptions(headers=headers)


# -- on the wire, every engine -------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("engine", ENGINES)
def test_what_the_server_sees(tmp_path: Path, engine: str) -> None:
    netrc = tmp_path / "netrc"
    cookies = tmp_path / "cookies.txt"
    with Scripted({}) as server:
        server.routes.update(
            {
                "/plain": lambda r: [response("200 OK", BODY)],
                "/netrc": lambda r: [response("200 OK", BODY)],
                "/set": lambda r: [
                    response("302 Found", b"", "Set-Cookie: late=2; Path=/", "Location: /plain")
                ],
            }
        )
        netrc.write_text("machine 127.0.0.1 login carol password n3trc\n")
        cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tearly\t1\n")
        report = fetch(
            [Entry(f"{server.base}/plain", out="a"), Entry(f"{server.base}/netrc", out="b"),
             Entry(f"{server.base}/set", out="c"), Entry(f"{server.base}/plain", out="d")],
            tmp_path / "out",
            FetchOptions(engine=engine, concurrency=1, netrc=str(netrc), cookies=str(cookies), proxy="",
                         headers=["X-Custom: 1", "User-Agent: agent/9"]),
        )  # fmt: skip
        seen = list(server.requests)
    assert [r.status for r in report.items] == ["ok"] * 4
    first = seen[0].headers
    assert first["x-custom"] == "1" and first["user-agent"] == "agent/9"
    assert first["accept-encoding"] == "identity"
    assert first["authorization"] == _basic("carol", "n3trc")  # netrc for the host
    assert first["cookie"] == "early=1"  # loaded from the file
    last = seen[-1].headers
    assert "late=2" in last["cookie"] and "early=1" in last["cookie"]  # set on a 302, sent afterwards


@pytest.mark.parametrize("engine", ENGINES)
def test_user_and_an_explicit_authorization_header(tmp_path: Path, engine: str) -> None:
    with Scripted({"/x": lambda r: [response("200 OK", BODY)]}) as server:
        fetch(
            [f"{server.base}/x"], tmp_path / "a", engine=engine, auth=("dave", "pw1"), netrc=False, proxy=""
        )
        fetch([f"{server.base}/x"], tmp_path / "b", engine=engine, auth=("dave", "pw1"), netrc=False,
              proxy="", headers={"Authorization": "Bearer tok"})  # fmt: skip
        fetch([f"{server.base.replace('://', '://erin:pw2@')}/x"], tmp_path / "c", engine=engine,
              auth=("dave", "pw1"), netrc=False, proxy="")  # fmt: skip
        seen = [r.headers.get("authorization") for r in server.requests]
    assert seen == [_basic("dave", "pw1"), "Bearer tok", _basic("erin", "pw2")]


@pytest.mark.parametrize(("engine", "transport"), [(e, t) for e in ENGINES for t in ("auto", "lean")])
def test_a_name_that_does_not_resolve(tmp_path: Path, engine: str, transport: str) -> None:
    """A name no resolver can find fails as "not resolved", once. The name has an empty label:
    glibc refuses it with no query, so nothing leaves this machine (a ``*.invalid`` name is sent to
    the nameserver, and libcurl resolves on its own, past any monkeypatch of Python's resolver);
    Python's IDNA codec refuses it too, which the lean transport took for an internal error."""
    report = fetch(["http://a..b/x"], tmp_path, engine=engine, transport=transport, netrc=False, proxy="")
    (result,) = report.items
    assert (result.status, result.attempts, result.error_kind) == ("failed", 1, "resolve")
    assert result.error == "name not resolved: a..b"


@pytest.mark.parametrize(("engine", "transport"), [(e, "auto") for e in ENGINES] + [("asyncio", "lean")])
def test_https_to_a_plain_http_server_fails_at_once(tmp_path: Path, engine: str, transport: str) -> None:
    """An https:// URL naming the port of a plain HTTP server (Python's own, which answers the
    TLS hello with a 400): every retry would get the same, so there is none, and the error says why."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.RequestHandlerClass.log_message = lambda *args: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/x"
        report = fetch([url], tmp_path, engine=engine, transport=transport, netrc=False, proxy="")
        # ... and an https:// proxy that is that server: the proxy is named, not the URL
        plain_proxy = f"https://127.0.0.1:{server.server_address[1]}"
        proxied = (
            fetch(["http://127.0.0.1:1/y"], tmp_path, engine=engine, netrc=False, proxy=plain_proxy)
            if transport == "auto"
            else None
        )
    finally:
        server.shutdown()
        server.server_close()
    (item,) = report.items
    assert (item.status, item.attempts, item.error_kind) == ("failed", 1, "protocol"), item.error
    assert "does not speak TLS" in (item.error or "") and "http://" in (item.error or "")
    if proxied is not None:
        (item,) = proxied.items
        assert (item.status, item.attempts, item.error_kind) == ("failed", 1, "proxy"), item.error
        assert "the proxy 127.0.0.1:" in (item.error or "") and "does not speak TLS" in (item.error or "")


# -- secrets -------------------------------------------------------------------------------------------

SECRETS = ["url-pa55word", "bearer-t0ken", "api-k3y", "c00kie-value", "pr0xy-pa55"]


def test_no_secret_reaches_any_output(tmp_path: Path) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(f"# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t{SECRETS[3]}\n")

    def refuse(r: Request) -> list[bytes]:
        return [response("500 Internal Server Error", b"no")]

    with Scripted({"/a": refuse, "/b": refuse}) as server:
        authority = server.base.removeprefix("http://")
        report_file = tmp_path / "report.json"
        proc = subprocess.run(
            [sys.executable, "-m", "aiotulip", "fetch", f"http://alice:{SECRETS[0]}@{authority}/a",
             f"{server.base}/b", "-d", str(tmp_path / "out"), "--retries", "1", "--json", str(report_file),
             "-H", f"Authorization: Bearer {SECRETS[1]}", "-H", f"X-Api-Key: {SECRETS[2]}",
             "-b", str(cookies), "--no-proxy", "127.0.0.1", "--proxy", f"http://bob:{SECRETS[4]}@127.0.0.1:9"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    output = proc.stdout + proc.stderr + report_file.read_text()
    assert "://***@" in output and "alice" not in output and "HTTP 500" in output  # (reported ...)
    for secret in SECRETS:
        assert secret not in output, secret  # ... and nothing secret with them
    assert json.loads(report_file.read_text())["items"][0]["url"].startswith("http://***@")
    assert SECRETS[0] not in repr(FetchOptions(auth=("a", SECRETS[0]), proxy=f"http://b:{SECRETS[4]}@p:1"))


# -- found by review: each of these broke before its fix ------------------------------------------------


@contextmanager
def _manifest_naming_another_host(far_host: str = "127.0.0.1") -> Iterator[tuple[Scripted, Scripted]]:
    """Two servers: *home* serves ``/m.json``, a manifest of its own ``near.bin`` and of ``far.bin`` on
    *elsewhere* (reached as *far_host*)."""
    with Scripted({}) as elsewhere, Scripted({}) as home:
        echo = lambda r: [response("200 OK", BODY)]  # noqa: E731
        elsewhere.routes["/far.bin"] = echo
        home.routes["/near.bin"] = echo
        listing = [
            {"name": "near.bin", "url": "near.bin"},
            {"name": "far.bin", "url": f"http://{far_host}:{elsewhere.port}/far.bin"},
        ]
        home.routes["/m.json"] = lambda r: [response("200 OK", json.dumps(listing).encode())]
        yield home, elsewhere


@pytest.mark.parametrize("engine", ENGINES)
def test_credentials_go_only_to_the_origins_the_user_gave(tmp_path: Path, engine: str) -> None:
    """-u and a manifest's own credentials reach the manifest's origin; a host the manifest names
    elsewhere (the server's word, not the user's) gets neither."""
    with _manifest_naming_another_host() as (home, elsewhere):
        options = FetchOptions(engine=engine, auth=("alice", "u-pa55"), netrc=False, proxy="")
        report = fetch(load_manifest(f"{home.base}/m.json", options), tmp_path / "a", options)
        manifest_with_creds = f"{home.base.replace('://', '://bob:m-pa55@')}/m.json"
        plain = FetchOptions(engine=engine, netrc=False, proxy="")
        second = fetch(load_manifest(manifest_with_creds, plain), tmp_path / "b", plain)
    assert [r.status for r in report.items + second.items] == ["ok"] * 4
    near = [r.headers.get("authorization") for r in home.requests if r.path == "/near.bin"]
    assert near == [_basic("alice", "u-pa55"), _basic("bob", "m-pa55")]
    assert all("authorization" not in r.headers for r in elsewhere.requests)
    assert "m-pa55" not in json.dumps(second.to_json())


@pytest.mark.parametrize("engine", ENGINES)
def test_netrc_default_stays_off_the_hosts_a_manifest_names(tmp_path: Path, engine: str) -> None:
    """A netrc ``default`` entry answers for the origins the user named; whoever writes a manifest
    must not collect it by listing a host of their own."""
    netrc = tmp_path / "netrc"
    netrc.write_text("default login dflt password d3fault\n")
    with _manifest_naming_another_host("localhost") as (home, elsewhere):
        options = FetchOptions(engine=engine, netrc=str(netrc), proxy="")
        report = fetch(load_manifest(f"{home.base}/m.json", options), tmp_path / "a", options)
    assert [r.status for r in report.items] == ["ok", "ok"]
    assert [r.headers.get("authorization") for r in home.requests if r.path == "/near.bin"] == [
        _basic("dflt", "d3fault")
    ]
    assert all("authorization" not in r.headers for r in elsewhere.requests)


def test_header_values_are_checked_and_sent_as_utf8(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="line break"):
        FetchOptions(user_agent="x\r\nX-Injected: 1")
    with pytest.raises(UsageError) as caught:
        FetchOptions(headers=["Authorization Bearer t0k3n-value"])  # the colon forgotten
    assert "t0k3n" not in str(caught.value)
    for bad in ({"cookies": 5}, {"proxy": 5}, {"headers": [("X", 1)]}, {"headers": {"X": None}}):
        with pytest.raises(UsageError):
            FetchOptions(**bad)  # type: ignore[arg-type]
    with Scripted({"/x": lambda r: [response("200 OK", BODY)]}) as server:
        for engine, transport in (("sequential", "auto"), ("asyncio", "auto"), ("asyncio", "lean")):
            options = FetchOptions(engine=engine, transport=transport, netrc=False, proxy="",
                                   headers={"X-Name": "日本 café"}, user_agent="agent é")  # fmt: skip
            report = fetch([f"{server.base}/x"], tmp_path / engine / transport, options)
            assert report.items[0].status == "ok", report.items[0].error
        seen = {r.headers["x-name"] for r in server.requests} | {
            r.headers["user-agent"] for r in server.requests
        }
    assert seen == {
        "日本 café".encode().decode("latin-1"),
        "agent é".encode().decode("latin-1"),
    }  # UTF-8 bytes


@pytest.mark.parametrize(
    ("engine", "transport"), [("sequential", "auto"), ("asyncio", "auto"), ("asyncio", "lean")]
)
def test_odd_redirects_are_read_alike(tmp_path: Path, engine: str, transport: str) -> None:
    with Scripted({}) as server:
        plain = f"127.0.0.1:{server.port}"
        two = b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nLocation: /wrong\r\nContent-Length: 0\r\n\r\n"
        utf8 = b"HTTP/1.1 302 Found\r\nLocation: /caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"
        server.routes.update({
            "/two-locations": lambda r: [two],
            "/utf8-location": lambda r: [utf8],
            "/with-userinfo": lambda r: [response("302 Found", b"", f"Location: http://eve:R3D1R@{plain}/ok")],
            "/bad-port": lambda r: [response("302 Found", b"", "Location: http://127.0.0.1:99999/x")],
            "/ok": lambda r: [response("200 OK", BODY)],
            "/caf%C3%A9": lambda r: [response("200 OK", BODY)],
        })  # fmt: skip
        names = ["two-locations", "utf8-location", "with-userinfo", "bad-port"]
        report = fetch([Entry(f"{server.base}/{n}", out=n) for n in names], tmp_path, engine=engine,
                       transport=transport, netrc=False, proxy="", retries=0)  # fmt: skip
        hosts = {r.headers.get("host") for r in server.requests}
    rows = [(r.status, r.error_kind) for r in report.items]
    # Two Location fields: which one is meant is a guess, refused as libcurl refuses it.
    assert rows == [("failed", "protocol"), ("ok", None), ("ok", None), ("failed", "redirect")]
    assert hosts == {plain} and not any("authorization" in r.headers for r in server.requests)


def test_no_proxy_entries_with_ports_brackets_and_idna_and_an_unusable_environment_proxy(
    tmp_path: Path,
) -> None:
    routes = Routes(environ={"http_proxy": "http://p:1", "no_proxy": "[::1]:8080,bücher.example,10.0.0.1:81"})
    assert routes.route("http://[::1]:8080/x") is None and routes.route("http://[::1]:8081/x") is not None
    assert routes.route("http://xn--bcher-kva.example/x") is None
    assert routes.route("http://10.0.0.1:81/x") is None and routes.route("http://10.0.0.1:82/x") is not None
    with Scripted({"/x": lambda r: [response("200 OK", BODY)]}) as server:
        env = {"all_proxy": "gopher://127.0.0.1:1080"}  # named for every scheme, usable for none
        import os as _os
        from unittest import mock

        with mock.patch.dict(_os.environ, env):
            report = fetch([f"{server.base}/x"], tmp_path, netrc=False)
    (result,) = report.items
    assert (result.status, result.error_kind, result.attempts) == ("failed", "proxy", 1)
    assert "gopher:// is not a proxy" in (result.error or "")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_curl_cookie_jar_for_localhost(tmp_path: Path, engine: str) -> None:
    jar = tmp_path / "jar"
    jar.write_text("# Netscape HTTP Cookie File\nlocalhost\tFALSE\t/\tFALSE\t0\tsess\tv1\n")
    bad = tmp_path / "bad"
    bad.write_text("# Netscape HTTP Cookie File\nlocalhost\tsecret-cookie-value\n")
    with Scripted({"/x": lambda r: [response("200 OK", BODY)]}) as server:
        options = FetchOptions(engine=engine, cookies=str(jar), netrc=False, proxy="")
        fetch([f"http://localhost:{server.port}/x"], tmp_path / "o", options)
        assert server.requests[-1].headers.get("cookie") == "sess=v1"
    with pytest.raises(UsageError) as caught:
        FetchOptions(cookies=str(bad)).http_policy()
    assert "secret-cookie-value" not in str(caught.value) and "line 2" in str(caught.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_item_timeout_bounds_a_silent_server_in_every_engine(tmp_path: Path, engine: str) -> None:
    import time as _time

    from tests.download.conformance.scripted import Pause

    with Scripted({"/silent": lambda r: [Pause(30)]}) as server:
        started = _time.monotonic()
        report = fetch([f"{server.base}/silent"], tmp_path, engine=engine, timeout=20, item_timeout=1.5,
                       netrc=False, proxy="")  # fmt: skip
        took = _time.monotonic() - started
    assert (report.items[0].status, report.items[0].error_kind) == ("failed", "timeout")
    assert took < 6, took  # the 20 s read timeout did not outlast the 1.5 s item timeout


def test_a_manifest_behind_a_redirect_resolves_against_where_it_led(tmp_path: Path) -> None:
    listing = json.dumps([{"name": "f.bin", "url": "f.bin"}]).encode()
    with Scripted({}) as server:
        server.routes.update({
            "/latest": lambda r: [response("301 Moved", b"", "Location: /v2/manifest.json")],
            "/v2/manifest.json": lambda r: [response("200 OK", listing)],
            "/v2/f.bin": lambda r: [response("200 OK", BODY)],
        })  # fmt: skip
        entries = load_manifest(f"{server.base}/latest", FetchOptions(netrc=False, proxy=""))
        report = fetch(entries, tmp_path, netrc=False, proxy="")
    assert [e.url for e in entries] == [f"{server.base}/v2/f.bin"]
    assert report.items[0].status == "ok"


def test_connection_refused_in_the_same_words_everywhere(tmp_path: Path) -> None:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    errors = set()
    for engine, transport in (
        ("sequential", "auto"),
        ("threads", "auto"),
        ("asyncio", "auto"),
        ("asyncio", "lean"),
    ):
        report = fetch([f"http://127.0.0.1:{number}/x"], tmp_path / engine / transport, engine=engine,
                       transport=transport, retries=0, netrc=False, proxy="")  # fmt: skip
        errors.add((report.items[0].error, report.items[0].error_kind))
    assert errors == {(f"connection refused: 127.0.0.1:{number}", "transport")}


def test_a_cookie_set_by_an_ip_address_goes_back_to_that_address_alone() -> None:
    """RFC 6265 5.1.3: an IP address domain-matches only itself (Domain=0.1 set by 127.0.0.1 would
    otherwise reach 127.5.0.1)."""
    from aiotulip.download.http.cookies import Jar

    jar = Jar()
    jar.absorb("http://127.0.0.1:8000/a", {"Set-Cookie": "wide=1; Domain=0.1; Path=/"})
    jar.absorb("http://127.0.0.1:8000/a", {"Set-Cookie": "own=2; Path=/"})
    assert jar.header("http://127.0.0.1:8000/b") == "own=2"
    assert jar.header("http://127.5.0.1:8000/b") is None


def test_a_browser_export_with_subdomains_and_no_leading_dot_loads(tmp_path: Path) -> None:
    from aiotulip.download.http.cookies import Jar

    exported = tmp_path / "cookies.txt"
    exported.write_text(
        "# Netscape HTTP Cookie File\n"
        "example.com\tTRUE\t/\tFALSE\t0\tsid\tabc\n"  # TRUE beside a host without its dot (browsers)
        ".other.org\tfalse\t/\tFALSE\t0\tx\ty\n"  # and the reverse, in lower case
    )
    jar = Jar(str(exported))
    assert jar.header("http://www.example.com/x") == "sid=abc"
    assert jar.header("http://other.org/x") == "x=y"
    done = subprocess.run(
        [sys.executable, "-m", "aiotulip", "fetch", "-b", str(exported), "http://127.0.0.1:1/x", "-d",
         str(tmp_path / "out"), "--retries", "0", "-q"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in done.stderr and "cookiejar bug" not in done.stderr
    assert done.returncode == 1  # the file loaded; the download failed (nothing listens there)


@pytest.mark.parametrize(
    ("engine", "transport"),
    [
        ("asyncio", "auto"),
        ("threads", "auto"),
        ("sequential", "auto"),
        ("asyncio", "lean"),
    ],
)
def test_dash_h_user_and_netrc_default_stay_where_the_user_sent_them(
    tmp_path: Path, engine: str, transport: str
) -> None:
    """An API key given with -H, --user and a netrc ``default`` entry reach the origin named on the
    command line; a redirect to another origin (here: another host) carries none of them, unless
    --location-trusted. A -H replacing tulip's own User-Agent travels: it is no secret."""
    netrc = tmp_path / "netrc"
    netrc.write_text("default login dflt password d3fault\n")
    with Scripted({"/c": lambda r: [response("200 OK", BODY)]}) as other, Scripted({}) as home:
        away = f"http://localhost:{other.port}/c"  # another host: netrc's default must not follow
        home.routes["/away"] = lambda r: [response("302 Found", b"", f"Location: {away}")]
        home.routes["/plain"] = lambda r: [response("200 OK", BODY)]
        common = dict(engine=engine, transport=transport, proxy="", retries=0,
                      headers=["X-Api-Key: k3y", "User-Agent: agent/7"])  # fmt: skip
        plain = fetch([f"{home.base}/plain", f"{home.base}/away"], tmp_path / "a", netrc=str(netrc), **common)
        users = fetch([f"{home.base}/away"], tmp_path / "b", netrc=False, auth=("u", "pw"), **common)
        trusted = fetch([f"{home.base}/away"], tmp_path / "c", netrc=False, auth=("u", "pw"),
                        location_trusted=True, **common)  # fmt: skip
        at_home = [r.headers for r in home.requests]
        elsewhere = [r.headers for r in other.requests]
    assert [r.status for r in (*plain.items, *users.items, *trusted.items)] == ["ok"] * 4
    assert len(at_home) == len(elsewhere) + 1 == 4
    assert all(h["x-api-key"] == "k3y" and h["user-agent"] == "agent/7" for h in at_home)
    assert [h.get("authorization") for h in at_home] == [_basic("dflt", "d3fault")] * 2 + [
        _basic("u", "pw")
    ] * 2
    assert [(h.get("x-api-key"), h.get("authorization"), h["user-agent"]) for h in elsewhere] == [
        (None, None, "agent/7"),
        (None, None, "agent/7"),
        ("k3y", _basic("u", "pw"), "agent/7"),  # --location-trusted
    ]


def test_broken_answers_in_the_same_words_on_every_transport(tmp_path: Path) -> None:
    """A cut body, a malformed chunk or head, garbage: one line, the same kind everywhere, and the
    same words from libcurl and tulip's own reader where both can tell (the byte counts)."""
    from tests.download.conformance.scripted import CLOSE

    cases = {
        "/trailers": lambda r: [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
                                b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"],
        "/cut-chunk": lambda r: [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhello", CLOSE],
        "/bad-chunk": lambda r: [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"zz\r\nhello\r\n0\r\n\r\n"],
        "/bad-head": lambda r: [b"HTTP/1.1 200 OK\r\nBad Header Line\r\nContent-Length: 2\r\n\r\nok"],
        "/short": lambda r: [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", CLOSE],
        "/garbage": lambda r: [b"\x00\x01garbage\r\n\r\n", CLOSE],
    }  # fmt: skip
    rows = {}
    with Scripted(cases) as server:
        for transport in ("curl", "lean"):
            report = fetch([f"{server.base}{path}" for path in cases], tmp_path / transport,
                           transport=transport, retries=0, netrc=False, proxy="")  # fmt: skip
            rows[transport] = [(r.status, r.error_kind, r.error) for r in report.items]
    kinds = {t: [(status, kind) for status, kind, _ in row] for t, row in rows.items()}
    assert kinds["curl"] == kinds["lean"] == [
        ("ok", None), ("failed", "transport"), ("failed", "protocol"), ("failed", "protocol"),
        ("failed", "transport"), ("failed", "protocol"),
    ]  # fmt: skip
    assert [row[2] for row in rows["curl"]][1::3] == [row[2] for row in rows["lean"]][1::3] == [
        "server closed the connection", "connection closed after 3 of 10 bytes"
    ]  # fmt: skip
    assert not any("\n" in (error or "") for row in rows.values() for _, _, error in row)


def test_response_header_lines_give_the_same_headers_as_one_field_at_a_time() -> None:
    """``from_lines`` (libcurl's lines) and ``add_header`` (a field at a time) are one rule: repeats
    joined, single-valued fields keep the first, Content-Length and Location counted."""
    from aiotulip.download.http.headers import Headers, add_header, framing_error, from_lines

    fields = [
        ("Content-Type", "text/plain"),
        ("content-type", "text/html"),
        ("Vary", "Accept"),
        ("VARY", " Cookie "),
        ("Set-Cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
        ("Set-Cookie", "b=2"),
        ("Content-Length", "5"),
    ]
    lines = [f"{name}:{value}\r\n".encode("latin-1") for name, value in fields] + [b"\r\n"]
    headers, why = from_lines(lines)
    expected, seen = Headers(), dict[str, int]()
    for name, value in fields:
        add_header(expected, name, value.strip(), seen)
    assert dict(headers) == dict(expected)
    assert headers["content-type"] == "text/plain" and headers["Vary"] == "Accept, Cookie"
    assert headers["set-cookie"].split("\n") == ["a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2"]
    assert why is None and framing_error(expected, seen) is None
    assert from_lines([b"Content-Length: 5\r\n", b"Content-Length: 5\r\n"])[1] == (
        "bad response: Content-Length given more than once"
    )
    assert (
        from_lines([b"Location: /a\r\n", b"Location: /b\r\n"])[1] == "bad response: Multiple Location headers"
    )
    assert from_lines([b"no colon here\r\n"])[1] == "bad response: a header line without a colon"
    assert from_lines([b"Content-Length: 5\r\n", b"\r\r\n"]) == ({"content-length": "5"}, None)  # as libcurl
    assert from_lines([b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n"])[1] == (
        "bad response: Content-Length beside Transfer-Encoding"
    )
