"""Against a real nginx (Debian's): static files, gzip it must not apply, redirects written with
``return 30x``, IPv4-only ``localhost``, ``[::1]``, HTTPS with a test CA, resume from its ETag —
every engine and transport giving the same Report."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotulip import Entry, FetchOptions, RetryPolicy, fetch
from tests.realworld.services import free_port, nginx

COMBOS = [
    ("sequential", "auto"),
    ("threads", "auto"),
    ("asyncio", "auto"),
    ("asyncio", "lean"),
]
IDS = [f"{engine}-{transport}" for engine, transport in COMBOS]
SIZES = [0, 1, 65536, 65537, 3_000_000]


class Site:
    def __init__(self, root: Path, plain: int, v6: int, secure: int, ca_file: Path) -> None:
        self.root, self.plain, self.v6, self.secure, self.ca_file = root, plain, v6, secure, ca_file
        self.mutual = 0  # a port where nginx asks for a client certificate
        self.client: tuple[str, str] = ("", "")
        self.log = Path()  # what the plain server answered: URI, status, Content-Encoding, If-None-Match

    def answers(self, uri: str) -> list[list[str]]:
        lines = self.log.read_text().splitlines()
        return [line.split("|")[1:] for line in lines if line.startswith(uri + "|")]

    def sha(self, name: str) -> str:
        return hashlib.sha256((self.root / name).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import trustme

    work = tmp_path_factory.mktemp("nginx")
    root = work / "root"
    root.mkdir()
    for size in SIZES:
        (root / f"f-{size}.bin").write_bytes(os.urandom(size))
    (root / "text.txt").write_text("compressible line of text\n" * 4000)
    (root / "café.txt").write_text("accents\n" * 100)
    for combo in IDS:  # one per engine: the freshness test changes it
        (root / f"changing-{combo}.txt").write_text("version 1\n" * 1000)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    cert.cert_chain_pems[0].write_to_path(str(work / "cert.pem"))
    cert.private_key_pem.write_to_path(str(work / "key.pem"))
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    client = ca.issue_cert("tulip-client@example.org")
    client.cert_chain_pems[0].write_to_path(str(work / "client.pem"))
    client.private_key_pem.write_to_path(str(work / "client.key"))
    plain, v6, secure, mutual = free_port(), free_port("::1"), free_port(), free_port()
    servers = f"""
    log_format wire escape=none '$request_uri|$status|$sent_http_content_encoding|$http_if_none_match';
    server {{
        listen 127.0.0.1:{plain};
        listen [::1]:{v6};
        root {root};
        access_log {work}/access.log wire;
        gzip on; gzip_types *; gzip_min_length 0; gzip_comp_level 1;
        location = /moved-301 {{ return 301 /f-65537.bin; }}
        location = /moved-302 {{ return 302 http://localhost:{plain}/f-1.bin; }}
        location = /moved-307 {{ return 307 /f-3000000.bin; }}
        location = /moved-308 {{ return 308 /caf%C3%A9.txt; }}
        location = /to-https {{ return 302 https://localhost:{secure}/f-65536.bin; }}
        location /noranges/ {{ alias {root}/; max_ranges 0; }}
        location = /download {{
            alias {root}/f-65537.bin;
            add_header Content-Disposition 'attachment; filename="report.csv"';
        }}
        location = /menu {{
            alias {root}/f-1.bin;
            add_header Content-Disposition "attachment; filename=menu.pdf; filename*=UTF-8''men%C3%BC.pdf";
        }}
        location = /escape {{
            alias {root}/f-1.bin;
            add_header Content-Disposition 'attachment; filename="../../escape.sh"';
        }}
    }}
    server {{
        listen 127.0.0.1:{secure} ssl;
        ssl_certificate {work}/cert.pem;
        ssl_certificate_key {work}/key.pem;
        root {root};
    }}
    server {{
        listen 127.0.0.1:{mutual} ssl;
        ssl_certificate {work}/cert.pem;
        ssl_certificate_key {work}/key.pem;
        ssl_client_certificate {work}/ca.pem;
        ssl_verify_client on;
        root {root};
    }}
    """
    with nginx(work, servers, wait=("127.0.0.1", plain)):
        found = Site(root, plain, v6, secure, work / "ca.pem")
        found.mutual, found.client = mutual, (str(work / "client.pem"), str(work / "client.key"))
        found.log = work / "access.log"
        yield found


def options(engine: str, transport: str, **extra: object) -> FetchOptions:
    return FetchOptions(
        engine=engine, transport=transport, concurrency=4, timeout=10.0, netrc=False, proxy="",
        policy=RetryPolicy(retries=2, backoff=0.01, max_backoff=0.02), **extra,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_nginx_files_redirects_addresses_and_tls(
    tmp_path: Path, site: Site, engine: str, transport: str
) -> None:
    base = f"http://127.0.0.1:{site.plain}"
    table = {  # out name -> (URL, the file it must hold)
        **{f"f-{size}.bin": (f"{base}/f-{size}.bin", f"f-{size}.bin") for size in SIZES},
        "text.txt": (f"{base}/text.txt", "text.txt"),  # gzip on: we ask for identity, bytes as on disk
        "café.txt": (f"{base}/café.txt", "café.txt"),
        "localhost.bin": (f"http://localhost:{site.plain}/f-65537.bin", "f-65537.bin"),  # IPv4 only
        "v6.bin": (f"http://[::1]:{site.v6}/f-1.bin", "f-1.bin"),
        "m301": (f"{base}/moved-301", "f-65537.bin"),
        "m302": (f"{base}/moved-302", "f-1.bin"),
        "m307": (f"{base}/moved-307", "f-3000000.bin"),
        "m308": (f"{base}/moved-308", "café.txt"),
        "to-https": (f"{base}/to-https", "f-65536.bin"),
        "https.bin": (f"https://localhost:{site.secure}/f-3000000.bin", "f-3000000.bin"),
        "https-ip.bin": (f"https://127.0.0.1:{site.secure}/f-1.bin", "f-1.bin"),
    }
    sources = [Entry(url, out=name) for name, (url, _file) in table.items()]
    report = fetch(sources, tmp_path, options(engine, transport, ca_certificate=str(site.ca_file)))
    rows = {r.path.rsplit("/", 1)[-1]: (r.status, r.sha256, r.attempts, r.error) for r in report.items}
    assert rows == {name: ("ok", site.sha(file), 1, None) for name, (_url, file) in table.items()}
    for name, (_url, file) in table.items():
        assert (tmp_path / name).read_bytes() == (site.root / file).read_bytes(), name


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_an_untrusted_certificate_fails_at_once_and_says_what_to_do(
    tmp_path: Path, site: Site, engine: str, transport: str
) -> None:
    url = f"https://localhost:{site.secure}/f-1.bin"
    report = fetch([url], tmp_path, options(engine, transport))
    (result,) = report.items
    assert (result.status, result.attempts, result.error_kind) == ("failed", 1, "certificate")
    assert result.error is not None and "--ca-certificate" in result.error
    insecure = fetch([url], tmp_path / "insecure", options(engine, transport, insecure=True))
    assert insecure.items[0].status == "ok"


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_a_part_resumes_from_nginx(tmp_path: Path, site: Site, engine: str, transport: str) -> None:
    import urllib.request

    url = f"http://127.0.0.1:{site.plain}/f-3000000.bin"
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as head:
        etag = head.headers["ETag"]
    whole = (site.root / "f-3000000.bin").read_bytes()
    part = tmp_path / ".big.bin.tulip-part"
    part.write_bytes(whole[:1_000_000])
    os.setxattr(part, "user.tulip.validator", etag.encode())  # as the run that began it kept it
    os.setxattr(part, "user.tulip.total", str(len(whole)).encode())
    report = fetch([Entry(url, out="big.bin")], tmp_path, options(engine, transport))
    (result,) = report.items
    assert (result.status, result.resumed_from, result.bytes) == ("ok", 1_000_000, 3_000_000)
    assert not result.resumed_unvalidated  # nginx's ETag vouched for the bytes (If-Range)
    assert (tmp_path / "big.bin").read_bytes() == whole


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_a_client_certificate(tmp_path: Path, site: Site, engine: str, transport: str) -> None:
    url = f"https://localhost:{site.mutual}/f-65537.bin"
    cert, key = site.client
    with_cert = fetch([url], tmp_path / "a", options(engine, transport, ca_certificate=str(site.ca_file),
                                                     client_cert=cert, client_key=key))  # fmt: skip
    without = fetch([url], tmp_path / "b", options(engine, transport, ca_certificate=str(site.ca_file)))
    assert [(r.status, r.sha256) for r in with_cert.items] == [("ok", site.sha("f-65537.bin"))]
    assert [(r.status, r.error) for r in without.items] == [("failed", "HTTP 400")]  # nginx: "no certificate"


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_compressed_and_timestamping_against_nginx(
    tmp_path: Path, site: Site, engine: str, transport: str
) -> None:
    base = f"http://127.0.0.1:{site.plain}"
    changing = f"changing-{engine}-{transport}.txt"
    names = ["text.txt", "f-65537.bin", changing]  # nginx gzips them all (gzip_types *)
    urls = [f"{base}/{name}" for name in names]
    chosen = options(engine, transport, compressed=True, timestamping=True)
    first = fetch(urls, tmp_path, chosen)
    assert [(r.status, r.sha256, r.content_encoding) for r in first.items] == [
        ("ok", site.sha(name), None) for name in names
    ]
    for name in names:  # the server's date, to the second
        assert int((tmp_path / name).stat().st_mtime) == int((site.root / name).stat().st_mtime)

    again = fetch(urls, tmp_path, chosen)  # asked by date (a compressed answer's ETag is the variant's)
    assert [(r.status, r.reason) for r in again.items] == [("skipped", "not modified")] * 3

    (site.root / changing).write_text("version 2\n" * 1000)
    os.utime(site.root / changing, (2_000_000_000, 2_000_000_000))
    changed = fetch(urls, tmp_path, chosen)
    assert [r.status for r in changed.items] == ["skipped", "skipped", "ok"]
    assert (tmp_path / changing).read_text() == "version 2\n" * 1000
    assert (tmp_path / changing).stat().st_mtime == 2_000_000_000
    # The wire, as nginx saw it: gzip sent, then a 304 for the date we kept, then the new file. With
    # --compressed no If-None-Match goes out: the ETag kept is the encoded variant's (Apache's never
    # matches again, and a failed If-None-Match makes a server ignore the date: test_reach.py).
    answers = site.answers(f"/{changing}")
    assert [(status, encoding) for status, encoding, _asked in answers] == [
        ("200", "gzip"),
        ("304", ""),
        ("200", "gzip"),
    ]
    assert [asked for _status, _encoding, asked in answers] == ["", "", ""]


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_content_disposition_from_nginx(tmp_path: Path, site: Site, engine: str, transport: str) -> None:
    base = f"http://127.0.0.1:{site.plain}"
    urls = [f"{base}/download", f"{base}/menu", f"{base}/escape"]
    report = fetch(urls, tmp_path, options(engine, transport, content_disposition=True))
    assert [(r.status, Path(r.path).name) for r in report.items] == [
        ("ok", "report.csv"),
        ("ok", "menü.pdf"),  # filename* wins over filename
        ("ok", "_.._escape.sh"),  # a name, never a path
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_.._escape.sh", "menü.pdf", "report.csv"]
    assert (tmp_path / "report.csv").read_bytes() == (site.root / "f-65537.bin").read_bytes()


@pytest.mark.parametrize(("engine", "transport"), COMBOS, ids=IDS)
def test_a_split_download_from_nginx(tmp_path: Path, site: Site, engine: str, transport: str) -> None:
    """--split against nginx: ranges with If-Range on its ETag, every span written where it goes;
    the same file from a location that refuses ranges (max_ranges 0) comes in one stream."""
    url = f"http://127.0.0.1:{site.plain}/f-3000000.bin"
    chosen = options(engine, transport, split=4, min_split_size=256 * 1024)
    report = fetch([url, Entry(f"http://127.0.0.1:{site.plain}/noranges/f-3000000.bin", out="whole.bin")],
                   tmp_path, chosen)  # fmt: skip
    assert [(r.status, r.sha256, r.attempts) for r in report.items] == [
        ("ok", site.sha("f-3000000.bin"), 1)
    ] * 2
    asked = [
        line for line in site.log.read_text().splitlines() if "|206|" in line and "f-3000000.bin" in line
    ]
    assert len(asked) >= 4
