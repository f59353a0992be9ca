"""Names and freshness, in every engine: collisions, layouts, Content-Disposition, -N and remote
mtimes, --compressed and --max-filesize — against tulip serve (which can rename, re-encode and change
its files on command)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from aiotulip import ENGINES, Entry, fetch
from aiotulip.errors import UsageError
from aiotulip.serve import ServeConfig, ServerThread
from tests.download.helpers import manifest


def stats(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/_tulip/stats", timeout=10) as response:
        return json.load(response)


def bump(base: str, version: int) -> None:
    request = urllib.request.Request(f"{base}/_tulip/corpus", data=json.dumps({"version": version}).encode(),
                                     method="PUT")  # fmt: skip
    urllib.request.urlopen(request, timeout=10).close()


def tulip(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiotulip", *map(str, args)], capture_output=True, text=True)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_urls_one_name_tell_the_user_what_to_do(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "aiotulip", "fetch", "http://127.0.0.1:1/dl?id=1",
                           "http://127.0.0.1:1/dl?id=2", "-d", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "--on-collision" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_collisions_numbered_or_by_query_and_duplicates_once(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2, size=(1000, 1000))) as base:
        files = manifest(base)
        a, b = (base + f["url"] for f in files)
        same_name = [f"{a}?v=1", f"{a}?v=2", f"{b}?x=%2Fetc"]
        numbered = fetch(same_name, tmp_path / "n", engine=engine, on_collision="number")
        again = fetch(same_name, tmp_path / "n", engine=engine, on_collision="number")
        by_query = fetch(same_name, tmp_path / "q", engine=engine, on_collision="query")
        before = stats(base)["requests"]
        twice = fetch([a, a, b], tmp_path / "d", engine=engine)
        fetched = stats(base)["requests"] - before
    name = files[0]["name"]
    stem, ext = name.rsplit(".", 1)
    assert [Path(r.path).name for r in numbered.items] == [name, f"{stem}.1.{ext}", files[1]["name"]]
    assert [Path(r.path).name for r in again.items] == [Path(r.path).name for r in numbered.items]
    assert [r.status for r in again.items] == ["skipped"] * 3  # a rerun maps each URL to the same file
    assert [Path(r.path).name for r in by_query.items] == [
        f"{name}?v=1",
        f"{name}?v=2",
        f"{files[1]['name']}?x=_etc",
    ]
    assert [(r.status, r.attempts) for r in twice.items] == [("ok", 1), ("ok", 0), ("ok", 1)]
    assert fetched == 2 and sha(tmp_path / "d" / name) == files[0]["sha256"]


@pytest.mark.parametrize("engine", ENGINES)
def test_tree_layouts(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=1, size=(500, 500))) as base:
        url = base + manifest(base)[0]["url"]
        port = base.rsplit(":", 1)[1]
        tree = fetch([url], tmp_path / "t", engine=engine, layout="tree")
        cut = fetch([url], tmp_path / "c", engine=engine, layout="tree", cut_dirs=1, no_host_directories=True)
    assert (
        Path(tree.items[0].path).relative_to(tmp_path / "t").as_posix()
        == f"127.0.0.1:{port}/files/file-00000.bin"
    )
    assert Path(cut.items[0].path).relative_to(tmp_path / "c").as_posix() == "file-00000.bin"


@pytest.mark.parametrize("engine", ENGINES)
def test_tree_names_resolve_dot_segments_bracket_ipv6_and_take_one_unicode_spelling(
    tmp_path: Path, engine: str
) -> None:
    with ServerThread(ServeConfig(host="::1", files=1, size=(500, 500))) as base:
        port = base.rsplit(":", 1)[1]
        report = fetch([f"{base}/files/file-00000.bin"], tmp_path, engine=engine, layout="tree")
    assert report.items[0].status == "ok", report.items[0].error
    assert Path(report.items[0].path).relative_to(tmp_path).as_posix() == f"[::1]:{port}/files/file-00000.bin"
    from aiotulip.download.names import Naming, name_from_url

    composed, decomposed = "http://h/caf%C3%A9.txt", "http://h/cafe%CC%81.txt"  # NFC and NFD of café
    assert name_from_url(composed) == name_from_url(decomposed) == "caf\u00e9.txt"
    tree = Naming(layout="tree")
    assert tree.name("http://h/a/b/../../../x.bin") == "h/x.bin"  # (never a "_" folder for a dot segment)
    assert (
        tree.name("http://h/files/./sub/../f.bin") == tree.name("http://h/files/%2e/f.bin") == "h/files/f.bin"
    )
    assert name_from_url("http://h/a/b/..") == "index.html"


@pytest.mark.parametrize("engine", ENGINES)
def test_content_disposition_names_the_file(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=3, size=(100_000, 100_000))) as base:
        files = manifest(base)
        urls = [
            base + files[0]["url"] + "?disposition=report.csv",
            base + files[1]["url"] + "?disposition=" + "menu%20caf%C3%A9.pdf",
            base + files[2]["url"] + "?disposition=..%2F..%2Fevil.txt",
        ]
        named = fetch(urls, tmp_path / "a", engine=engine, content_disposition=True)
        plain = fetch(urls, tmp_path / "b", engine=engine)
        clash = fetch([urls[0], base + "/files/file-00001.bin?disposition=file-00000.bin"], tmp_path / "c",
                      engine=engine, content_disposition=True, on_collision="number")  # fmt: skip
    assert [Path(r.path).name for r in named.items] == ["report.csv", "menu café.pdf", "_.._evil.txt"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "_.._evil.txt",
        "menu café.pdf",
        "report.csv",
    ]
    assert sha(tmp_path / "a" / "report.csv") == files[0]["sha256"]
    assert [Path(r.path).name for r in plain.items] == [f["name"] for f in files]
    assert [Path(r.path).name for r in clash.items] == ["report.csv", "file-00000.1.bin"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_name_the_server_gives_beside_a_strangers_file_is_numbered(tmp_path: Path, engine: str) -> None:
    """The server names the file report.csv and a report.csv of somebody else's is there: it is kept
    and the download saved as report.1.csv, as the URL's own name would be and as wget2 does
    (--on-collision is about two URLs of one run). The item failed once, its whole body come; a
    rerun writes its own report.1.csv again, and numbers past a name another URL of the run holds."""
    (tmp_path / "report.csv").write_bytes(b"somebody's\n")
    with ServerThread(ServeConfig(files=3, size=(100_000, 100_000))) as base:
        files = manifest(base)
        url = base + files[0]["url"] + "?disposition=report.csv"
        first = fetch([url], tmp_path, engine=engine, content_disposition=True)
        again = fetch([url], tmp_path, engine=engine, content_disposition=True)
        (tmp_path / "data.csv").write_bytes(b"somebody's\n")
        clash = fetch([base + files[1]["url"] + "?disposition=data.1.csv",
                       base + files[2]["url"] + "?disposition=data.csv"],
                      tmp_path, engine="sequential", content_disposition=True)  # fmt: skip
    (item,) = first.items
    assert (item.status, Path(item.path).name, item.sha256) == ("ok", "report.1.csv", files[0]["sha256"])
    assert item.reason == "report.csv was there, not from this URL: kept, and this saved beside it"
    assert [(r.status, Path(r.path).name, r.reason) for r in again.items] == [("ok", "report.1.csv", None)]
    assert [(r.status, Path(r.path).name) for r in clash.items] == [
        ("ok", "data.1.csv"),
        ("ok", "data.2.csv"),
    ]
    assert (tmp_path / "report.csv").read_bytes() == (tmp_path / "data.csv").read_bytes() == b"somebody's\n"
    assert sha(tmp_path / "data.2.csv") == files[2]["sha256"]


def test_urls_of_one_name_whose_servers_name_them_are_not_refused(tmp_path: Path) -> None:
    """`download?id=1` and `download?id=2` with --content-disposition, the typical use, were refused
    (exit 2: two items would write 'download'); the servers' names tell them apart, and where they
    do not, the names are numbered, as wget2 numbers them."""
    with ServerThread(ServeConfig(files=2, size=(1000, 1000))) as base:
        files = manifest(base)
        url = base + files[0]["url"]
        named = fetch([f"{url}?disposition=one.csv", f"{url}?disposition=two.csv"], tmp_path / "a",
                      content_disposition=True)  # fmt: skip
        same = fetch([f"{url}?disposition=one.csv", f"{url}?disposition=one.csv&x=1", url], tmp_path / "b",
                     content_disposition=True)  # fmt: skip
        with pytest.raises(UsageError, match="two items would write"):  # (without it: refused, as ever)
            fetch([f"{url}?disposition=one.csv", f"{url}?disposition=two.csv"], tmp_path / "c")
    assert [(r.status, Path(r.path).name) for r in named.items] == [("ok", "one.csv"), ("ok", "two.csv")]
    assert sorted(Path(r.path).name for r in same.items) == ["file-00000.2.bin", "one.1.csv", "one.csv"]
    assert {sha(Path(r.path)) for r in same.items} == {files[0]["sha256"]}


@pytest.mark.parametrize("engine", ENGINES)
def test_timestamping_asks_again_and_takes_only_what_changed(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2, size=(2_000, 200_000))) as base:
        first = manifest(base)
        urls = [base + f["url"] for f in first]
        fetch(urls, tmp_path, engine=engine)
        mtimes = [os.stat(tmp_path / f["name"]).st_mtime for f in first]
        unchanged = fetch(urls, tmp_path, engine=engine, timestamping=True)
        plain_rerun = fetch(urls, tmp_path, engine=engine)
        bump(base, 1)
        second = manifest(base)
        changed = fetch(urls, tmp_path, engine=engine, timestamping=True)
    assert mtimes == [1_700_000_000.0] * 2  # the server's Last-Modified
    assert [(r.status, r.reason, r.attempts) for r in unchanged.items] == [("skipped", "not modified", 1)] * 2
    assert [r.sha256 for r in unchanged.items] == [f["sha256"] for f in first]
    assert [r.status for r in plain_rerun.items] == ["skipped"] * 2  # without -N: no request at all
    assert [r.status for r in changed.items] == ["ok"] * 2
    for f in second:
        assert (
            sha(tmp_path / f["name"])
            == f["sha256"]
            != next(g["sha256"] for g in first if g["name"] == f["name"])
        )
        assert os.stat(tmp_path / f["name"]).st_mtime == 1_700_000_000.0 + 3600


@pytest.mark.parametrize("engine", ENGINES)
def test_timestamping_without_a_kept_etag_asks_by_date(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2, size=(2_000, 200_000))) as base:
        files = manifest(base)
        urls = [base + f["url"] for f in files]
        fetch(urls, tmp_path, engine=engine)
        for f in files:  # its record without the ETag: as when the server had none for it
            record = os.getxattr(tmp_path / f["name"], "user.tulip.source")
            assert len(record.split(b" ")) == 4  # tag, size, mtime and the ETag: one attribute
            os.setxattr(tmp_path / f["name"], "user.tulip.source", b" ".join(record.split(b" ")[:3]))
        os.utime(tmp_path / files[1]["name"], (1_600_000_000, 1_600_000_000))  # older than the server's
        before = stats(base)["requests"]
        report = fetch(urls, tmp_path, engine=engine, timestamping=True)
        asked = stats(base)["requests"] - before
    assert [(r.status, r.reason) for r in report.items] == [("skipped", "not modified"), ("ok", None)]
    assert asked == 2
    assert os.stat(tmp_path / files[1]["name"]).st_mtime == 1_700_000_000.0


@pytest.mark.parametrize("engine", ENGINES)
def test_compressed_saves_decoded_bytes_and_without_it_says_so(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2, size=(300_000, 300_000))) as base:
        files = manifest(base)
        urls = [base + f["url"] + "?encoding=gzip" for f in files]
        decoded = fetch(urls, tmp_path / "a", engine=engine, compressed=True)
        raw = fetch(urls, tmp_path / "b", engine=engine)
    assert [(r.status, r.sha256, r.content_encoding) for r in decoded.items] == [
        ("ok", f["sha256"], None) for f in files
    ]
    assert [r.content_encoding for r in raw.items] == ["gzip", "gzip"]
    assert [r.sha256 for r in raw.items] == [sha(tmp_path / "b" / f["name"]) for f in files]
    assert (
        gzip.decompress((tmp_path / "b" / files[0]["name"]).read_bytes())
        == (tmp_path / "a" / files[0]["name"]).read_bytes()
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_max_filesize_stops_a_bomb_and_a_big_file(tmp_path: Path, engine: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "zeros.bin").write_bytes(b"\0" * 30_000_000)  # served gzipped: 30 KB that inflate to 30 MB
    (root / "big.bin").write_bytes(os.urandom(2_000_000))
    with ServerThread(ServeConfig(root=root)) as base:
        sources = [Entry(f"{base}/files/zeros.bin?encoding=gzip", out="bomb"), f"{base}/files/big.bin"]
        report = fetch(
            sources, tmp_path / "out", engine=engine, compressed=True, max_filesize=1_000_000, retries=0
        )
    assert [(r.status, r.error_kind) for r in report.items] == [
        ("failed", "integrity"),
        ("failed", "integrity"),
    ]
    assert all("max-filesize" in (item.error or "") for item in report.items)
    assert not (tmp_path / "out" / "bomb").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.stat().st_size > 1_100_000]


@pytest.mark.parametrize(("engine", "transport"), [(e, "auto") for e in ENGINES] + [("asyncio", "lean")])
def test_a_bomb_stops_at_the_ratio_without_max_filesize(tmp_path: Path, engine: str, transport: str) -> None:
    """No --max-filesize: 40 KB of gzip that would inflate to 40 MB stop at --max-ratio's bound
    (200 times what came, plus a mebibyte), fail at once (asking again gets the same bomb) and leave
    no part that no resume could use; ordinary gzipped data (a few times smaller) is saved; with
    --max-ratio 0 the bomb is saved whole."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "zeros.bin").write_bytes(b"\0" * 40_000_000)
    text = b"".join(b"line %d of a log that compresses well\n" % i for i in range(200_000))
    (root / "log.txt").write_bytes(text)
    with ServerThread(ServeConfig(root=root)) as base:
        bomb, log = f"{base}/files/zeros.bin?encoding=gzip", f"{base}/files/log.txt?encoding=gzip"
        report = fetch([bomb, log], tmp_path / "out", engine=engine, transport=transport, compressed=True)
        lifted = fetch([bomb], tmp_path / "lifted", engine=engine, transport=transport, compressed=True,
                       max_ratio=0)  # fmt: skip
    bombed, logged = report.items
    assert (bombed.status, bombed.error_kind, bombed.attempts) == ("failed", "integrity", 1)
    assert "inflates past 200 times" in (bombed.error or "") and "--max-ratio" in (bombed.error or "")
    assert (logged.status, logged.sha256) == ("ok", hashlib.sha256(text).hexdigest())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["log.txt"]  # no part, no bomb
    assert lifted.items[0].status == "ok" and (tmp_path / "lifted" / "zeros.bin").stat().st_size == 40_000_000


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_named_as_compressed_keeps_its_bytes(tmp_path: Path, engine: str) -> None:
    """A .tar.gz sent with Content-Encoding: gzip (Apache's AddEncoding) is the file itself: kept
    as sent with --compressed too (wget's rule), while a .txt so sent is decoded."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "pack.tar").write_bytes(b"tar bytes " * 5000)
    with ServerThread(ServeConfig(root=root)) as base:
        sources = [Entry(f"{base}/files/pack.tar?encoding=gzip", out="pack.tar.gz"),
                   Entry(f"{base}/files/pack.tar?encoding=gzip", out="pack.txt")]  # fmt: skip
        report = fetch(sources, tmp_path / "out", engine=engine, compressed=True)
    kept, decoded = report.items
    assert (kept.status, kept.content_encoding, decoded.status, decoded.content_encoding) == (
        "ok",
        "gzip",
        "ok",
        None,
    )
    assert gzip.decompress((tmp_path / "out" / "pack.tar.gz").read_bytes()) == b"tar bytes " * 5000
    assert (tmp_path / "out" / "pack.txt").read_bytes() == b"tar bytes " * 5000


@pytest.mark.parametrize("engine", ENGINES)
def test_a_manifest_checks_the_decoded_bytes_and_bounds_them(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2, size=(300_000, 300_000))) as base:
        files = manifest(base)
        gz = [base + f["url"] + "?encoding=gzip" for f in files]
        sources = [
            Entry(gz[0], sha256=files[0]["sha256"], size=files[0]["size"]),  # the decoded file's
            Entry(gz[1], out="wrong", sha256=files[0]["sha256"]),  # another file's checksum
            Entry(gz[1], out="short", size=1_000),  # the manifest says 1,000 bytes: inflate no further
        ]
        report = fetch(sources, tmp_path, engine=engine, compressed=True, retries=1)
    rows = [(r.status, r.error_kind, r.attempts) for r in report.items]
    assert rows == [("ok", None, 1), ("failed", "integrity", 2), ("failed", "integrity", 1)]
    assert "sha256 mismatch" in (report.items[1].error or "")
    assert "expected 1000" in (report.items[2].error or "")
    assert sorted(p.name for p in tmp_path.iterdir()) == [files[0]["name"]]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_server_name_survives_a_retry_and_a_resume(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2, size=(300_000, 300_000))) as base:
        files = manifest(base)
        cut = f"{base}{files[0]['url']}?disposition=late.txt&truncate=1&fail=1"  # the first answer cut short
        report = fetch([cut], tmp_path / "a", engine=engine, content_disposition=True, retries=2)
        # A part left by a run without --content-disposition, resumed by one with it: the 206 names it.
        url = f"{base}{files[1]['url']}?disposition=nice.bin"
        with urllib.request.urlopen(url, timeout=10) as response:
            whole, etag = response.read(), response.headers["ETag"]
        (tmp_path / "b").mkdir()
        part = tmp_path / "b" / f".{files[1]['name']}.tulip-part"
        part.write_bytes(whole[:100_000])
        os.setxattr(part, "user.tulip.validator", etag.encode())
        os.setxattr(part, "user.tulip.total", str(len(whole)).encode())  # (as a run of it keeps them)
        resumed = fetch([url], tmp_path / "b", engine=engine, content_disposition=True)
    assert [(r.status, Path(r.path).name, r.attempts) for r in report.items] == [("ok", "late.txt", 2)]
    assert sha(tmp_path / "a" / "late.txt") == files[0]["sha256"]
    assert [(r.status, Path(r.path).name, r.resumed_from) for r in resumed.items] == [
        ("ok", "nice.bin", 100_000)
    ]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["nice.bin"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_server_name_never_replaces_a_file_already_there(tmp_path: Path, engine: str) -> None:
    (tmp_path / "other.txt").write_text("mine\n")
    (tmp_path / "folder").mkdir()
    with ServerThread(ServeConfig(files=2, size=(1_000, 300_000))) as base:
        files = manifest(base)
        urls = [
            f"{base}{files[0]['url']}?disposition=other.txt",
            f"{base}{files[1]['url']}?disposition=folder",
        ]
        numbered = fetch(urls, tmp_path, engine=engine, content_disposition=True, retries=0)
        hidden = fetch([f"{base}{files[0]['url']}?disposition=.bashrc"], tmp_path / "h", engine=engine,
                       content_disposition=True)  # fmt: skip
        again = fetch(urls, tmp_path, engine=engine, content_disposition=True)
    # Numbered whatever --on-collision says (it is about two URLs of one run), as the URL's own name.
    assert [(r.status, Path(r.path).name) for r in numbered.items] == [
        ("ok", "other.1.txt"),
        ("ok", "folder.1"),
    ]
    assert (tmp_path / "other.txt").read_text() == "mine\n" and (tmp_path / "folder").is_dir()
    assert [Path(r.path).name for r in hidden.items] == ["bashrc"]  # never a hidden file from a server
    # A rerun finds the numbered files its own URLs wrote: they are replaced, not numbered again.
    assert [(r.status, Path(r.path).name) for r in again.items] == [("ok", "other.1.txt"), ("ok", "folder.1")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "folder.1",
        "h",
        "other.1.txt",
        "other.txt",
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_timestamping_fetches_again_a_file_changed_here(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=1, size=(200_000, 200_000))) as base:
        (entry,) = manifest(base)
        url = base + entry["url"]
        fetch([url], tmp_path, engine=engine)
        path = tmp_path / entry["name"]
        with path.open("r+b") as f:
            f.truncate(1_000)  # the kept ETag no longer speaks for these bytes
        report = fetch([url], tmp_path, engine=engine, timestamping=True)
    assert [(r.status, r.bytes, r.sha256) for r in report.items] == [("ok", 200_000, entry["sha256"])]


def test_the_same_url_twice_is_checked_against_every_line(tmp_path: Path) -> None:
    with ServerThread(ServeConfig(files=1, size=(5_000, 5_000))) as base:
        (entry,) = manifest(base)
        url = base + entry["url"]
        zeros = "0" * 64
        lines = f"{url}\n{url}#part\n  sha256={zeros}\n"
        (tmp_path / "list").write_text(lines)
        run = tulip("fetch", "-i", tmp_path / "list", "-d", tmp_path / "out", "--quiet", "--retries", "0")
        (tmp_path / "list2").write_text(f"{url}\n  sha256={entry['sha256']}\n{url}\n  sha256={zeros}\n")
        conflict = tulip("fetch", "-i", tmp_path / "list2", "-d", tmp_path / "out2")
        report = fetch([url, url + "#x", url.replace("/files/", "/files/./")], tmp_path / "out3")
    assert run.returncode == 1 and "sha256 mismatch" in run.stdout + run.stderr  # the second line's checksum
    assert conflict.returncode == 2 and "different sha256" in conflict.stderr
    assert [(r.status, r.attempts) for r in report.items] == [("ok", 1), ("ok", 0), ("ok", 0)]
    assert report.summary()["bytes"] == 5_000  # one download, however many lines asked for it


@pytest.mark.parametrize("engine", ENGINES)
def test_numbered_server_names_map_each_url_to_its_file_on_every_rerun(tmp_path: Path, engine: str) -> None:
    """Six URLs whose server names them all ``case.txt``, answering in a different order each run:
    four runs into one folder leave six files, and each URL's bytes stay in the file it got first."""
    import random as _random

    from tests.download.conformance.scripted import Pause, Request, Scripted, response

    bodies = {f"/u{n}": f"body of url {n}\n".encode() * (n + 1) for n in range(6)}
    order = _random.Random(11)

    def route(r: Request) -> list[object]:
        head = 'Content-Disposition: attachment; filename="case.txt"'
        return [Pause(order.random() * 0.05), response("200 OK", bodies[r.path], head)]

    where: dict[str, str] = {}
    with Scripted(dict.fromkeys(bodies, route)) as server:
        urls = [server.base + path for path in bodies]
        for _run in range(4):
            report = fetch(urls, tmp_path, engine=engine, concurrency=6, content_disposition=True,
                           on_collision="number", overwrite=False)  # fmt: skip
            assert [r.status for r in report.items] == ["ok"] * 6, [r.error for r in report.items]
            for url, result in zip(urls, report.items, strict=True):
                assert where.setdefault(url, result.path) == result.path, (url, result.path, where[url])
    assert sorted(os.listdir(tmp_path)) == sorted(["case.txt"] + [f"case.{n}.txt" for n in range(1, 6)])
    for url, path in where.items():
        assert Path(path).read_bytes() == bodies[url.removeprefix(server.base)]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_recorded_by_an_earlier_version_is_still_known(tmp_path: Path, engine: str) -> None:
    """Earlier versions kept the ETag in an attribute of its own beside the record: such a file is
    still tulip's own (a rerun skips it), and -N asks with that ETag — the server's own gets a 304,
    one the server no longer has gets the file again (asked by date alone, both would be 304s)."""
    with ServerThread(ServeConfig(files=2, size=(2_000, 200_000))) as base:
        files = manifest(base)
        urls = [base + f["url"] for f in files]
        fetch(urls, tmp_path, engine=engine)
        # as an earlier version left them: the second with an ETag the server no longer has
        for f, kept in zip(files, (None, b'"an-older-version"'), strict=True):
            path = tmp_path / f["name"]
            tag, size, mtime, etag = os.getxattr(path, "user.tulip.source").split(b" ", 3)
            os.setxattr(path, "user.tulip.source", b" ".join((tag, size, mtime)))
            os.setxattr(path, "user.tulip.etag", b" ".join((size, mtime, kept or etag)))
        plain = fetch(urls, tmp_path, engine=engine)
        fresh = fetch(urls, tmp_path, engine=engine, timestamping=True)
    assert [r.status for r in plain.items] == ["skipped"] * 2  # known as complete: no request at all
    assert [(r.status, r.reason) for r in fresh.items] == [("skipped", "not modified"), ("ok", None)]
    assert [sha(tmp_path / f["name"]) for f in files] == [f["sha256"] for f in files]
