"""A file already under the name is taken for done only when something vouches for it: tulip's own
record (it wrote the file for this URL, unchanged since), a checksum or size the input gives, the
server's size and date (a finished download by another tool), or the user's word (--no-clobber).
Anybody else's file is kept byte for byte, and the download saved beside it (NAME.1.EXT), as wget2
and aria2c do; only --overwrite replaces it."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.download.conformance.scripted import Request, Scripted, response
from tests.needs import binary
from tests.terminal import tulip_cmd

BODY = random.Random(7).randbytes(150_000)  # (past the size read whole: the part file's path)
SMALL = b"small file\n"  # (read whole: the batch writer's path)
DATE = "Tue, 01 Jan 2030 00:00:00 GMT"
JUNK = b"junk\n"
ENGINES = ["sequential", "threads", "asyncio"]


def _file(r: Request) -> list[object]:
    body = SMALL if r.path.startswith("/small") else BODY
    return [response("200 OK", body, f"Last-Modified: {DATE}", 'ETag: "v1"')]


ROUTES = {"/f.bin": _file, "/small.txt": _file}


def fetch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = tulip_cmd("fetch", "--no-netrc", "--noproxy", "*", "--json", "r.json", *args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)


def report(cwd: Path) -> dict[str, object]:
    [item] = json.loads((cwd / "r.json").read_text())["items"]
    return item  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["f.bin", "small.txt"])
@pytest.mark.parametrize("engine", ENGINES)
def test_a_strangers_file_is_kept_and_the_download_saved_beside_it(
    tmp_path: Path, engine: str, name: str
) -> None:
    body = SMALL if name == "small.txt" else BODY
    stem, ext = name.split(".")
    (tmp_path / name).write_bytes(JUNK)
    (tmp_path / f"{stem}.1.{ext}").write_bytes(JUNK)  # (the first free name is the next one)
    with Scripted(ROUTES) as server:
        proc = fetch(f"{server.base}/{name}", "--engine", engine, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / name).read_bytes() == JUNK
        assert (tmp_path / f"{stem}.1.{ext}").read_bytes() == JUNK
        assert (tmp_path / f"{stem}.2.{ext}").read_bytes() == body
        assert proc.stdout.splitlines() == [f"saved {stem}.2.{ext} ({proc.stdout.split('(')[1].strip()}"]
        item = report(tmp_path)
        assert (item["status"], item["path"]) == ("ok", f"./{stem}.2.{ext}")
        assert "kept" in str(item["reason"])

        # The next run finds its own file there: done, with no request. The stranger's is still junk.
        asked = len(server.requests)
        proc = fetch(f"{server.base}/{name}", "--engine", engine, "-o", f"{stem}.2.{ext}", cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith(f"skipped {stem}.2.{ext}"), proc.stdout
        assert len(server.requests) == asked
        assert (tmp_path / name).read_bytes() == JUNK

        # ... and so does a run given only the URL (it downloaded the file again in full, every time,
        # and renamed it over itself): past the stranger's and the junk, to its own, unasked.
        proc = fetch(f"{server.base}/{name}", "--engine", engine, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"skipped {stem}.2.{ext} (already complete, beside {name}"), proc.stdout
        assert len(server.requests) == asked
        item = report(tmp_path)
        assert (item["status"], item["path"], item["sha256"]) == (
            "skipped", f"./{stem}.2.{ext}", hashlib.sha256(body).hexdigest()
        )  # fmt: skip

        # Edited since, it is nobody's to replace: kept, and the download goes to the next name.
        with open(tmp_path / f"{stem}.2.{ext}", "ab") as f:
            f.write(b"!")
        proc = fetch(f"{server.base}/{name}", "--engine", engine, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith(f"saved {stem}.3.{ext}"), proc.stdout
        assert (tmp_path / f"{stem}.2.{ext}").read_bytes() == body + b"!"
        assert (tmp_path / f"{stem}.3.{ext}").read_bytes() == body
        assert (tmp_path / name).read_bytes() == (tmp_path / f"{stem}.1.{ext}").read_bytes() == JUNK


def _changed(r: Request) -> list[object]:
    """BODY at first, then a longer version dated a day later."""
    if r.nth == 0:
        return [response("200 OK", BODY, f"Last-Modified: {DATE}", 'ETag: "v1"')]
    return [response("200 OK", BODY + b"v2", "Last-Modified: Wed, 02 Jan 2030 00:00:00 GMT", 'ETag: "v2"')]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("how", ["size", "-N"])
def test_this_urls_file_beside_a_strangers_is_the_one_fetched_again(
    tmp_path: Path, engine: str, how: str
) -> None:
    """Found by the attack pass: downloaded again (the input's size no longer its file's, or -N and
    a newer copy on the server), the file went to NAME.1.EXT but the Report, the hooks' path and
    --save-failed named the stranger's NAME.EXT; and -N wrote over the stranger's file, leaving
    this URL's own as a copy it never refreshed."""
    (tmp_path / "f.bin").write_bytes(JUNK)
    with Scripted({"/f.bin": _changed}) as server:
        url = f"{server.base}/f.bin"
        assert fetch(url, "--engine", engine, cwd=tmp_path).returncode == 0
        if how == "size":
            (tmp_path / "in.txt").write_text(f"{url}\n  size={len(BODY) + 2}\n")
            proc = fetch("-i", "in.txt", "--engine", engine, cwd=tmp_path)
        else:
            proc = fetch(url, "-N", "--engine", engine, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("saved f.1.bin"), proc.stdout + proc.stderr
    item = report(tmp_path)
    assert (item["status"], item["path"], item["bytes"]) == ("ok", "./f.1.bin", len(BODY) + 2)
    assert item["reason"] == "beside f.bin, which is not from this URL"
    assert (tmp_path / "f.bin").read_bytes() == JUNK
    assert (tmp_path / "f.1.bin").read_bytes() == BODY + b"v2"
    assert {p.name for p in tmp_path.iterdir()} - {"in.txt"} == {"f.1.bin", "f.bin", "r.json"}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_folder_under_the_name_leaves_the_download_beside_it_found_again(
    tmp_path: Path, engine: str
) -> None:
    """A folder (or a link) where the URL's file would go: the download is saved as NAME.1.EXT, and
    the next run finds it there, with no request, as beside somebody else's file."""
    (tmp_path / "f.bin").mkdir()
    with Scripted(ROUTES) as server:
        first = fetch(f"{server.base}/f.bin", "--engine", engine, cwd=tmp_path)
        assert first.returncode == 0 and first.stdout.startswith("saved f.1.bin"), first.stdout + first.stderr
        again = fetch(f"{server.base}/f.bin", "--engine", engine, cwd=tmp_path)
        assert again.returncode == 0 and again.stdout.startswith("skipped f.1.bin"), again.stdout
        assert len(server.requests) == 1
    assert (tmp_path / "f.bin").is_dir() and (tmp_path / "f.1.bin").read_bytes() == BODY


@pytest.mark.parametrize("engine", ENGINES)
def test_tulips_own_file_is_done_until_it_is_changed(tmp_path: Path, engine: str) -> None:
    with Scripted(ROUTES) as server:
        url = f"{server.base}/f.bin"
        assert fetch(url, "--engine", engine, cwd=tmp_path).returncode == 0
        proc = fetch(url, "--engine", engine, cwd=tmp_path)
        assert proc.stdout.startswith("skipped f.bin (already complete"), proc.stdout
        assert len(server.requests) == 1

        with open(tmp_path / "f.bin", "ab") as f:  # edited here: no longer what tulip finished
            f.write(b"!")
        proc = fetch(url, "--engine", engine, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith("saved f.1.bin"), proc.stdout
        assert (tmp_path / "f.bin").read_bytes() == BODY + b"!"
        assert (tmp_path / "f.1.bin").read_bytes() == BODY


def test_another_tools_finished_download_is_recognised_by_size_and_date(tmp_path: Path) -> None:
    curl = binary("curl")
    with Scripted(ROUTES) as server:
        url = f"{server.base}/f.bin"
        subprocess.run([curl, "-sS", "-R", "-o", "f.bin", url], check=True, cwd=tmp_path, timeout=30)
        proc = fetch(url, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("skipped f.bin (the same size and date as the server's copy"), (
            proc.stdout
        )
        assert report(tmp_path)["sha256"] == hashlib.sha256(BODY).hexdigest()
        assert sorted(os.listdir(tmp_path)) == ["f.bin", "r.json"]


def test_the_input_vouches_with_a_checksum_or_size(tmp_path: Path) -> None:
    with Scripted(ROUTES) as server:
        (tmp_path / "f.bin").write_bytes(BODY)  # the right bytes, but not tulip's and no date
        listing = tmp_path / "in.txt"
        listing.write_text(f"{server.base}/f.bin\n  sha256={hashlib.sha256(BODY).hexdigest()}\n")
        proc = fetch("-i", "in.txt", cwd=tmp_path)
        assert proc.stdout.startswith("skipped f.bin (already complete"), proc.stdout
        assert server.requests == []

        listing.write_text(f"{server.base}/f.bin\n  size={len(BODY)}\n")
        assert fetch("-i", "in.txt", cwd=tmp_path).stdout.startswith("skipped f.bin")
        assert server.requests == []


def test_overwrite_replaces_and_no_clobber_keeps(tmp_path: Path) -> None:
    with Scripted(ROUTES) as server:
        url = f"{server.base}/f.bin"
        (tmp_path / "f.bin").write_bytes(JUNK)
        proc = fetch(url, "--no-clobber", cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith("skipped f.bin"), proc.stdout
        assert (tmp_path / "f.bin").read_bytes() == JUNK and server.requests == []

        proc = fetch(url, "--overwrite", cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith("saved f.bin"), proc.stdout
        assert (tmp_path / "f.bin").read_bytes() == BODY
        assert sorted(os.listdir(tmp_path)) == ["f.bin", "r.json"]

        proc = fetch(url, "--overwrite", "--no-clobber", cwd=tmp_path)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("engine", ["asyncio", "threads", "sequential"])
def test_a_file_that_appears_while_the_download_runs_is_kept(tmp_path: Path, engine: str) -> None:
    """Absent when the run looked, there when it renames (a user, another program): never written
    over — the download goes beside it and the Report says where and why."""
    import threading
    import time

    from aiotulip import fetch as api_fetch
    from aiotulip.serve import Faults, ServeConfig, ServerThread

    out = tmp_path / "out"
    out.mkdir()

    def plant() -> None:
        time.sleep(0.5)
        (out / "file-00000.bin").write_text("FOREIGN")

    with ServerThread(
        ServeConfig(files=1, size=(300_000, 300_000), faults=Faults(bandwidth=200_000))
    ) as base:
        planter = threading.Thread(target=plant)
        planter.start()
        report = api_fetch([f"{base}/files/file-00000.bin"], out, engine=engine)
        planter.join()
    (result,) = report.items
    assert result.status == "ok" and result.path.endswith("file-00000.1.bin")
    assert result.reason is not None and "saved beside it" in result.reason
    assert (out / "file-00000.bin").read_text() == "FOREIGN"
    assert (out / "file-00000.1.bin").stat().st_size == 300_000


@pytest.mark.parametrize("name", ["f.bin", "small.txt"])
def test_an_etag_too_long_to_keep_leaves_minus_n_asking_by_date(tmp_path: Path, name: str) -> None:
    """The record of a finished file holds at most 1 KB: an ETag longer than that is not kept at all
    (a cut one never matches again, and -N fetched the file on every run); -N then asks by date and
    gets its 304, and the file is still tulip's own."""
    etag = '"' + "e" * 1500 + '"'

    def answer(r: Request) -> list[object]:
        body = SMALL if r.path.startswith("/small") else BODY
        asked = r.headers.get("if-none-match")
        if (asked == etag) or (asked is None and r.headers.get("if-modified-since") == DATE):
            return [response("304 Not Modified", b"", f"ETag: {etag}", length=None)]
        return [response("200 OK", body, f"Last-Modified: {DATE}", f"ETag: {etag}")]

    with Scripted({"/f.bin": answer, "/small.txt": answer}) as server:
        first = fetch(f"{server.base}/{name}", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        again = fetch(f"{server.base}/{name}", "-N", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert report(tmp_path)["status"] == "skipped"
        assert report(tmp_path)["reason"] == "not modified"
        asked = [r for r in server.requests if r.path == f"/{name}"]
    assert "if-none-match" not in asked[-1].headers
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "r.json"])
