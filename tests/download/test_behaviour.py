"""Retries, Retry-After, resume, skip, status accounting, names kept inside dest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from aiotulip import Entry, RetryPolicy, fetch
from aiotulip.serve import Faults, ServeConfig, ServerThread
from tests.download.helpers import assert_disk_matches, entries, manifest
from tests.terminal import tulip_cmd

ENGINES = ["sequential", "threads", "asyncio"]


def stats(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/_tulip/stats", timeout=10) as resp:
        return json.load(resp)


@pytest.mark.parametrize("engine", ENGINES)
def test_retry_after_is_honoured(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2)) as base:
        sources = [
            Entry(f"{base}/files/file-00000.bin?status=429&fail=1&retry_after=1", out="a"),
            Entry(f"{base}/files/file-00001.bin?status=503&fail=1&retry_after=1", out="b"),
        ]
        policy = RetryPolicy(retries=3, backoff=0.001, max_backoff=0.001)  # only Retry-After can make it wait
        report = fetch(sources, tmp_path, engine=engine, policy=policy)
    assert [(r.status, r.attempts) for r in report.items] == [("ok", 2), ("ok", 2)]
    assert all(r.elapsed >= 1.0 for r in report.items)


def test_too_long_retry_after_fails_at_once(tmp_path: Path) -> None:
    with ServerThread(ServeConfig(files=1)) as base:
        source = Entry(f"{base}/files/file-00000.bin?status=503&retry_after=3600", out="a")
        started = time.monotonic()
        report = fetch([source], tmp_path, policy=RetryPolicy(retries=3, max_retry_after=60))
    assert (report.items[0].status, report.items[0].attempts, report.items[0].error) == (
        "failed",
        1,
        "HTTP 503",
    )
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("engine", ENGINES)
def test_statuses_are_counted_right_after_earlier_failures(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=3)) as base:
        f = f"{base}/files"
        sources = [
            Entry(f"{f}/file-00000.bin?status=500", out="e1"),
            Entry(f"{f}/file-00000.bin?status=502", out="e2"),
            Entry(f"{f}/nope-1"),
            Entry(f"{f}/file-00001.bin?status=403", out="forbidden"),
            Entry(f"{f}/file-00001.bin?status=410", out="gone"),
            Entry(f"{f}/file-00001.bin"),
            Entry(f"{f}/nope-2"),
            Entry(f"{f}/file-00002.bin?status=400", out="bad"),
            Entry(f"{f}/file-00002.bin"),
        ]
        report = fetch(
            sources, tmp_path, engine=engine, concurrency=4, policy=RetryPolicy(retries=2, backoff=0.001)
        )
    got = [(r.status, r.attempts, r.error) for r in report.items]
    assert got == [
        ("failed", 3, "HTTP 500"),
        ("failed", 3, "HTTP 502"),
        ("not_found", 1, "HTTP 404"),
        ("failed", 1, "HTTP 403"),
        ("not_found", 1, "HTTP 410"),
        ("ok", 1, None),
        ("not_found", 1, "HTTP 404"),
        ("failed", 1, "HTTP 400"),
        ("ok", 1, None),
    ]
    assert dict(report.counts()) == {"ok": 2, "skipped": 0, "not_found": 3, "failed": 4, "interrupted": 0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file-00001.bin", "file-00002.bin"]


@pytest.mark.parametrize("engine", ENGINES)
def test_complete_files_are_skipped(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=20, size=(1, 200_000))) as base:
        first = fetch(entries(base), tmp_path, engine=engine)
        requests = stats(base)["requests"]
        second = fetch(entries(base), tmp_path, engine=engine)
        assert stats(base)["requests"] == requests  # nothing asked of the server
        plain = fetch([f"{base}/files/file-00000.bin"], tmp_path, engine=engine)  # no size, no sha256
        again = fetch(entries(base), tmp_path, engine=engine, overwrite=True)
        files = manifest(base)
    assert first.counts()["ok"] == 20
    assert second.counts()["skipped"] == 20 and second.bytes == 0
    assert [(r.sha256, r.bytes) for r in second.items] == [(r.sha256, r.bytes) for r in first.items]
    assert plain.items[0].status == "skipped"
    assert again.counts()["ok"] == 20
    assert_disk_matches(tmp_path, files)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_wrong_final_file_is_kept_and_a_part_is_resumed(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=2, size=(300_000, 300_000))) as base:
        files = manifest(base)
        whole = urllib.request.urlopen(base + files[1]["url"]).read()
        (tmp_path / "file-00000.bin").write_bytes(b"x" * 300_000)  # right size, wrong bytes: not ours
        (tmp_path / ".file-00001.bin.tulip-part").write_bytes(whole[:100_000])  # an earlier run's part
        before = stats(base)["bytes_sent"]
        report = fetch(entries(base), tmp_path, engine=engine)
        sent = stats(base)["bytes_sent"] - before
    assert [r.status for r in report.items] == ["ok", "ok"]
    assert report.items[1].resumed_from == 100_000
    assert sent == 300_000 + 200_000  # the part was continued, not fetched again
    assert (tmp_path / "file-00000.bin").read_bytes() == b"x" * 300_000  # somebody's: never written over
    assert report.items[0].path == str(tmp_path / "file-00000.1.bin")
    (tmp_path / "file-00000.bin").unlink()
    (tmp_path / "file-00000.1.bin").rename(tmp_path / "file-00000.bin")
    assert_disk_matches(tmp_path, files)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_corrupt_part_is_caught_by_the_checksum_and_redone(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=1, size=(200_000, 200_000))) as base:
        files = manifest(base)
        (tmp_path / ".file-00000.bin.tulip-part").write_bytes(b"\0" * 50_000)  # not the file's bytes
        report = fetch(entries(base), tmp_path, engine=engine, policy=RetryPolicy(backoff=0.001))
    assert (report.items[0].status, report.items[0].attempts) == ("ok", 2)
    assert_disk_matches(tmp_path, files)


def test_names_never_escape_dest(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with ServerThread(ServeConfig(files=1)) as base:
        f = f"{base}/files/file-00000.bin"
        sources = [
            Entry(f, out="../../escape-1"),
            Entry(f, out="/etc/escape-2"),
            Entry(f, out="sub/../../escape-3"),
            Entry(f, out="..\\escape-4"),
            Entry(f, out="a\x00b\nc"),
            Entry(f"{base}/files/..%2F..%2Fescape-5"),
            Entry(f, out="nested/dir/ok.bin"),
        ]
        report = fetch(sources, dest, policy=RetryPolicy(retries=0))
        # Alone: its safe name "_" is a directory the names above need.
        dots = fetch([Entry(f"{base}/files/%2e%2e")], dest / "dots", policy=RetryPolicy(retries=0))
    outside = sorted(p.name for p in tmp_path.iterdir())
    assert outside == ["dest"]
    for result in [*report.items, *dots.items]:
        assert Path(result.path).resolve().is_relative_to(dest.resolve()), result.path
    assert (dest / "nested" / "dir" / "ok.bin").exists()


def test_a_symlinked_subdirectory_cannot_lead_out(tmp_path: Path) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    os.symlink(outside, dest / "link")
    with ServerThread(ServeConfig(files=1)) as base:
        report = fetch([Entry(f"{base}/files/file-00000.bin", out="link/x.bin")], dest)
    assert report.items[0].status == "failed"
    assert "outside" in (report.items[0].error or "")
    assert list(outside.iterdir()) == []


def test_ctrl_c_leaves_only_parts_and_the_next_run_finishes(tmp_path: Path) -> None:
    config = ServeConfig(files=4, size=(400_000, 400_000), faults=Faults(bandwidth=500_000))
    with ServerThread(config) as base:
        files = manifest(base)
        command = tulip_cmd("fetch", "--manifest", f"{base}/manifest.json", "-d", str(tmp_path), "-c", "4")
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            deadline = time.monotonic() + 20
            while stats(base)["bytes_sent"] < 400_000:  # well under way, far from done
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        assert proc.returncode == -signal.SIGINT, err
        assert "interrupted" in out
        assert "Traceback" not in err
        parts = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
        assert len(parts) == 4 and all(name.endswith(".tulip-part") for name in parts), parts
        assert sum(parts.values()) >= 300_000  # what had arrived was kept for the resume
        rerun = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert_disk_matches(tmp_path, files)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_part_of_an_older_version_is_not_resumed(tmp_path: Path, engine: str) -> None:
    # No sha256 to catch it: only the ETag kept beside the .part (If-Range) tells that the server's
    # file is not the one the .part began.
    part = tmp_path / ".file-00000.bin.tulip-part"
    part.write_bytes(b"\0" * 100_000)
    try:
        os.setxattr(part, "user.tulip.validator", b'"an-older-version"')
    except OSError:
        pytest.skip("this filesystem keeps no user extended attributes")
    with ServerThread(ServeConfig(files=1, size=(300_000, 300_000))) as base:
        url = f"{base}/files/file-00000.bin"
        whole = urllib.request.urlopen(url).read()
        report = fetch([url], tmp_path, engine=engine)
    assert (report.items[0].status, report.items[0].resumed_from) == ("ok", 0)
    assert (tmp_path / "file-00000.bin").read_bytes() == whole


@pytest.mark.parametrize("engine", ENGINES)
def test_a_part_left_by_tulip_0_1_is_adopted_and_resumed(tmp_path: Path, engine: str) -> None:
    with ServerThread(ServeConfig(files=1, size=(300_000, 300_000))) as base:
        url = f"{base}/files/file-00000.bin"
        with urllib.request.urlopen(url) as response:
            whole, etag = response.read(), response.headers["ETag"]
        legacy = tmp_path / "file-00000.bin.part"  # the old layout: NAME.part, marked with the ETag
        legacy.write_bytes(whole[:100_000])
        try:
            os.setxattr(legacy, "user.tulip.validator", etag.encode())
        except OSError:
            pytest.skip("this filesystem keeps no user extended attributes")
        report = fetch([Entry(url, size=300_000)], tmp_path, engine=engine)
    assert (report.items[0].status, report.items[0].resumed_from) == ("ok", 100_000)
    assert (tmp_path / "file-00000.bin").read_bytes() == whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file-00000.bin"]


@pytest.mark.parametrize("engine", ENGINES)
def test_files_take_their_permissions_from_the_umask_as_curls_do(tmp_path: Path, engine: str) -> None:
    """A shared folder's umask 002 gives files the group can write (-rw-rw-r--), as curl and wget2
    make them: a small file (written whole) and a large one (its .part renamed) were always 0644."""
    with ServerThread(ServeConfig(files=2, size=(1_000, 1_000))) as base:
        small = [f"{base}/files/file-00000.bin"]
        with ServerThread(ServeConfig(files=1, size=(300_000, 300_000), seed=3)) as big_base:
            large = [f"{big_base}/files/file-00000.bin"]
            previous = os.umask(0o002)
            try:
                done = [fetch(small, tmp_path / "a", engine=engine)]
                done.append(fetch(large, tmp_path / "b", engine=engine))
            finally:
                os.umask(previous)
            os.umask(0o077)
            try:
                private = fetch(small, tmp_path / "c", engine=engine)
            finally:
                os.umask(previous)
    assert [report.items[0].status for report in [*done, private]] == ["ok"] * 3
    modes = [os.stat(report.items[0].path).st_mode & 0o777 for report in [*done, private]]
    assert modes == [0o664, 0o664, 0o600]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_replaced_file_keeps_its_permissions_and_owner(tmp_path: Path, engine: str) -> None:
    """-N (a newer copy on the server) and --overwrite replace a file by renaming the new one over
    it: the new file took the umask's mode and the runner's group, so an updated script was no
    longer executable and a shared file lost its group. It keeps both now, as wget -N and curl -o
    (which write in place) keep them — but never a set-user-ID bit."""
    import grp
    import random
    from email.utils import formatdate

    from tests.download.conformance.scripted import Request, Scripted, response

    versions = {name: [random.Random(seed).randbytes(size) for seed in (1, 2, 3)]
                for name, size in (("s", 2_000), ("b", 300_000))}  # fmt: skip

    def route(name: str) -> object:
        def answer(request: Request) -> list[bytes]:
            n = min(request.nth, 2)  # each answer newer than the last
            dated = f"Last-Modified: {formatdate(1_700_000_000 + 86_400 * n, usegmt=True)}"
            return [response("200 OK", versions[name][n], dated)]

        return answer

    other_group = next((g.gr_gid for g in grp.getgrall() if g.gr_gid != os.getegid()), None)
    with Scripted({"/s.bin": route("s"), "/b.bin": route("b")}) as server:
        urls = [f"{server.base}/s.bin", f"{server.base}/b.bin"]
        assert fetch(urls, tmp_path, engine=engine).counts()["ok"] == 2
        for name in ("s.bin", "b.bin"):
            os.chmod(tmp_path / name, 0o4750)
            if other_group is not None and os.geteuid() == 0:
                os.chown(tmp_path / name, -1, other_group)
        newer = fetch(urls, tmp_path, engine=engine, timestamping=True)
        replaced = [os.stat(tmp_path / name) for name in ("s.bin", "b.bin")]
        again = fetch(urls, tmp_path, engine=engine, overwrite=True)
    assert newer.counts()["ok"] == 2 and again.counts()["ok"] == 2
    for info in [*replaced, *(os.stat(tmp_path / name) for name in ("s.bin", "b.bin"))]:
        assert info.st_mode & 0o7777 == 0o750  # (the set-user-ID bit is not carried over)
        if other_group is not None and os.geteuid() == 0:
            assert info.st_gid == other_group
    assert (tmp_path / "s.bin").read_bytes() == versions["s"][2]
    assert (tmp_path / "b.bin").read_bytes() == versions["b"][2]


def test_a_file_of_another_users_replaced_gives_it_nothing(tmp_path: Path) -> None:
    """Root replacing a file another user owns (a shared folder: the user may have planted it) keeps
    nothing of it — not its owner, nor its world-writable mode — where a file of root's own keeps its
    ACL (whose group bits are the ACL's mask, not a group's right to read)."""
    import shutil
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("needs root to make another user's file")
    with ServerThread(ServeConfig(files=2, size=(1_000, 1_000))) as base:
        first, second = (f"{base}/files/file-0000{n}.bin" for n in (0, 1))
        planted = tmp_path / "file-00000.bin"
        planted.write_bytes(b"planted")
        os.chown(planted, 65534, 65534)  # nobody
        os.chmod(planted, 0o777)
        report = fetch([first], tmp_path, overwrite=True)
        mine = tmp_path / "file-00001.bin"
        mine.write_bytes(b"mine")
        os.chmod(mine, 0o640)
        acl = shutil.which("setfacl")
        if acl:
            subprocess.run([acl, "-m", "u:nobody:r", str(mine)], check=True)  # (mask r--: group bits)
        os.chmod(mine, 0o600 if not acl else os.stat(mine).st_mode & 0o777)
        before = os.getxattr(mine, "system.posix_acl_access") if acl else None
        again = fetch([second], tmp_path, overwrite=True)
    assert report.items[0].status == again.items[0].status == "ok"
    info = os.stat(planted)
    assert (info.st_uid, info.st_gid) == (0, os.getegid()) and info.st_mode & 0o777 != 0o777
    if before is not None:
        assert os.getxattr(mine, "system.posix_acl_access") == before
