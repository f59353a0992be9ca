"""tulip fetch -M: Metalink 4 and 3 files, read into names, sizes, hashes and ordered mirrors; and
what a hostile Metalink cannot do."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from aiotulip.download.metalink import parse_metalink
from aiotulip.serve import ServeConfig, ServerThread
from tests.terminal import tulip_cmd

NS4 = "urn:ietf:params:xml:ns:metalink"
NS3 = "http://www.metalinker.org/"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(tulip_cmd("fetch", *args), capture_output=True, text=True, timeout=timeout)


def _files(base: str) -> list[dict]:
    with urllib.request.urlopen(f"{base}/manifest.json", timeout=30) as resp:
        files = json.load(resp)["files"]
    for f in files:
        with urllib.request.urlopen(base + f["url"], timeout=30) as resp:
            f["md5"] = hashlib.md5(resp.read()).hexdigest()
    return files


def test_metalink_4_names_sizes_hashes_and_mirrors_by_priority(tmp_path: Path) -> None:
    with ServerThread(ServeConfig(files=3, size=(1000, 50_000))) as base:
        files = _files(base)
        a, b, c = files
        doc = tmp_path / "set.meta4"
        doc.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="{NS4}">
  <generator>test</generator>
  <file name="first.bin">
    <size>{a["size"]}</size>
    <hash type="sha-256">{a["sha256"].upper()}</hash>
    <hash type="md5">{a["md5"]}</hash>
    <hash type="sha-384">{"0" * 96}</hash>
    <pieces length="1024" type="sha-1"><hash>not-a-digest</hash></pieces>
    <url priority="3">{base}/files/third-choice</url>
    <url priority="1" location="de">{base}{a["url"]}</url>
    <url>{base}/files/no-priority</url>
    <url priority="2">{base}/files/second-choice</url>
    <metaurl mediatype="torrent" priority="1">{base}/x.torrent</metaurl>
  </file>
  <file name="sub/dir/second.bin">
    <hash type="sha-256">{b["sha256"]}</hash>
    <url>{base}{b["url"]}</url>
    <url>magnet:?xt=urn:btih:abc</url>
  </file>
  <file name="../../escape.bin">
    <url>{base}{c["url"]}</url>
    <hash type="md5">{"0" * 32}</hash>
  </file>
</metalink>
""")
        entries = parse_metalink(doc.read_bytes(), "set.meta4")
        assert [e.out for e in entries] == ["first.bin", "sub/dir/second.bin", "_/_/escape.bin"]
        first = entries[0]
        assert first.url == base + a["url"] and first.size == a["size"] and first.sha256 == a["sha256"]
        assert first.mirrors == (f"{base}/files/second-choice", f"{base}/files/third-choice",
                                 f"{base}/files/no-priority")  # fmt: skip
        assert first.checksums == (("md5", a["md5"]),)  # sha-384 and the pieces' hashes left aside
        assert entries[1].mirrors == ()  # the magnet: is not tulip's
        out = tmp_path / "out"
        proc = run("-M", str(doc), "-d", str(out), "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 1, proc.stderr  # the third file's md5 is wrong
    items = {
        Path(i["path"]).relative_to(out).as_posix(): i
        for i in json.loads((tmp_path / "r.json").read_text())["items"]
    }
    assert items["first.bin"]["status"] == "ok" and items["sub/dir/second.bin"]["status"] == "ok"
    assert items["_/_/escape.bin"]["status"] == "failed" and "md5" in items["_/_/escape.bin"]["error"]
    assert hashlib.sha256((out / "first.bin").read_bytes()).hexdigest() == a["sha256"]
    assert not (tmp_path / "escape.bin").exists() and not (out.parent.parent / "escape.bin").exists()


def test_metalink_3_with_preference_beside_urls_and_an_input_file(tmp_path: Path) -> None:
    with ServerThread(ServeConfig(files=2, size=(2000, 2000))) as base:
        a, b = _files(base)
        doc = tmp_path / "old.metalink"
        doc.write_text(f"""<?xml version="1.0"?>
<metalink version="3.0" xmlns="{NS3}">
  <files>
    <file name="{a["name"]}">
      <size>{a["size"]}</size>
      <verification>
        <hash type="sha256">{a["sha256"]}</hash>
        <hash type="md5">{a["md5"]}</hash>
        <pieces type="sha1" length="1024"><hash piece="0">zz</hash></pieces>
      </verification>
      <resources>
        <url type="http" preference="10">{base}/files/worse</url>
        <url type="bittorrent" preference="100">{base}/x.torrent</url>
        <url type="http" preference="90">{base}{a["url"]}</url>
      </resources>
    </file>
  </files>
</metalink>
""")
        entries = parse_metalink(doc.read_bytes())
        assert entries[0].url == base + a["url"] and entries[0].mirrors == (f"{base}/files/worse",)
        listing = tmp_path / "in.txt"
        listing.write_text(f"{base}{b['url']}\n  out=b.bin\n")
        proc = run("--metalink", str(doc), "-i", str(listing), "-d", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([a["name"], "b.bin"])


def _deep(depth: int) -> bytes:
    return f'<metalink xmlns="{NS4}">'.encode() + b"<a>" * depth + b"</a>" * depth + b"</metalink>"


BOMB = f"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<metalink xmlns="{NS4}"><file name="&lol3;"><url>http://127.0.0.1:9/x</url></file></metalink>
""".encode()
EXTERNAL = f"""<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<metalink xmlns="{NS4}"><file name="&xxe;"><url>http://127.0.0.1:9/x</url></file></metalink>
""".encode()
ONE_URL = "<url>http://127.0.0.1:9/x</url>"


def m4(inside: str, encoding: str = "utf-8") -> bytes:
    return f'<metalink xmlns="{NS4}">{inside}</metalink>'.encode(encoding)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (BOMB, "DTD"),
        (EXTERNAL, "DTD"),
        (b"<!doctype metalink>" + _deep(1), "DTD"),
        (_deep(10_000), "deeper than 16"),
        (b"not xml at all", "not well-formed"),
        (b"", "not well-formed"),
        (m4(f'<file name="x">{ONE_URL}'), "not well-formed"),
        (m4(f'<file name="&undefined;">{ONE_URL}</file>'), "not well-formed"),
        (m4(""), "no file"),
        (b'<metalink><file name="x"/></metalink>', "not a Metalink"),
        (b"<html><body>hi</body></html>", "not a Metalink"),
        (m4('<file name="a"></file>'), "no http"),
        (m4(f"<file>{ONE_URL}</file>"), "without a name"),
        (m4(f'<file name="/">{ONE_URL}</file>'), "no usable file name"),
        (m4(f'<file name="a"><size>-1</size>{ONE_URL}</file>'), "bad size"),
        (m4(f'<file name="a"><hash type="md5">abc</hash>{ONE_URL}</file>'), "bad md5"),
        (m4(f'<file name="a">{ONE_URL * 1001}</file>'), "more than 1000"),
        (m4('<file name="a"><url>http://h/a b</url></file>'), "malformed"),
        (m4(f'<file name="a">{ONE_URL}</file>', "utf-16"), "not UTF-8"),
        (m4(f'<file name="a">{ONE_URL}</file><file name="a"><url>http://127.0.0.1:9/y</url></file>'),
         "two items would write"),
    ],
)  # fmt: skip
def test_a_bad_or_hostile_metalink_is_one_line_and_exit_2(tmp_path: Path, data: bytes, message: str) -> None:
    doc = tmp_path / "bad.meta4"
    doc.write_bytes(data)
    started = time.monotonic()
    proc = run("-M", str(doc), "-d", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - started < 20
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_huge_or_wide_metalink_costs_little(tmp_path: Path) -> None:
    """33 MiB is refused unread; 28 MiB of seven million empty elements is refused at the millionth,
    read as a stream in bounded memory."""
    huge = tmp_path / "huge.meta4"
    huge.write_bytes(b" " * (33 * 1024 * 1024))
    proc = run("-M", str(huge), "-d", str(tmp_path / "a"))
    assert proc.returncode == 2 and "larger than 32 MiB" in proc.stderr
    wide = tmp_path / "wide.meta4"
    wide.write_bytes(m4(f'<file name="a">{ONE_URL}</file>' + "<j/>" * (7 * 1024 * 1024)))
    argv = tulip_cmd("fetch", "-M", str(wide), "-d", str(tmp_path / "b"))
    started = time.monotonic()
    measured = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, timeout=120
    )
    assert measured.returncode == 2 and "more than 1,000,000 elements" in measured.stderr
    assert time.monotonic() - started < 30
    peak_kib = int(measured.stderr.strip().splitlines()[-1])
    assert peak_kib < 300 * 1024  # (the file's 28 MiB once, and the interpreter; never a tree of them)


def test_many_files_in_one_metalink(tmp_path: Path) -> None:
    """Ten thousand files, each read and let go: the Entries come out in order."""
    inside = "".join(f'<file name="f{i}.bin"><size>{i}</size><url>http://127.0.0.1:9/f{i}</url></file>'
                     for i in range(10_000))  # fmt: skip
    entries = parse_metalink(m4(inside))
    assert [e.out for e in entries[:2]] == ["f0.bin", "f1.bin"] and entries[-1].size == 9_999
