"""The wire-conformance matrix: every strange response a server may send, against every engine and
transport, each giving the same Report row (status, bytes, sha256, attempts, error kind).

This is what makes "identical Reports" true on servers nobody here wrote: a case that one transport
reads differently from another fails here, by name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotulip import Entry, FetchOptions, RetryPolicy, fetch
from tests.download.conformance.scripted import CLOSE, Pause, Request, Scripted, response

BODY = bytes(range(256)) * 40  # 10,240 bytes
SHA = hashlib.sha256(BODY).hexdigest()
OK = response("200 OK", BODY)
SECRET = "s3cr3t-pa55"

COMBOS = [
    ("sequential", "auto"),
    ("threads", "auto"),
    ("asyncio", "auto"),
    ("asyncio", "lean"),
]


def chunked(*pieces: bytes) -> bytes:
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


def redirect(status: str, location: str):
    return lambda r: [response(status, b"", f"Location: {location}")]


def routes(tls_base: str, plain_port: int) -> dict:
    def once(first: bytes, then: bytes):
        return lambda r: [first if r.nth == 0 else then]

    def needs_auth(r: Request) -> list[bytes]:
        expected = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
        if r.headers.get("authorization") != expected:
            return [response("401 Unauthorized", b"who?", 'WWW-Authenticate: Basic realm="x"')]
        return [OK]

    def no_auth_here(r: Request) -> list[bytes]:  # another origin must not see the credentials
        return [response("403 Forbidden", b"leak") if "authorization" in r.headers else OK]

    def members(r: Request) -> list[bytes]:
        return [OK if "session=abc123" in r.headers.get("cookie", "") else response("403 Forbidden", b"x")]

    def endless(r: Request) -> Iterator[object]:
        yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for _ in range(200):  # 3 MB, far past the 10,240 bytes the entry says
            yield f"{16384:x}\r\n".encode() + b"e" * 16384 + b"\r\n"
        yield Pause(30)

    table = {
        "/ok": lambda r: [OK],
        "/cl-minus-one": lambda r: [response("200 OK", BODY, length=-1), CLOSE],
        "/cl-abc": lambda r: [response("200 OK", BODY, "Content-Length: abc", length=False), CLOSE],
        "/cl-twice-same": lambda r: [response("200 OK", BODY, f"Content-Length: {len(BODY)}"), CLOSE],
        "/cl-twice-different": lambda r: [response("200 OK", BODY, "Content-Length: 5"), CLOSE],
        "/cl-list": lambda r: [response("200 OK", BODY, "Content-Length: 5000, 100", length=False), CLOSE],
        "/cl-and-te": lambda r: [
            response("200 OK", chunked(BODY), "Transfer-Encoding: chunked", length=len(BODY)),
            CLOSE,
        ],
        "/bad-chunk": lambda r: [
            response(
                "200 OK", b"zz\r\n" + BODY + b"\r\n0\r\n\r\n", "Transfer-Encoding: chunked", length=False
            ),
            CLOSE,
        ],
        "/chunked": lambda r: [
            response("200 OK", chunked(BODY[:1000], BODY[1000:]), "Transfer-Encoding: chunked", length=False)
        ],
        "/endless-chunks": endless,
        "/short": lambda r: [response("200 OK", BODY[:5000], length=len(BODY)), CLOSE],
        "/long": lambda r: [response("200 OK", BODY + b"x" * 60, length=len(BODY)), CLOSE],
        "/until-close": lambda r: [response("200 OK", BODY, "Connection: close", length=False), CLOSE],
        "/http10": lambda r: [b"HTTP/1.0 200 OK\r\n\r\n" + BODY, CLOSE],
        "/huge-header": lambda r: [b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * 1_000_000 + b"\r\n", CLOSE],
        "/continue": lambda r: [b"HTTP/1.1 100 Continue\r\n\r\n", OK],
        "/early-hints": lambda r: [
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
            OK,
        ],
        **{f"/redirect-{code}": redirect(f"{code} Moved", "/ok") for code in (301, 302, 303, 307, 308)},
        "/redirect-absolute": lambda r: [
            response("302 Found", b"", f"Location: http://127.0.0.1:{plain_port}/ok")
        ],
        "/redirect-query": lambda r: [response("302 Found", b"", "Location: /ok?from=redirect&x=%20y")],
        "/redirect-encoded": lambda r: [response("302 Found", b"", "Location: /caf%C3%A9")],
        "/caf%C3%A9": lambda r: [OK],
        "/redirect-other-host": lambda r: [
            response("302 Found", b"", f"Location: http://localhost:{plain_port}/ok")
        ],
        "/redirect-https": lambda r: [response("302 Found", b"", f"Location: {tls_base}/ok")],
        "/redirect-loop": lambda r: [response("302 Found", b"", "Location: /redirect-loop")],
        "/redirect-file": lambda r: [response("302 Found", b"", "Location: file:///etc/passwd")],
        **{f"/hop/{n}": redirect("302 Found", f"/hop/{n + 1}") for n in range(30)},
        "/auth": needs_auth,
        "/auth-wrong": needs_auth,
        "/auth-away": lambda r: [
            response("302 Found", b"", f"Location: http://localhost:{plain_port}/no-auth-here")
            if "authorization" in r.headers
            else response("400 Bad Request", b"send credentials")
        ],
        "/no-auth-here": no_auth_here,
        "/login": lambda r: [
            response("302 Found", b"", "Set-Cookie: session=abc123; Path=/", "Location: /members")
        ],
        "/members": members,
        **{f"/keepalive/{n}": lambda r: [OK, CLOSE] for n in range(6)},
        "/not-found": lambda r: [response("404 Not Found", b"gone")],
        "/server-error": lambda r: [response("500 Internal Server Error", b"boom")],
        "/not-implemented": lambda r: [response("501 Not Implemented", b"no")],
        "/no-content": lambda r: [response("204 No Content", b"", length=False)],
        "/unavailable-once": once(response("503 Service Unavailable", b"", "Retry-After: 0"), OK),
        "/stall": lambda r: [Pause(30)],
        "/caf%C3%A9.txt": lambda r: [OK],
        "/%E4%B8%AD%E6%96%87.txt": lambda r: [OK],
    }
    return table


def cases(base: str, port: int, refused: int) -> dict[str, tuple[Entry, tuple]]:
    """name -> (the entry, the Report row every engine must give: status, bytes, sha256, attempts, kind)."""
    ok = ("ok", len(BODY), SHA, 1, None)
    authority = base.removeprefix("http://")
    table = {
        "ok": ("/ok", ok),
        "cl-minus-one": ("/cl-minus-one", ("failed", 0, None, 1, "protocol")),
        "cl-abc": ("/cl-abc", ("failed", 0, None, 1, "protocol")),
        "cl-twice-same": ("/cl-twice-same", ("failed", 0, None, 1, "protocol")),
        "cl-twice-different": ("/cl-twice-different", ("failed", 0, None, 1, "protocol")),
        "cl-list": ("/cl-list", ("failed", 0, None, 1, "protocol")),
        "cl-and-te": ("/cl-and-te", ("failed", 0, None, 1, "protocol")),
        "bad-chunk": ("/bad-chunk", ("failed", 0, None, 1, "protocol")),
        "chunked": ("/chunked", ok),
        "short": ("/short", ("failed", 0, None, 3, "transport")),
        "long": ("/long", ok),
        "until-close": ("/until-close", ok),
        "http10": ("/http10", ok),
        "huge-header": ("/huge-header", ("failed", 0, None, 1, "protocol")),
        "continue": ("/continue", ok),
        "early-hints": ("/early-hints", ok),
        **{f"redirect-{code}": (f"/redirect-{code}", ok) for code in (301, 302, 303, 307, 308)},
        "redirect-absolute": ("/redirect-absolute", ok),
        "redirect-query": ("/redirect-query", ok),
        "redirect-encoded": ("/redirect-encoded", ok),
        "redirect-other-host": ("/redirect-other-host", ok),
        "redirect-https": ("/redirect-https", ok),
        "redirect-loop": ("/redirect-loop", ("failed", 0, None, 1, "redirect")),
        "redirect-file": ("/redirect-file", ("failed", 0, None, 1, "redirect")),  # never a local file
        "too-many-redirects": ("/hop/0", ("failed", 0, None, 1, "redirect")),
        "cookie-on-302": ("/login", ok),
        **{f"keepalive-{n}": (f"/keepalive/{n}", ok) for n in range(6)},
        "not-found": ("/not-found", ("not_found", 0, None, 1, "http")),
        "server-error": ("/server-error", ("failed", 0, None, 3, "http")),
        "not-implemented": ("/not-implemented", ("failed", 0, None, 1, "http")),  # (as curl: not retried)
        "no-content": ("/no-content", ("ok", 0, hashlib.sha256(b"").hexdigest(), 1, None)),  # an empty file
        "unavailable-once": ("/unavailable-once", ("ok", len(BODY), SHA, 2, None)),
        "stall": ("/stall", ("failed", 0, None, 3, "timeout")),
        "non-ascii-latin": ("/café.txt", ok),
        "non-ascii-cjk": ("/中文.txt", ok),
    }
    entries = {name: (Entry(base + path, out=name), row) for name, (path, row) in table.items()}
    entries["endless-chunks"] = (
        Entry(base + "/endless-chunks", out="endless-chunks", size=len(BODY)),
        ("failed", 0, None, 1, "integrity"),
    )
    entries["auth"] = (Entry(f"http://alice:{SECRET}@{authority}/auth", out="auth"), ok)
    entries["auth-wrong"] = (
        Entry(f"http://alice:wrong-{SECRET}@{authority}/auth-wrong", out="auth-wrong"),
        ("failed", 0, None, 1, "http"),
    )
    entries["auth-dropped-on-redirect"] = (
        Entry(f"http://alice:{SECRET}@{authority}/auth-away", out="auth-dropped-on-redirect"),
        ok,
    )
    entries["localhost"] = (Entry(f"http://localhost:{port}/ok", out="localhost"), ok)
    entries["refused"] = (
        Entry(f"http://127.0.0.1:{refused}/x", out="refused"),
        ("failed", 0, None, 3, "transport"),
    )
    return entries


@pytest.fixture(scope="module")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    import trustme

    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=[f"{e}-{t}" for e, t in COMBOS])
def test_every_case_gives_the_same_report(tmp_path: Path, tls_ca: tuple, engine: str, transport: str) -> None:
    import ssl

    ca, ca_file = tls_ca
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(server_tls)  # type: ignore[attr-defined]
    with Scripted({"/ok": lambda r: [OK]}, tls=server_tls) as secure, Scripted({}) as plain:
        plain.routes.update(routes(secure.base.replace("127.0.0.1", "localhost"), plain.port))
        table = cases(plain.base, plain.port, _free_port())
        options = FetchOptions(
            engine=engine, transport=transport, concurrency=8, timeout=1.0, ca_certificate=str(ca_file),
            policy=RetryPolicy(retries=2, backoff=0.01, max_backoff=0.02), netrc=False, proxy="",
        )  # fmt: skip
        report = fetch([entry for entry, _row in table.values()], tmp_path / "out", options)
    got = {
        name: (r.status, r.bytes, r.sha256, r.attempts, r.error_kind)
        for name, r in zip(table, report.items, strict=True)
    }
    want = {name: row for name, (_entry, row) in table.items()}
    wrong = {name: (got[name], row) for name, row in want.items() if got[name] != row}
    errors = {r.path.rsplit("/", 1)[-1]: r.error for r in report.items if r.error}
    explained = {
        name: {"got": g, "want": w, "error": (errors.get(name) or "")[:160]} for name, (g, w) in wrong.items()
    }
    assert not wrong, json.dumps(explained, indent=1, ensure_ascii=False)
    for name, row in want.items():
        if row[0] == "ok":
            assert (tmp_path / "out" / name).read_bytes() == (BODY if row[1] else b""), name
    # Nothing but complete files under final names; no secret anywhere in the report.
    assert not [p for p in os.listdir(tmp_path / "out") if ".tulip-" in p and "short" not in p]
    dumped = json.dumps(report.to_json())
    assert SECRET not in dumped and "://***@" in dumped and "alice:" not in dumped


@pytest.mark.parametrize("engine", ["sequential", "asyncio"])
def test_every_address_of_a_host_is_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """A name whose first address refuses (IPv6 first, a server on IPv4 only, as Debian's localhost)
    still connects, whatever /etc/hosts says on this machine."""
    from aiotulip.download.transports.lean import LeanTransport

    real = socket.getaddrinfo

    def both(host: str, port: object, *args: object, **kwargs: object) -> list:
        if host == "dual.test":
            v6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", int(port), 0, 0))  # type: ignore[call-overload]
            v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port)))  # type: ignore[call-overload]
            return [v6, v4]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    async def lookup(loop: object, host: str, port: int) -> list[str]:
        return ["::1", "127.0.0.1"] if host == "dual.test" else [host]

    monkeypatch.setattr(socket, "getaddrinfo", both)
    monkeypatch.setattr(LeanTransport, "_lookup", staticmethod(lookup))
    with Scripted({"/ok": lambda r: [OK]}) as server:  # 127.0.0.1 only; nothing on [::1] at its port
        report = fetch(
            [f"http://dual.test:{server.port}/ok"], tmp_path, engine=engine, netrc=False, proxy="",
            transport="lean",
        )  # fmt: skip
    assert [(r.status, r.attempts) for r in report.items] == [("ok", 1)]


@pytest.mark.parametrize("engine", ["sequential", "threads", "asyncio"])
@pytest.mark.parametrize("family", ["127.0.0.1", "::1"])
def test_localhost_reaches_a_server_on_either_address(tmp_path: Path, engine: str, family: str) -> None:
    """libcurl tries every address of a name (happy eyeballs): localhost reaches a server that
    listens on IPv4 only or IPv6 only, whichever /etc/hosts lists first."""
    with Scripted({"/ok": lambda r: [OK]}, host=family) as server:
        report = fetch([f"http://localhost:{server.port}/ok"], tmp_path, engine=engine, netrc=False, proxy="")
    assert [(r.status, r.attempts) for r in report.items] == [("ok", 1)]


def _encoded_routes() -> dict:
    import gzip
    import zlib

    from aiotulip.download.decoding import _brotli, _zstd

    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    gz = gzip.compress(BODY)
    bodies = {
        "gzip": ("gzip", gz),
        "gzip-members": ("gzip", gzip.compress(BODY[:3000]) + gzip.compress(BODY[3000:])),
        "deflate": ("deflate", zlib.compress(BODY)),
        "deflate-raw": ("deflate", raw.compress(BODY) + raw.flush()),
        "br": ("br", _brotli().compress(BODY)),
        "zstd": ("zstd", _zstd().compress(BODY)),
        "gzip-truncated": ("gzip", gz[:-12]),  # framed right, the stream unfinished
        "gzip-corrupt": ("gzip", gz[:-8] + bytes(8)),  # a wrong CRC-32 and length
        "unknown": ("x-custom", BODY),
        "upper-case": ("GZIP", gz),
    }
    table = {
        f"/enc/{name}": (lambda r, e=encoding, b=body: [response("200 OK", b, f"Content-Encoding: {e}")])
        for name, (encoding, body) in bodies.items()
    }
    table["/enc/gzip-chunked"] = lambda r: [
        response(
            "200 OK",
            chunked(gz[:10], gz[10:]),
            "Content-Encoding: gzip",
            "Transfer-Encoding: chunked",
            length=False,
        )
    ]
    table["/enc/asked"] = lambda r: [response("200 OK", r.headers.get("accept-encoding", "").encode())]
    return table


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=[f"{e}-{t}" for e, t in COMBOS])
def test_every_encoding_gives_the_same_report(tmp_path: Path, engine: str, transport: str) -> None:
    """--compressed: every coding decoded to the same file in every engine and transport, a stream
    cut short or corrupt an integrity failure, an unknown coding saved as sent and said."""
    ok = ("ok", len(BODY), SHA, 1, None)
    want = {
        "gzip": ok, "gzip-members": ok, "gzip-chunked": ok, "deflate": ok, "deflate-raw": ok, "br": ok,
        "zstd": ok, "upper-case": ok,
        "gzip-truncated": ("failed", 0, None, 3, "integrity"),
        "gzip-corrupt": ("failed", 0, None, 3, "integrity"),
        "unknown": ok,
    }  # fmt: skip
    with Scripted(_encoded_routes()) as server:
        options = FetchOptions(
            engine=engine, transport=transport, concurrency=4, timeout=5.0, compressed=True, netrc=False,
            proxy="", policy=RetryPolicy(retries=2, backoff=0.01, max_backoff=0.02),
        )  # fmt: skip
        sources = [Entry(f"{server.base}/enc/{name}", out=name) for name in [*want, "asked"]]
        report = fetch(sources, tmp_path, options)
        plain = fetch([f"{server.base}/enc/gzip", f"{server.base}/enc/asked"], tmp_path / "plain",
                      options.replace(compressed=False))  # fmt: skip
    rows = {
        name: (r.status, r.bytes, r.sha256, r.attempts, r.error_kind)
        for name, r in zip(want, report.items[:-1], strict=True)
    }
    assert rows == want, {r.path: r.error for r in report.items if r.error}
    assert {r.path.rsplit("/", 1)[1]: r.content_encoding for r in report.items if r.content_encoding} == {
        "unknown": "x-custom"
    }
    assert (tmp_path / "asked").read_text() == "gzip, deflate, br, zstd"
    for name, row in want.items():
        assert (tmp_path / name).exists() == (row[0] == "ok")
        if name != "unknown" and row[0] == "ok":
            assert (tmp_path / name).read_bytes() == BODY
    assert [(r.status, r.content_encoding) for r in plain.items] == [("ok", "gzip"), ("ok", None)]
    assert (tmp_path / "plain" / "asked").read_text() == "identity"


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=[f"{e}-{t}" for e, t in COMBOS])
def test_odd_validators_and_dates_are_kept_or_ignored_never_fatal(
    tmp_path: Path, engine: str, transport: str
) -> None:
    """An ETag with a byte that is not UTF-8 is kept and sent back as it came (tulip's transports);
    a Last-Modified no clock can hold is ignored. Neither fails the file, in any engine or transport."""
    etag = '"\xff1"'

    def odd(r: Request) -> list[bytes]:
        if r.headers.get("if-none-match", "").encode("latin-1", "replace") == etag.encode("latin-1"):
            return [response("304 Not Modified", b"", f"ETag: {etag}", length=False)]
        return [
            response("200 OK", BODY, f"ETag: {etag}", "Last-Modified: Mon, 01 Jan 2020 00:00:00 +9999999999")
        ]

    with Scripted({"/odd": odd, "/big-odd": odd}) as server:
        options = FetchOptions(engine=engine, transport=transport, timeout=5.0, netrc=False, proxy="",
                               timestamping=True, retries=0)  # fmt: skip
        first = fetch([f"{server.base}/odd"], tmp_path, options)
        again = fetch([f"{server.base}/odd"], tmp_path, options)
    assert [(r.status, r.sha256, r.error) for r in first.items] == [("ok", SHA, None)]
    assert [(r.status, r.reason) for r in again.items] == [("skipped", "not modified")]
    assert sorted(os.listdir(tmp_path)) == ["odd"]
