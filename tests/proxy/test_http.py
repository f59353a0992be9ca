"""The framing reader: every byte comes out once and in order, however the stream is cut; messages
begin and end where HTTP/1.1 says; what it cannot follow goes on as it came."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiotulip.proxy.http import BODY, END, FRAMING, HEAD, OPAQUE, Part, Reader

REQUESTS = (
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
    b"\r\nPUT /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
    b"HEAD /h HTTP/1.0\r\n\r\n"
)
RESPONSES = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"  # the answer to a HEAD: no body
    b"HTTP/1.0 200 OK\r\n\r\nuntil the close"
)


def read(reader: Reader, data: bytes, cuts: list[int]) -> list[Part]:
    parts, start = [], 0
    for cut in [*sorted(cuts), len(data)]:
        parts += reader.feed(data[start:cut])
        start = cut
    return parts + reader.eof()


def responses_reader() -> Reader:
    reader = Reader(requests=False)
    reader.methods.extend(["POST", "GET", "GET", "HEAD", "GET"])
    return reader


def summary(parts: list[Part]) -> list[tuple[str, bytes]]:
    """Parts with adjacent payload pieces joined (how a stream was cut must not show)."""
    out: list[tuple[str, bytes]] = []
    for part in parts:
        if out and part.kind in (BODY, OPAQUE) and out[-1][0] == part.kind:
            out[-1] = (part.kind, out[-1][1] + part.data)
        elif part.kind != BODY or part.data:
            out.append((part.kind, part.data))
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, len(REQUESTS)), max_size=12),
    st.lists(st.integers(0, len(RESPONSES)), max_size=12),
)
def test_every_byte_comes_out_once_in_order_however_cut(
    request_cuts: list[int], response_cuts: list[int]
) -> None:
    requests = read(Reader(requests=True), REQUESTS, request_cuts)
    assert b"".join(p.data for p in requests) == REQUESTS
    assert summary(requests) == summary(read(Reader(requests=True), REQUESTS, []))
    responses = read(responses_reader(), RESPONSES, response_cuts)
    assert b"".join(p.data for p in responses) == RESPONSES
    assert summary(responses) == summary(read(responses_reader(), RESPONSES, []))


def test_requests_are_told_apart() -> None:
    parts = read(Reader(requests=True), REQUESTS, [])
    heads = [p.head.first for p in parts if p.kind == HEAD and p.head]
    assert heads == [("GET", "/", "HTTP/1.1"), ("POST", "/up", "HTTP/1.1"), ("PUT", "/p", "HTTP/1.1"),
                     ("HEAD", "/h", "HTTP/1.0")]  # fmt: skip
    assert [p.kind for p in parts].count(END) == 4
    payload = b"".join(p.data for p in parts if p.kind == BODY)
    assert payload == b"hello worldbody"  # chunk framing kept apart from the payload
    assert (
        b"".join(p.data for p in parts if p.kind == FRAMING)
        == b"5;ext=1\r\n\r\n6\r\n\r\n0\r\nTrailer: t\r\n\r\n"
    )


def test_answers_are_framed_by_their_requests() -> None:
    parts = read(responses_reader(), RESPONSES, [])
    statuses = [(p.head.status, p.length) for p in parts if p.kind == HEAD and p.head]
    assert statuses == [(100, 0), (200, 5), (200, None), (204, 0), (200, 0), (200, None)]
    assert [p.kind for p in parts].count(END) == 5  # the last one at the close
    assert parts[-1].kind == END and parts[-2].data == b"until the close"


def test_what_is_not_http_goes_on_as_it_came() -> None:
    for junk in (b"*2\r\n$4\r\nPING\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\nxy", b"X" * 70_000):  # fmt: skip
        reader = Reader(requests=True)
        parts = read(reader, junk, [3])
        assert b"".join(p.data for p in parts) == junk
        assert OPAQUE in {p.kind for p in parts} and reader.opaque
        assert reader.feed(b"more")[0].kind == OPAQUE


def test_a_bad_chunk_size_makes_the_rest_opaque() -> None:
    reader = responses_reader()
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc"
    parts = read(reader, data, [])
    assert [p.kind for p in parts][:2] == [HEAD, OPAQUE] and b"".join(p.data for p in parts) == data
