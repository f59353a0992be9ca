"""One file the way curl users ask for it: ``-o FILE``, ``-o -`` (the body on standard output, and
nothing else there), and the one line a run of one file ends with."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aiotulip.serve import Faults, ServeConfig, ServerThread
from tests.download.conformance.scripted import CLOSE, Pause, Request, Scripted, response
from tests.download.helpers import manifest
from tests.terminal import run_on_pty, tulip_cmd

SIZE = 300_000  # past the size read whole in memory: the stream goes out as it comes
CUT = 100_000
V1 = random.Random(1).randbytes(SIZE)
V2 = random.Random(2).randbytes(SIZE)
ENGINES = ["sequential", "threads", "asyncio"]


def fetch(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    argv = tulip_cmd("fetch", "--retries", "3", "--no-netrc", "--noproxy", "*", *args)
    return subprocess.run(argv, capture_output=True, timeout=60, cwd=cwd)


def _cut_then(version_after: bytes, etag_after: str) -> object:
    """The first answer is cut at CUT; later ones honour Range with *version_after* (If-Range unread)."""

    def route(r: Request) -> list[object]:
        if r.nth == 0:
            return [response("200 OK", V1[:CUT], 'ETag: "v1"', length=SIZE), CLOSE]
        first = int(r.headers.get("range", "bytes=0-").removeprefix("bytes=").split("-")[0])
        return [
            response(
                "206 Partial Content", version_after[first:], f"ETag: {etag_after}",
                f"Content-Range: bytes {first}-{SIZE - 1}/{SIZE}",
            )
        ]  # fmt: skip

    return route


def _whole(r: Request) -> list[object]:
    return [response("200 OK", V1, 'ETag: "v1"')]


@pytest.mark.parametrize("engine", ENGINES)
def test_o_names_the_file_and_the_run_ends_with_one_line(tmp_path: Path, engine: str) -> None:
    with Scripted({"/f.bin": _whole}) as server:
        url = server.base + "/f.bin"
        proc = fetch(url, "-o", "x.bin", "--engine", engine, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "x.bin").read_bytes() == V1
        assert proc.stdout.decode().splitlines() == [f"saved x.bin (293.0 KiB in {_took(proc)} s)"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]  # (no .part left, no other name)

        proc = fetch(url, "-o", "sub/deeper/y.bin", "-d", "out", "--engine", engine, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "out/sub/deeper/y.bin").read_bytes() == V1
        assert proc.stdout.decode().startswith("saved out/sub/deeper/y.bin (")

        proc = fetch(url, "-o", "x.bin", "--engine", engine, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.decode().startswith("skipped x.bin ("), proc.stdout


@pytest.mark.parametrize("engine", ENGINES)
def test_o_replaces_the_file_it_names_as_curl_o_does(tmp_path: Path, engine: str) -> None:
    """-o FILE where FILE is a file of the user's, or another URL's download: FILE now holds this
    URL's bytes (curl -o, wget -O), where it used to be kept and the download saved as FILE.1, with
    exit 0 — a script reading FILE read the old one. This URL's own complete file is still skipped
    (with the way to ask again), -nc still keeps any file, and a folder is refused."""
    (tmp_path / "mine.bin").write_bytes(b"the user's own bytes")
    with Scripted({"/f.bin": _whole, "/g.bin": lambda r: [response("200 OK", V2)]}) as server:
        first = fetch(server.base + "/f.bin", "-o", "mine.bin", "--engine", engine, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert (tmp_path / "mine.bin").read_bytes() == V1
        other = fetch(server.base + "/g.bin", "-o", "mine.bin", "--engine", engine, cwd=tmp_path)
        assert other.returncode == 0, other.stderr
        assert (tmp_path / "mine.bin").read_bytes() == V2
        again = fetch(server.base + "/g.bin", "-o", "mine.bin", "--engine", engine, cwd=tmp_path)
        assert again.stdout.decode().startswith("skipped mine.bin (already complete; 293.0 KiB; -N ")
        kept = fetch(server.base + "/f.bin", "-o", "mine.bin", "-nc", "--engine", engine, cwd=tmp_path)
        assert kept.returncode == 0 and (tmp_path / "mine.bin").read_bytes() == V2
        (tmp_path / "folder").mkdir()
        refused = fetch(server.base + "/f.bin", "-o", "folder", "--engine", engine, cwd=tmp_path)
        assert refused.returncode == 2 and b"-o folder: is a folder" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "mine.bin"]  # (no mine.1.bin)


def test_o_over_a_file_of_the_users_still_resumes_its_part(tmp_path: Path) -> None:
    """-o FILE over the user's own file, cut the first time: the second run resumes the part (it
    started over when -o replaced by way of --overwrite, which drops a part), then replaces FILE.
    Under -nc the kept file's line says nothing of -N: it may be nobody's download at all."""
    import json

    (tmp_path / "mine.bin").write_bytes(b"the user's own bytes")
    with Scripted({"/f.bin": _cut_then(V1, '"v1"')}) as server:
        cut = fetch(server.base + "/f.bin", "-o", "mine.bin", "--retries", "0", cwd=tmp_path)
        assert cut.returncode == 1
        assert (tmp_path / "mine.bin").read_bytes() == b"the user's own bytes"
        again = fetch(server.base + "/f.bin", "-o", "mine.bin", "--json", "-", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    (item,) = json.loads(again.stdout)["items"]
    assert item["resumed_from"] == CUT and (tmp_path / "mine.bin").read_bytes() == V1
    (tmp_path / "kept.bin").write_bytes(b"mine")
    with Scripted({"/f.bin": _whole}) as server:
        kept = fetch(server.base + "/f.bin", "-o", "kept.bin", "-nc", cwd=tmp_path)
    assert kept.returncode == 0 and (tmp_path / "kept.bin").read_bytes() == b"mine"
    assert kept.stdout.decode().startswith("skipped kept.bin (") and "-N" not in kept.stdout.decode()


def _took(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode().rsplit(" in ", 1)[1].split(" ")[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_o_dash_puts_the_body_and_only_the_body_on_stdout(tmp_path: Path, engine: str) -> None:
    with Scripted({"/f.bin": _whole}) as server:
        proc = fetch(server.base + "/f.bin", "-o", "-", "--engine", engine, "--json", "r.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(proc.stdout).hexdigest() == hashlib.sha256(V1).hexdigest()
    assert proc.stderr.decode().splitlines()[-1].startswith("saved to standard output (293.0 KiB in ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # nothing written beside it
    assert f'"sha256": "{hashlib.sha256(V1).hexdigest()}"' in (tmp_path / "r.json").read_text()


@pytest.mark.parametrize("engine", ENGINES)
def test_o_dash_resumes_a_cut_stream_with_a_range(tmp_path: Path, engine: str) -> None:
    with Scripted({"/f.bin": _cut_then(V1, '"v1"')}) as server:
        proc = fetch(server.base + "/f.bin", "-o", "-", "--engine", engine, cwd=tmp_path)
        asked = [r.headers.get("range") for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == V1
    assert asked == [None, f"bytes={CUT}-"]


def _grown_under_the_same_etag(r: Request) -> list[object]:
    """Version 1 cut at CUT, then a version five bytes longer under the same ETag (Apache's
    ``FileETag MTime`` on a file replaced with its date kept): only the size tells them apart."""
    grown = V2 + b"12345"
    if r.nth == 0:
        return [response("200 OK", V1[:CUT], 'ETag: "v1"', length=SIZE), CLOSE]
    first = int(r.headers.get("range", "bytes=0-").removeprefix("bytes=").split("-")[0])
    return [
        response(
            "206 Partial Content", grown[first:], 'ETag: "v1"',
            f"Content-Range: bytes {first}-{len(grown) - 1}/{len(grown)}",
        )
    ]  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("change", ["etag", "size"])
def test_o_dash_never_splices_a_changed_file_into_the_stream(
    tmp_path: Path, engine: str, change: str
) -> None:
    route = _cut_then(V2, '"v2"') if change == "etag" else _grown_under_the_same_etag
    with Scripted({"/f.bin": route}) as server:
        proc = fetch(server.base + "/f.bin", "-o", "-", "--engine", engine, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == V1[:CUT]  # what went out cannot be taken back: the rest is never V2's
    [line] = proc.stderr.decode().splitlines()[-1:]
    assert "already on standard output" in line and "Traceback" not in proc.stderr.decode()


def test_o_dash_refuses_what_is_not_one_file(tmp_path: Path) -> None:
    two = ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "-o", "-"]
    for args in (two, ["http://127.0.0.1:1/a", "-o", "d/"]):
        proc = fetch(*args, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stdout == b""
        assert len(proc.stderr.decode().splitlines()) == 1, proc.stderr


def test_o_dash_reader_gone_is_one_line(tmp_path: Path) -> None:
    with Scripted({"/f.bin": _whole}) as server:
        argv = tulip_cmd("fetch", "--no-netrc", server.base + "/f.bin", "-o", "-")
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            assert proc.stdout.read(10) == V1[:10]
            proc.stdout.close()  # the reader goes away, as `| head -c 10` does
            err = proc.stderr.read().decode()
            assert proc.wait(timeout=30) == 1
    assert "standard output was closed" in err and "Traceback" not in err


NOVAL1 = bytes(range(256)) * 1563  # 400,128 bytes
NOVAL2 = bytes(reversed(range(256))) * 1563


def _changing(request: Request) -> list[object]:
    """The first answer has no validator and breaks off; by the retry the file has changed."""
    if request.nth == 0:
        return [response("200 OK", NOVAL1[:150_000], length=len(NOVAL1)), CLOSE]
    asked = request.headers.get("range")
    if asked:
        start = int(asked.removeprefix("bytes=").split("-")[0])
        return [
            response(
                "206 Partial Content",
                NOVAL2[start:],
                f"Content-Range: bytes {start}-{len(NOVAL2) - 1}/{len(NOVAL2)}",
            )
        ]
    return [response("200 OK", NOVAL2)]


@pytest.mark.parametrize(("engine", "transport"), [(e, "auto") for e in ENGINES] + [("asyncio", "lean")])
def test_a_retry_never_splices_a_file_that_has_no_validator(
    tmp_path: Path, engine: str, transport: str
) -> None:
    """Within one run, as across runs: a part no validator vouches for is not continued with a bare
    Range (the server may have changed the file: two versions would be joined and called ok). Without
    a size from the input it starts over; with one, it continues and the Report says so."""
    from aiotulip import Entry
    from aiotulip import fetch as api_fetch

    with Scripted({"/f.bin": _changing}) as server:
        fresh = api_fetch([f"{server.base}/f.bin"], tmp_path / "a", engine=engine, transport=transport,
                      netrc=False, proxy="")  # fmt: skip
        asked = [r.headers.get("range") for r in server.requests]
    (result,) = fresh.items
    assert (result.status, result.resumed_unvalidated) == ("ok", False)
    assert (tmp_path / "a" / "f.bin").read_bytes() == NOVAL2 and asked == [None, None]
    with Scripted({"/f.bin": _changing}) as server:
        sized = api_fetch([Entry(f"{server.base}/f.bin", size=len(NOVAL1))], tmp_path / "b", engine=engine,
                      transport=transport, netrc=False, proxy="")  # fmt: skip
    (result,) = sized.items
    assert result.resumed_unvalidated  # (the size vouched, as for a part found on disk: said so)


def test_o_writes_through_a_device_a_fifo_and_a_link(tmp_path: Path) -> None:
    """``-o`` on a device (/dev/null's kind) or a FIFO writes into it, as a shell's > would; on a
    symbolic link, the file it leads to is replaced (or made, where it dangles) and the link kept,
    as curl -o and wget -O do. Each of them was replaced by a regular file once, and a link then
    had the download saved beside it as LINK.1, which a script reading LINK never saw."""
    import threading

    body = random.Random(5).randbytes(300_000)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "real.txt").write_text("theirs\n")
    (tmp_path / "sub").mkdir()
    os.symlink("real.txt", tmp_path / "link")
    os.symlink("sub/nowhere", tmp_path / "dangling")
    os.symlink("loop", tmp_path / "loop")
    os.symlink("sub", tmp_path / "folder")
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append((tmp_path / "pipe").read_bytes()))
    with Scripted({"/f.bin": lambda r: [response("200 OK", body)]}) as server:
        url = f"{server.base}/f.bin"
        reader.start()
        through = fetch(url, "-o", "pipe", cwd=tmp_path)
        reader.join(30)
        linked = [fetch(url, "-o", name, cwd=tmp_path) for name in ("link", "dangling", "loop", "folder")]
        if os.geteuid() == 0:
            os.mknod(tmp_path / "null", 0o666 | 0o020000, os.makedev(1, 3))  # a character device: /dev/null's
            device = fetch(url, "-o", "null", cwd=tmp_path)
            assert device.returncode == 0 and (tmp_path / "null").is_char_device(), device.stderr
    assert through.returncode == 0 and got == [body] and (tmp_path / "pipe").is_fifo()
    assert [p.returncode for p in linked] == [0, 0, 2, 2], [p.stderr for p in linked]
    assert linked[0].stdout.decode().startswith("saved real.txt (")
    assert linked[1].stdout.decode().startswith("saved sub/nowhere (")
    assert linked[2].stderr.decode().splitlines() == [
        "tulip fetch: error: -o loop: too many levels of symbolic links (a symlink that leads nowhere)"
    ]
    assert b"is a folder" in linked[3].stderr
    assert os.readlink(tmp_path / "link") == "real.txt" and (tmp_path / "real.txt").read_bytes() == body
    assert os.readlink(tmp_path / "dangling") == "sub/nowhere"
    assert (tmp_path / "sub/nowhere").read_bytes() == body
    left = {p.name for p in tmp_path.iterdir()} - {"null"}  # (no LINK.1 beside any of them)
    assert left == {"dangling", "folder", "link", "loop", "pipe", "real.txt", "sub"}


def _strangers_trap(tmp_path: Path, precious: Path) -> Path:
    """A sticky, world-writable folder (/tmp's kind) holding ``trap``: a link to *precious* (a file
    of the user's, holding "precious"), owned by nobody (uid 65534). Return the folder."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    precious.write_text("precious\n")
    os.symlink(precious, shared / "trap")
    os.chown(shared / "trap", 65534, 65534, follow_symlinks=False)
    return shared


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a link owned by somebody else")
def test_o_never_follows_a_strangers_link_in_a_shared_folder(tmp_path: Path) -> None:
    """The kernel's protected_symlinks rule, kept where tulip resolves the link itself: in a sticky,
    world-writable folder (/tmp's kind) a link owned by somebody else is a trap (it could lead to
    the user's ~/.bashrc), and ``-o`` on it is refused in one line; the user's own link is followed."""
    shared = _strangers_trap(tmp_path, tmp_path / "target")
    os.symlink(tmp_path / "target", shared / "mine")
    with Scripted({"/f.bin": lambda r: [response("200 OK", V1)]}) as server:
        trapped = fetch(server.base + "/f.bin", "-o", "shared/trap", cwd=tmp_path)
        assert (tmp_path / "target").read_text() == "precious\n"
        own = fetch(server.base + "/f.bin", "-o", "shared/mine", cwd=tmp_path)
    assert trapped.returncode == 2 and trapped.stderr.decode().splitlines() == [
        "tulip fetch: error: -o shared/trap: a symlink somebody else made in a shared folder: not followed"
    ]
    assert own.returncode == 0 and (tmp_path / "target").read_bytes() == V1, own.stderr


def test_o_wins_over_content_disposition(tmp_path: Path) -> None:
    """-o names the file: the server's Content-Disposition (asked for with --content-disposition, or
    in a config file) does not rename it, and a stale file of another name is not left to be read."""
    (tmp_path / "report.csv").write_text("OLD\n")
    answer = response("200 OK", b"fresh\n", 'Content-Disposition: attachment; filename="other.txt"')
    with Scripted({"/r": lambda r: [answer]}) as server:
        proc = fetch(
            f"{server.base}/r", "--content-disposition", "-o", "report.csv", "--overwrite", cwd=tmp_path
        )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report.csv").read_text() == "fresh\n" and not (tmp_path / "other.txt").exists()


def test_o_dash_says_why_it_failed_and_what_went_out(tmp_path: Path) -> None:
    """On a stream a failure that would need the file started over ends the item in its own words
    (a sha256 mismatch is an integrity error, not an internal one), and the Report counts the bytes
    the reader already has."""
    body = random.Random(9).randbytes(400_000)
    listing = tmp_path / "in.txt"
    with Scripted({"/f.bin": lambda r: [response("200 OK", body, 'ETag: "e"')]}) as server:
        listing.write_text(f"{server.base}/f.bin\n  checksum=sha-256={'0' * 64}\n")
        proc = fetch("-i", str(listing), "-o", "-", "--json", str(tmp_path / "r.json"), cwd=tmp_path)
    import json

    (item,) = json.loads((tmp_path / "r.json").read_text())["items"]
    assert proc.returncode == 1 and proc.stdout == body  # (what went out, went out: whole and unspliced)
    assert (item["status"], item["error_kind"]) == ("failed", "integrity"), item
    assert "sha256" in item["error"] and item["bytes"] == len(body)


@pytest.mark.parametrize("engine", ENGINES)
def test_o_dash_stops_at_max_filesize_as_curl_does(tmp_path: Path, engine: str) -> None:
    """A body of no announced size past --max-filesize: the reader gets the limit's worth and not a
    byte more, and the run says why (it said "internal error", having tried to take back a stream,
    and had put out a third more than the limit)."""
    body = random.Random(5).randbytes(3_000_000)
    with Scripted({"/f.bin": lambda r: [response("200 OK", body, length=None), CLOSE]}) as server:
        proc = fetch(server.base + "/f.bin", "-o", "-", "--max-filesize", "1M", "--engine", engine,
                     "--json", str(tmp_path / "r.json"), cwd=tmp_path)  # fmt: skip
    import json

    (item,) = json.loads((tmp_path / "r.json").read_text())["items"]
    assert proc.returncode == 1 and proc.stdout == body[: 1 << 20]
    assert (item["status"], item["error_kind"], item["bytes"]) == ("failed", "integrity", 1 << 20), item
    assert "--max-filesize" in proc.stderr.decode() and "internal" not in proc.stderr.decode()


def test_ctrl_c_on_o_dash_says_what_went_out(tmp_path: Path) -> None:
    """Interrupted, a stream's item counts the bytes its reader has (it said 0), and the run does not
    say to run it again to finish: a second run starts the stream over."""
    import json
    import signal
    import time

    from aiotulip.serve import Faults, ServeConfig, ServerThread

    with ServerThread(
        ServeConfig(files=1, size=(4_000_000, 4_000_000), faults=Faults(bandwidth=1_000_000))
    ) as base:
        argv = tulip_cmd("fetch", "--no-netrc", f"{base}/files/file-00000.bin", "-o", "-", "--json",
                         str(tmp_path / "r.json"))  # fmt: skip
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            got = proc.stdout.read(300_000)
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            got += proc.stdout.read()
            err = proc.stderr.read().decode()
            assert proc.wait(timeout=30) == -signal.SIGINT, err
    (item,) = json.loads((tmp_path / "r.json").read_text())["items"]
    assert item["status"] == "interrupted" and item["bytes"] == len(got) > 0, item
    assert "went out to -" in err and "run the same command again" not in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make links owned by somebody else")
def test_a_strangers_link_anywhere_in_the_chain_is_not_followed(tmp_path: Path) -> None:
    """The user's own link leading to a stranger's link in a sticky folder was followed, and the
    file at its end replaced (found by the second attack pass); --json went through one too."""
    shared = _strangers_trap(tmp_path, tmp_path / "precious")
    os.symlink(shared / "trap", tmp_path / "mine")  # the user's own, in the user's own folder
    (tmp_path / "folder").mkdir()  # (and a stranger's link to a folder, used as one: -o, -d, --json)
    os.symlink(tmp_path / "folder", shared / "door")
    os.chown(shared / "door", 65534, 65534, follow_symlinks=False)
    with Scripted({"/f.bin": lambda r: [response("200 OK", V1)]}) as server:
        through_o = fetch(server.base + "/f.bin", "-o", "mine", cwd=tmp_path)
        through_json = fetch(server.base + "/f.bin", "-d", "out", "--json", "shared/trap", cwd=tmp_path)
        ways = (["-o", "shared/door/x"], ["-d", "shared/door"], ["-d", "out", "--json", "shared/door/j"])
        folders = [fetch(server.base + "/f.bin", *args, cwd=tmp_path) for args in ways]
    assert [p.returncode for p in folders] == [2, 2, 2] and not list((tmp_path / "folder").iterdir())
    assert all(b"a symlink somebody else made in a shared folder" in p.stderr for p in folders)
    assert (tmp_path / "precious").read_text() == "precious\n"
    assert through_o.returncode == 2 and through_o.stderr.decode().splitlines() == [
        "tulip fetch: error: -o mine: a symlink somebody else made in a shared folder: not followed"
    ]
    assert through_json.returncode == 2
    assert b"--json shared/trap: a symlink somebody else" in through_json.stderr


def test_o_dash_to_a_terminal_draws_nothing_into_the_body(tmp_path: Path) -> None:
    """The bar's redraws went into the body's lines on the screen (53 of 130,000 lines cut); the
    body to a terminal goes alone, as curl's meter is off then."""
    body = b"".join(b"line %d of the body\n" % n for n in range(20_000))
    step = len(body) // 20

    def paced(r: Request) -> list[object]:
        actions: list[object] = [response("200 OK", b"", f"Content-Length: {len(body)}", length=None)]
        for at in range(0, len(body), step):
            actions += [body[at : at + step], Pause(0.05)]
        return actions

    with Scripted({"/lines.txt": paced}) as server:
        run = run_on_pty(tulip_cmd("fetch", server.base + "/lines.txt", "-o", "-"), timeout=60)
    assert run.returncode == 0, run.text()
    shown = run.output.replace(b"\r\n", b"\n")
    assert shown.startswith(body), shown[:300]
    assert b"\x1b" not in shown, shown[len(body) :]  # (no cursor move, erase or hidden cursor at all)
    assert shown[len(body) :].startswith(b"saved to standard output")


@pytest.mark.parametrize("answer", ["off by one", "no Content-Range", "the whole file as a 206"])
@pytest.mark.parametrize("engine", ENGINES)
def test_a_range_answered_wrongly_gets_the_whole_file(tmp_path: Path, engine: str, answer: str) -> None:
    """A server that answers a resume's Range wrongly was asked the same six times, and on every
    later run: the item failed for good. The part is started over and the whole file asked for."""

    def route(r: Request) -> list[object]:
        asked = r.headers.get("range")
        if r.nth == 0:
            return [response("200 OK", V1[:CUT], 'ETag: "v1"', length=SIZE), CLOSE]
        if asked is None:
            return [response("200 OK", V1, 'ETag: "v1"')]
        if answer == "off by one":
            return [response("206 Partial Content", V1[CUT + 1 :], 'ETag: "v1"',
                             f"Content-Range: bytes {CUT + 1}-{SIZE - 1}/{SIZE}")]  # fmt: skip
        if answer == "no Content-Range":
            return [response("206 Partial Content", V1[CUT:], 'ETag: "v1"')]
        whole = f"Content-Range: bytes 0-{SIZE - 1}/{SIZE}"
        return [response("206 Partial Content", V1, 'ETag: "v1"', whole)]

    with Scripted({"/f.bin": route}) as server:
        proc = fetch(server.base + "/f.bin", "--engine", engine, "--json", "r.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "f.bin").read_bytes() == V1


@pytest.mark.parametrize("engine", ENGINES)
def test_ctrl_c_on_a_pipeline_is_an_interruption_not_a_storage_failure(tmp_path: Path, engine: str) -> None:
    """Ctrl-C on `tulip fetch -o - URL | wc -c` reaches both: wc ends, and the write it breaks may
    fail before tulip acts on its own SIGINT. The item was reported failed, "standard output was
    closed", beside an interrupted run; it is interrupted, with what went out."""
    config = ServeConfig(files=1, size=(40 << 20, 40 << 20), seed=3, faults=Faults(bandwidth=4 << 20))
    with ServerThread(config) as base:
        url = base + manifest(base)[0]["url"]
        argv = [*tulip_cmd("fetch", "--no-netrc", "--noproxy", "*", "--engine", engine), "--json", "r.json",
                "-o", "-", url]  # fmt: skip
        pipeline = f"{shlex.join(argv)} | wc -c > counted"
        # (a process group of its own, as a shell runs a pipeline: the terminal's Ctrl-C goes to all)
        proc = subprocess.Popen(["sh", "-c", pipeline], cwd=tmp_path, start_new_session=True,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while not (tmp_path / "counted").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # (the body streams steadily: the write is under way when the signal comes)
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    (item,) = json.loads((tmp_path / "r.json").read_text())["items"]
    assert (item["status"], item["error"]) == ("interrupted", "interrupted"), err
    assert item["bytes"] > 0
    assert "interrupted after" in err and "standard output was closed" not in err
