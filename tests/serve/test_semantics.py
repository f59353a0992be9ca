"""HTTP semantics of tulip serve: conditional requests, types, gzip on request, listings, caching
headers that change on command — checked on the wire with curl and urllib, and with tulip fetch."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotulip import FetchOptions, fetch
from aiotulip.serve import ServeConfig, ServerThread
from tests.needs import binary

TEXT = "a line of text that compresses well\n" * 3000


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    (root / "a.txt").write_text(TEXT)
    (root / "b.json").write_text(json.dumps({"k": list(range(500))}))
    (root / "c.tar.gz").write_bytes(gzip.compress(b"tar bytes" * 100))
    (root / "d.svg").write_text("<svg/>")
    (root / "plain").write_bytes(b"\x00\x01")
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "<i>café.txt").write_text("escaped\n")
    (root / "sub" / "deeper" / "x.bin").write_bytes(b"x" * 10)
    return root


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[str]:
    with ServerThread(ServeConfig(root=root, gzip=True, index=True, cache_control="max-age=60")) as url:
        yield url


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([binary("curl"), "-sS", "--max-time", "20", *args], capture_output=True, timeout=60)


def head(url: str, *headers: str) -> tuple[int, dict[str, str]]:
    """Status and headers of a GET (body thrown away), header names lower-cased."""
    args = [part for header in headers for part in ("-H", header)]
    out = curl("-s", "-o", "/dev/null", "-D", "-", *args, url).stdout.decode()
    lines = out.strip().splitlines()
    status = int(lines[0].split()[1])
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return status, {k.lower(): v for k, v in fields.items()}


@pytest.mark.parametrize(
    ("name", "media"),
    [
        ("a.txt", "text/plain"),
        ("b.json", "application/json"),
        ("c.tar.gz", "application/gzip"),
        ("d.svg", "image/svg+xml"),
        ("plain", "application/octet-stream"),
    ],
)
def test_content_type_from_the_name_and_never_a_false_encoding(server: str, name: str, media: str) -> None:
    status, fields = head(f"{server}/files/{name}", "Accept-Encoding: identity")
    assert status == 200 and fields["content-type"].split(";")[0] == media
    assert "content-encoding" not in fields
    assert fields["cache-control"] == "max-age=60"


def test_if_none_match_lists_weak_tags_and_precedence(server: str) -> None:
    url = f"{server}/files/plain"
    _, fields = head(url)
    etag, modified = fields["etag"], fields["last-modified"]
    assert head(url, f'If-None-Match: "other", {etag}')[0] == 304
    assert head(url, f"If-None-Match: W/{etag}")[0] == 304  # weak comparison for GET
    assert head(url, "If-None-Match: *")[0] == 304
    assert head(url, 'If-None-Match: "other"')[0] == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    assert head(url, 'If-None-Match: "other"', f"If-Modified-Since: {modified}")[0] == 200
    assert head(url, f"If-Modified-Since: {modified}")[0] == 304
    assert head(url, "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT")[0] == 200
    assert head(url, "If-Modified-Since: not a date")[0] == 200


def test_if_range_with_a_date_or_a_tag(server: str, root: Path) -> None:
    url = f"{server}/files/a.txt"
    _, fields = head(url, "Accept-Encoding: identity")
    etag, modified = fields["etag"], fields["last-modified"]
    whole, part = TEXT.encode(), TEXT.encode()[10:20]
    assert curl("-r", "10-19", "-H", f"If-Range: {modified}", url).stdout == part
    assert curl("-r", "10-19", "-H", f"If-Range: {etag}", url).stdout == part
    assert curl("-r", "10-19", "-H", "If-Range: Thu, 01 Jan 1970 00:00:00 GMT", url).stdout == whole
    assert curl("-r", "10-19", "-H", f"If-Range: W/{etag}", url).stdout == whole  # weak never matches


def test_gzip_on_request_for_text_only(server: str, root: Path) -> None:
    url = f"{server}/files/a.txt"
    _, fields = head(url, "Accept-Encoding: gzip, br")
    assert fields["content-encoding"] == "gzip" and fields["vary"] == "Accept-Encoding"
    _, identity = head(url)
    assert fields["etag"] != identity["etag"] and identity["vary"] == "Accept-Encoding"
    body = curl("-H", "Accept-Encoding: gzip", url).stdout
    assert len(body) < len(TEXT) // 10 and gzip.decompress(body) == TEXT.encode()
    assert curl("--compressed", url).stdout == TEXT.encode()  # curl decodes it
    # The gzipped form has its own validator, and a 304 for it.
    assert head(url, "Accept-Encoding: gzip", f"If-None-Match: {fields['etag']}")[0] == 304
    # q=0 refuses it; ranges, binaries and already-compressed files go as they are.
    assert "content-encoding" not in head(url, "Accept-Encoding: gzip;q=0, identity")[1]
    assert curl("-r", "0-4", "-H", "Accept-Encoding: gzip", url).stdout == TEXT.encode()[:5]
    for name in ("plain", "c.tar.gz"):
        assert "content-encoding" not in head(f"{server}/files/{name}", "Accept-Encoding: gzip")[1]


def test_fetch_compressed_from_a_gzip_server_keeps_the_files_bytes(
    server: str, root: Path, tmp_path: Path
) -> None:
    urls = [f"{server}/files/a.txt", f"{server}/files/b.json"]
    report = fetch(urls, tmp_path, options=FetchOptions(compressed=True))
    assert [r.status for r in report.items] == ["ok", "ok"]
    assert (tmp_path / "a.txt").read_text() == TEXT
    assert (tmp_path / "b.json").read_bytes() == (root / "b.json").read_bytes()


def test_index_lists_folders_as_html_and_json(server: str) -> None:
    with urllib.request.urlopen(f"{server}/files/?format=json", timeout=10) as resp:
        listing = json.load(resp)
    names = [entry["name"] for entry in listing["entries"]]
    assert names == ["a.txt", "b.json", "c.tar.gz", "d.svg", "plain", "sub/"]
    assert listing["entries"][0]["size"] == len(TEXT)
    request = urllib.request.Request(f"{server}/files/sub/", headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        sub = json.load(resp)
    assert [(e["name"], e["url"]) for e in sub["entries"]] == [
        ("<i>café.txt", "/files/sub/%3Ci%3Ecaf%C3%A9.txt"),
        ("deeper/", "/files/sub/deeper/"),
    ]
    page = curl(f"{server}/files/sub/").stdout.decode()
    assert "<i>" not in page and "&lt;i&gt;café.txt" in page and 'href="../"' in page
    assert head(f"{server}/files/nothing/")[0] == 404


def test_no_index_no_listing_and_no_gzip_by_default(root: Path) -> None:
    with ServerThread(ServeConfig(root=root)) as url:
        assert head(f"{url}/files/")[0] == 404
        status, fields = head(f"{url}/files/a.txt", "Accept-Encoding: gzip")
        assert status == 200 and "content-encoding" not in fields and "vary" not in fields
        assert "cache-control" not in fields


def test_corpus_changes_on_command_with_its_validators_and_cache_control() -> None:
    with ServerThread(ServeConfig(files=2)) as url:
        before = head(f"{url}/files/file-00000.bin")[1]
        body = curl(f"{url}/files/file-00000.bin").stdout

        def put(change: dict) -> dict:
            data = json.dumps(change).encode()
            req = urllib.request.Request(f"{url}/_tulip/corpus", data=data, method="PUT")
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.load(resp)

        assert put({"cache_control": "no-store"}) == {"version": 0, "cache_control": "no-store"}
        after_cc = head(f"{url}/files/file-00000.bin")[1]
        assert after_cc["cache-control"] == "no-store" and after_cc["etag"] == before["etag"]
        assert put({"version": 2}) == {"version": 2, "cache_control": "no-store"}
        after = head(f"{url}/files/file-00000.bin")[1]
        assert after["etag"] != before["etag"] and after["last-modified"] != before["last-modified"]
        assert curl(f"{url}/files/file-00000.bin").stdout != body
        bad = curl(
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            "-d",
            '{"colour": 1}',
            f"{url}/_tulip/corpus",
        )
        assert bad.stdout == b"400"


def test_bad_control_and_query_values_are_400_not_500() -> None:
    with ServerThread(ServeConfig(files=1)) as url:
        big = '{"version": 99999999999999999999}'
        answer = curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-d", big, f"{url}/_tulip/corpus")
        assert answer.stdout == b"400"
        for query in (
            "delay=nan",
            "status=503&retry_after=inf",
            "delay=inf",
            "reset=1e9",
            "status=199",
            "cut=nan",
        ):
            answer = curl("-o", "/dev/null", "-w", "%{http_code}", f"{url}/files/file-00000.bin?{query}")
            assert answer.stdout == b"400", query
        assert head(f"{url}/files/file-00000.bin")[0] == 200  # and the files still answer


def test_a_folder_without_its_slash_is_redirected(server: str) -> None:
    status, fields = head(f"{server}/files/sub")
    assert status == 301 and fields["location"] == "/files/sub/"
    assert head(f"{server}/files/nothing")[0] == 404


def test_a_cache_control_that_would_split_the_header_is_refused_at_start() -> None:
    bad = "max-age=1\r\nX-Injected: 1"
    done = subprocess.run(
        [sys.executable, "-m", "aiotulip", "serve", "--port", "0", "--cache-control", bad],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
