"""The pure parts: names, input files, manifests, response interpretation, retry decisions."""

from __future__ import annotations

import dataclasses
import random

import pytest

from aiotulip import Job, RetryPolicy
from aiotulip.download.http.ranges import resume_headers
from aiotulip.download.names import name_from_url, safe_name
from aiotulip.download.plan import Local, Start, check_body, interpret, start
from aiotulip.download.retry import parse_retry_after
from aiotulip.download.sources import Entry, check_url, jobs_from_manifest, make_jobs, parse_input
from aiotulip.errors import HTTPStatusError, IntegrityError, StorageError, Timeout, TransportError, UsageError


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://h/a/b/file.bin", "file.bin"),
        ("http://h/a/b/", "index.html"),
        ("http://h", "index.html"),
        ("http://h/with%20space.txt?x=1#frag", "with space.txt"),
        ("http://h/..%2F..%2Fetc%2Fpasswd", ".._.._etc_passwd"),
        ("http://h/%2e%2e", "_"),
        ("http://h/a%00b", "a_b"),
        ("http://h/%E6%80%9D%E8%80%83.txt", "思考.txt"),
        ("http://h/bad%ff", "bad%FF"),  # (not UTF-8: kept as it came, so %E9 and %E8 stay apart)
        ("http://h/%E9t%E9.txt", "%E9t%E9.txt"),
        ("http://h/caf%C3%A9.txt", "café.txt"),
    ],
)
def test_names_from_urls(url: str, name: str) -> None:
    assert name_from_url(url) == name


def test_safe_name_keeps_directories_inside() -> None:
    assert safe_name("../../x") == "_/_/x"
    assert safe_name("/etc/passwd") == "etc/passwd"
    assert safe_name("a//b/./c") == "a/b/_/c"
    assert safe_name("a\\..\\b") == "a/_/b"
    assert safe_name("x/y", allow_dirs=False) == "x_y"
    long = safe_name("n" * 400 + ".tar.gz")
    assert len(long.encode()) <= 250 and long.endswith(".gz")
    with pytest.raises(ValueError):
        safe_name("///")


def test_input_file_format() -> None:
    text = [
        "# comment",
        "",
        "http://h/a.bin",
        "  out=renamed.bin",
        f"\tsha256={'A' * 64}",
        "http://h/b.bin",
        f"  checksum=sha-256={'b' * 64}",
        "  size=12",
        "https://h/c.bin",
    ]
    entries = list(parse_input(text, "urls.txt"))
    assert [(e.url, e.out, e.sha256, e.size) for e in entries] == [
        ("http://h/a.bin", "renamed.bin", "a" * 64, None),
        ("http://h/b.bin", None, "b" * 64, 12),
        ("https://h/c.bin", None, None, None),
    ]
    with pytest.raises(UsageError, match=r"line 2 of urls\.txt"):
        list(parse_input(["http://h/x", "  colour=red"], "urls.txt"))


def test_manifest_forms_and_relative_urls() -> None:
    files = [{"name": "a.bin", "size": 3, "sha256": "c" * 64}, {"name": "b", "url": "/files/b", "size": 0}]
    for document in (files, {"files": files}):
        entries = jobs_from_manifest(document, "http://h:8/sub/manifest.json")
        assert [(e.url, e.out, e.size) for e in entries] == [
            ("http://h:8/sub/a.bin", "a.bin", 3),
            ("http://h:8/files/b", "b", 0),
        ]
    for bad in (
        {"nofiles": 1},
        [{"size": 1}],
        [{"name": "x", "sha256": "zz"}],
        [{"name": "x", "size": -1}],
        "x",
    ):
        with pytest.raises(UsageError):
            jobs_from_manifest(bad, "http://h/m.json")


def test_urls_are_checked() -> None:
    assert check_url("https://example.com:8443/x?y") == "https://example.com:8443/x?y"
    assert check_url("ftp://h/x") == "ftp://h/x" and check_url("sftp://u@h/x") == "sftp://u@h/x"
    assert check_url("127.0.0.1:8000/f.bin") == "http://127.0.0.1:8000/f.bin"  # no scheme: http, as curl
    for bad in (
        "gopher://h/x",
        "file:///etc/passwd",
        "http://",
        "http://h:0x/",
        "http://h/a b",
        "javascript:x",
    ):
        with pytest.raises(UsageError):
            check_url(bad)


def test_colliding_names_are_an_input_error() -> None:
    with pytest.raises(UsageError, match="two items would write"):
        make_jobs(["http://h/a/X.bin", "http://h/b/x.bin"])  # one file on a case-insensitive disk
    # x.part is no longer x's temporary file (that is .x.tulip-part, a name no item can take).
    assert [j.name for j in make_jobs(["http://h/x", "http://h/x.part"])] == ["x", "x.part"]
    ours = [Entry("http://h/a", out=".x.tulip-part"), Entry("http://h/b", out=".x.tulip-12-3")]
    assert [job.name for job in make_jobs(ours)] == [".x.tulip-part_", ".x.tulip-12-3_"]
    assert len(make_jobs([Entry("http://h/a/x.bin", out="one"), Entry("http://h/b/x.bin", out="two")])) == 2


JOB = Job("http://h/f", "f", size=100)


def test_start_decisions() -> None:
    assert start(JOB, Local(), overwrite=False) == Start()
    assert start(JOB, Local(final_size=100), overwrite=False) == Start(check_final=True)
    # A final file of another size than the input's, not tulip's: kept, the download goes beside it.
    assert start(JOB, Local(final_size=99, part_size=40), overwrite=False) == Start(offset=40, stranger=True)
    assert start(JOB, Local(final_size=99, part_size=40, final_ours=True), overwrite=False) == Start(
        offset=40
    )
    assert start(JOB, Local(final_size=99), overwrite=False, no_clobber=True) == Start(check_final=True)
    bare = Job("http://h/f", "f")  # nothing in the input vouches for a file already there
    assert start(bare, Local(final_size=5), overwrite=False) == Start(stranger=True)
    assert start(bare, Local(final_size=5, final_ours=True), overwrite=False) == Start(check_final=True)
    assert start(bare, Local(final_size=5), overwrite=False, timestamping=True) == Start(check_final=True)
    assert start(JOB, Local(part_size=140), overwrite=False) == Start(discard_part=True)
    assert start(JOB, Local(part_size=0), overwrite=False) == Start(discard_part=True)
    assert start(JOB, Local(final_size=100, part_size=5), overwrite=True) == Start(discard_part=True)
    # Somebody else's file, and this URL's own download saved beside it in an earlier run: that one is
    # the item's, looked at as its own is (but -N, -nc, --overwrite and -o go by the name itself).
    beside = Local(final_size=5, part_size=7, numbered=("f.1", 100, 1.0))
    mine = Local(100, 7, True, 1.0)
    assert start(JOB, beside, overwrite=False) == Start(check_final=True, name="f.1", local=mine)
    assert start(JOB, dataclasses.replace(beside, numbered=("f.1", 99, 1.0)), overwrite=False) == Start(
        offset=7, name="f.1", local=Local(99, 7, True, 1.0)
    )  # (of another size than the input's: downloaded again, to that name)
    # -N asks the server about this URL's file, not about the one it went beside
    assert start(JOB, beside, overwrite=False, timestamping=True) == Start(
        check_final=True, name="f.1", local=mine
    )
    assert start(JOB, beside, overwrite=False, no_clobber=True).name is None
    assert start(JOB, beside, overwrite=False, replace_strangers=True).name is None
    assert start(JOB, beside, overwrite=True).name is None
    folder = Local(part_size=None, numbered=("f.1", 100, 1.0))  # (a folder under the name: no final size)
    assert start(JOB, folder, overwrite=False) == Start(
        check_final=True, name="f.1", local=Local(100, None, True, 1.0)
    )
    assert resume_headers(0, None) == {"Range": "bytes=0-"}
    assert resume_headers(40, '"e"') == {"Range": "bytes=40-", "If-Range": '"e"'}
    assert resume_headers(40, '"e"', 99) == {"Range": "bytes=40-99", "If-Range": '"e"'}


def test_interpreting_responses() -> None:
    assert interpret(200, {"Content-Length": "100", "ETag": '"e"'}, 0, JOB).total == 100
    body = interpret(200, {"Content-Length": "100"}, 40, JOB)
    assert body.offset == 0  # range ignored: start over
    body = interpret(
        206, {"Content-Range": "bytes 40-99/100", "Content-Length": "60", "ETag": 'W/"weak"'}, 40, JOB
    )
    assert (body.offset, body.total, body.validator) == (40, 100, None)
    assert interpret(416, {"Content-Range": "bytes */40"}, 40, Job("http://h/f", "f")).complete
    with pytest.raises(IntegrityError, match="asked for bytes from 40, got 0-59"):  # (the part starts over)
        interpret(206, {"Content-Range": "bytes 0-59/100"}, 40, JOB)
    assert interpret(206, {"Content-Range": "bytes 0-99/100"}, 40, JOB).offset == 0  # the whole file
    with pytest.raises(IntegrityError):
        interpret(200, {"Content-Length": "101"}, 0, JOB)
    with pytest.raises(HTTPStatusError) as caught:
        interpret(503, {"Retry-After": "7"}, 0, JOB)
    assert (caught.value.status, caught.value.retry_after) == (503, 7.0)


def test_checking_what_arrived() -> None:
    body = interpret(200, {"Content-Length": "100"}, 0, JOB)
    with pytest.raises(TransportError, match="after 60 of 100"):
        check_body(JOB, body, 60, "")
    with pytest.raises(IntegrityError, match="sha256"):
        check_body(Job("http://h/f", "f", sha256="a" * 64), interpret(200, {}, 0, JOB), 100, "b" * 64)
    check_body(JOB, body, 100, "anything")


def test_retry_decisions() -> None:
    policy = RetryPolicy(retries=3, backoff=1.0, max_backoff=4.0, rng=random.Random(1))
    transient = TransportError("reset")
    waits = [policy.delay(attempt, transient) for attempt in (1, 2, 3)]
    assert all(w is not None for w in waits)
    assert 0 <= waits[0] <= 1 and 0 <= waits[1] <= 2 and 0 <= waits[2] <= 4
    assert policy.delay(4, transient) is None
    assert policy.delay(1, HTTPStatusError(404)) is None
    assert policy.delay(1, HTTPStatusError(403)) is None
    assert policy.delay(1, StorageError("disk full")) is None
    assert policy.delay(1, HTTPStatusError(500)) is not None
    assert policy.delay(1, HTTPStatusError(429, retry_after=3.0)) >= 3.0  # type: ignore[operator]
    assert policy.delay(1, HTTPStatusError(429, retry_after=1000.0)) is None
    assert policy.delay(1, Timeout("slow"), remaining=0.0) is None
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


def _compressors() -> dict:
    import gzip
    import zlib

    from aiotulip.download.decoding import _brotli, _zstd

    return {
        "gzip": lambda data: gzip.compress(data, 9),
        "deflate": lambda data: zlib.compress(data, 9),
        "br": _brotli().compress,
        "zstd": _zstd().compress,
    }


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_decoder_gives_bounded_pieces_of_a_bomb(encoding: str) -> None:
    from aiotulip.download.decoding import Decoder, Inflated

    bomb = _compressors()[encoding](bytes(64 * 1024 * 1024))  # 64 MB of zeros in a few KB
    assert len(bomb) < 100_000
    decoder = Decoder(encoding, max_ratio=0)  # (no bound on the ratio: the pieces are what is tested)
    decoder.feed(bomb)
    sizes = [len(decoder.take(65536)) for _ in range(50)]
    assert all(0 < size <= 65536 + 32768 for size in sizes), sizes  # brotli's blocks overshoot a little
    bounded = Decoder(encoding)  # the default ratio stops it after a mebibyte and a little
    bounded.feed(bomb)
    with pytest.raises(Inflated, match="inflates past 200 times"):
        for _ in range(2000):  # 64 MB would be 1,024 pieces; a gzip bomb is ~1,000 times, not 200
            bounded.take(65536)
    assert bounded.given <= 200 * len(bomb) + (1 << 20) + 65536 + 32768


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize("chunk", [1, 333, 1 << 20])
def test_a_decoder_reads_any_split_and_refuses_a_cut_stream(encoding: str, chunk: int) -> None:
    from aiotulip.download.decoding import Decoder

    data = random.Random(7).randbytes(20_000) + b"tulip " * 20_000
    encoded = _compressors()[encoding](data)

    def decode(stream: bytes) -> bytes:
        decoder, out = Decoder(encoding), []
        for at in range(0, len(stream), chunk):
            decoder.feed(stream[at : at + chunk])
            while piece := decoder.take(4096):
                out.append(piece)
        decoder.finish()
        return b"".join(out)

    assert decode(encoded) == data
    with pytest.raises(ValueError, match="ends before its end"):
        decode(encoded[: len(encoded) // 2])


def test_http_dates_any_form_and_none_that_overflows() -> None:
    from aiotulip.download.plan import http_date

    when = 784111777.0
    assert http_date("Sun, 06 Nov 1994 08:49:37 GMT") == when
    assert http_date("Sunday, 06-Nov-94 08:49:37 GMT") == when
    assert http_date("Sun Nov  6 08:49:37 1994") == when  # asctime: RFC 9110 says accept it
    for bad in ["Mon, 01 Jan 2020 00:00:00 +99999999999999999999", "Mon, 01 Jan 99999 00:00:00 GMT",
                "Mon, 01 Jan 2020 99:00:00 GMT", "yesterday", ""]:  # fmt: skip
        assert http_date(bad) is None, bad


def test_a_server_name_reads_alike_from_every_transport() -> None:
    from aiotulip.download.item.naming import disposition_name
    from aiotulip.download.plan import content_coding

    raw = 'attachment; filename="été.txt"'.encode()
    assert disposition_name(raw.decode("latin-1")) == "été.txt"  # tulip's transports
    assert disposition_name(raw.decode("utf-8", "surrogateescape")) == "été.txt"  # aiohttp's
    latin = b'attachment; filename="\xff\xfe.txt"'
    assert disposition_name(latin.decode("latin-1")) == disposition_name(
        latin.decode("utf-8", "surrogateescape")
    )
    assert disposition_name('attachment; filename=".profile"') == "profile"
    assert disposition_name("attachment; filename=\"a.txt\"; filename*=UTF-8''b%C3%A9.txt") == "bé.txt"
    assert content_coding({"Content-Encoding": "X-Gzip"}, ("gzip",)) == ("gzip", None)


def test_a_late_name_is_not_a_folder_another_item_needs() -> None:
    from aiotulip.download.names import Names

    names = Names(["x/file", "y"], on_collision="number")
    assert names.take("x", "y") == ("x.1", 1)
    assert names.take("x", "y") == ("x.1", 1)  # asked again (a retry): the same name
    assert names.take("z", "y", first=1) == ("z.1", 1)  # "z" turned out to be someone's file
    with pytest.raises(ValueError, match="another item writes"):
        Names(["x/file", "y"]).take("x", "y")


def test_the_summary_says_a_slow_rate_with_a_tenth() -> None:
    from aiotulip.download.summary import _rate

    assert [_rate(r) for r in (0.5, 0.04, 9.94, 10.0, 1234.6)] == ["0.5", "0.0", "9.9", "10", "1235"]
