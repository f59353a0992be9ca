"""Property tests: the name sanitiser, the input-file parser, and both sides' Range logic."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from aiotulip import Job
from aiotulip.download.http.ranges import resume_headers
from aiotulip.download.names import name_from_url, safe_name
from aiotulip.download.plan import interpret
from aiotulip.download.sources import parse_input
from aiotulip.serve.ranges import UNSATISFIABLE, resolve_range

SETTINGS = settings(max_examples=400, deadline=None)


def _is_safe(name: str) -> bool:
    parts = name.split("/")
    return (
        bool(name)
        and not name.startswith("/")
        and all(part not in ("", ".", "..") for part in parts)
        and "\\" not in name
        and not any(ord(c) < 0x20 or c == "\x7f" for c in name)
        and all(len(part.encode()) <= 250 for part in parts)
    )


@SETTINGS
@given(st.text(min_size=1, max_size=600))
def test_safe_name_never_escapes(text: str) -> None:
    try:
        name = safe_name(text)
    except ValueError:
        return
    assert _is_safe(name), repr(name)
    assert safe_name(name) == name  # idempotent
    single = safe_name(text, allow_dirs=False) if text.strip("/\\") else None
    if single is not None:
        assert "/" not in single


@SETTINGS
@given(st.text(alphabet=string.printable + "é思%", max_size=200))
def test_names_from_any_url_path_are_safe(path: str) -> None:
    name = name_from_url("http://h/" + path.replace("#", "").replace("?", ""))
    assert _is_safe(name) and "/" not in name, repr(name)


_urls = st.builds(
    lambda p: f"http://host.example/{p}",
    st.text(alphabet=string.ascii_letters + string.digits + "._-/", max_size=40),
)
_entries = st.lists(
    st.tuples(_urls, st.none() | st.text(alphabet=string.ascii_letters + "._-", min_size=1, max_size=20),
              st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
              st.none() | st.integers(0, 10**12)),
    max_size=20,
)  # fmt: skip


@SETTINGS
@given(_entries, st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_input_file_round_trip(entries: list, newline: str, comments: bool) -> None:
    lines: list[str] = []
    for url, out, sha, size in entries:
        if comments:
            lines += ["# a comment", ""]
        lines.append(url)
        if out is not None:
            lines.append(f"  out={out}")
        if sha is not None:
            lines.append(f"\tsha256={sha.upper()}")
        if size is not None:
            lines.append(f"  size={size}")
    text = newline.join(lines)
    parsed = list(parse_input(text.splitlines(), "t"))
    assert [(e.url, e.out, e.sha256, e.size) for e in parsed] == [
        (url, out, sha, size) for url, out, sha, size in entries
    ]


@SETTINGS
@given(st.integers(0, 10**7), st.integers(-(10**7), 10**7), st.none() | st.integers(0, 10**7))
def test_server_range_resolution_stays_in_bounds(size: int, start: int, stop: int | None) -> None:
    if stop is not None and start >= 0 and stop <= start:
        return  # aiohttp rejects these before us
    resolved = resolve_range(slice(start, stop), size)
    if resolved is UNSATISFIABLE:
        assert size == 0 or start >= size
        return
    assert resolved is not None
    first, end = resolved
    assert 0 <= first < end <= size
    if start >= 0:
        assert first == start and end == (size if stop is None else min(stop, size))
    else:
        assert end == size and end - first == min(-start, size)


@SETTINGS
@given(st.integers(1, 10**9), st.integers(0, 10**9))
def test_client_and_server_agree_on_a_resume(size: int, offset: int) -> None:
    offset = offset % size
    headers = resume_headers(offset, '"etag"') if offset else {}
    requested = slice(offset, None) if offset else slice(None, None)
    assert ("Range" in headers) == bool(offset)
    span = resolve_range(requested, size)
    job = Job("http://h/f", "f", size=size)
    if span is None:
        body = interpret(200, {"Content-Length": str(size)}, 0, job)
        assert (body.offset, body.total) == (0, size)
        return
    first, end = span
    answer = {"Content-Range": f"bytes {first}-{end - 1}/{size}", "Content-Length": str(end - first)}
    body = interpret(206, answer, offset, job)
    assert (body.offset, body.total) == (offset, size)


_DAY = st.sampled_from(["Sun", "Mon", "Sat"]) | st.sampled_from(["sun", "Xyz", "1 2", "  M", "Dé"])
_MONTH = st.sampled_from(["Jan", "Feb", "Nov", "Dec"]) | st.sampled_from(["nov", "NOV", "Foo", "Növ"])
_JUNK = st.sampled_from(["1 ", " 1", "+1", "٣٣", "1.", "-1"])


def _number(low: int, high: int) -> st.SearchStrategy[str]:
    usual = st.integers(low, high) | st.integers(0, 99)
    return usual.map(lambda n: f"{n:02d}") | _JUNK


_YEARS = st.integers(0, 200) | st.integers(1900, 2100) | st.integers(0, 9999)
_YEAR = _YEARS.map(lambda n: f"{n:04d}") | st.sampled_from(["99 9", "+999", "٢٠٢٠"])
_ZONE = st.just(" GMT") | st.sampled_from([" UTC", " GMX", "+000", " gmt"])


@SETTINGS
@given(_DAY, _number(1, 31), _MONTH, _YEAR, _number(0, 23), _number(0, 59), _number(0, 60), _ZONE)
def test_an_http_date_reads_as_email_utils_reads_it(
    day: str, date: str, month: str, year: str, hour: str, minute: str, second: str, zone: str
) -> None:
    # http_date reads the form every server sends by hand (email.utils' import was 3 ms of every
    # start): whatever it makes of a date in that shape, email.utils would have made too.
    import datetime
    from email.utils import parsedate_to_datetime

    from aiotulip.download.plan import http_date

    text = f"{day}, {date} {month} {year} {hour}:{minute}:{second}{zone}"
    try:
        when = parsedate_to_datetime(text)
        expected: float | None = (when if when.tzinfo else when.replace(tzinfo=datetime.UTC)).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        expected = None
    http_date.cache_clear()
    assert http_date(text) == expected, text
