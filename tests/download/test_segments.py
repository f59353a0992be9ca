"""The segments of a split download, without I/O: how a file is cut, how idle connections take half
of another's span, what each request asks for, and that the map kept beside the .part never claims
a byte not written."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from aiotulip import RetryPolicy
from aiotulip.download.segments import Changed, Failed, Retry, Segments, Span, decode_map
from aiotulip.errors import TransportError

MB = 1 << 20


def segments(total: int, connections: int = 4, min_size: int = MB, waves: int = 1, **kw: object) -> Segments:
    policy = RetryPolicy(retries=2, backoff=0.0, max_backoff=0.0)
    return Segments(total, '"v1"', connections=connections, min_size=min_size, policy=policy, waves=waves,
                    **kw)  # type: ignore[arg-type]  # fmt: skip


def test_a_file_is_cut_evenly_and_never_under_the_minimum() -> None:
    quarters = [(k * 2 * MB, (k + 1) * 2 * MB) for k in range(4)]
    assert [(s.start, s.end) for s in segments(8 * MB).spans] == quarters
    assert len(segments(3 * MB).spans) == 3
    assert len(segments(2 * MB - 1).spans) == 1  # under twice the minimum: not cut
    assert len(segments(100 * MB, connections=1, waves=4).spans) == 1  # one connection: one request


def test_a_big_file_is_cut_in_waves_taken_front_first() -> None:
    """Up to four spans a connection (none under the minimum), taken in file order, so that the
    front of the file is whole early and its hash can follow while the rest downloads."""
    segs = segments(32 * MB, connections=2, min_size=MB, waves=4)
    assert [s.end - s.start for s in segs.spans] == [4 * MB] * 8
    a, b = segs.connection(), segs.connection()
    first, second = a.begin().headers["Range"], b.begin().headers["Range"]
    assert (first, second) == (f"bytes=0-{4 * MB - 1}", f"bytes={4 * MB}-{8 * MB - 1}")
    a.advance(a.take(4 * MB)[1])
    assert segs.frontier == 4 * MB
    assert a.begin().headers["Range"] == f"bytes={8 * MB}-{12 * MB - 1}"  # the earliest free span
    b.advance(b.take(4 * MB)[1])
    assert segs.frontier == 8 * MB
    assert len(segments(6 * MB, connections=2, min_size=MB, waves=4).spans) == 6  # three a connection


def test_requests_ask_for_the_span_with_if_range() -> None:
    segs = segments(8 * MB)
    a, b = segs.connection(), segs.connection()
    assert a.begin().headers == {"Range": f"bytes=0-{2 * MB - 1}", "If-Range": '"v1"'}
    assert b.begin().headers == {"Range": f"bytes={2 * MB}-{4 * MB - 1}", "If-Range": '"v1"'}


def test_an_idle_connection_takes_the_back_half_of_the_largest_span() -> None:
    segs = segments(4 * MB, connections=2)
    a, b = segs.connection(), segs.connection()
    a.begin(), b.begin()
    offset, keep = b.take(2 * MB)  # b's span done
    b.advance(keep)
    assert b.finished and b.ended() is None
    fetch = b.begin()  # a has 2 MB left: b takes the last MB of it
    assert fetch is not None and fetch.headers["Range"] == f"bytes={MB}-{2 * MB - 1}"
    # a, still reading its first response, keeps only what is now its own
    offset, keep = a.take(3 * MB)
    assert (offset, keep) == (0, MB)
    a.advance(keep)
    assert a.finished
    assert segs.connection().begin() is None  # nothing left to take


def test_bytes_in_flight_are_not_taken_by_a_thief() -> None:
    segs = segments(4 * MB, connections=1, min_size=MB // 4)
    a = segs.connection()
    a.begin()
    offset, keep = a.take(3 * MB)  # received, not yet written
    thief = segs.connection()
    fetch = thief.begin()
    assert fetch is not None and fetch.headers["Range"] == f"bytes={3 * MB + MB // 2}-{4 * MB - 1}"
    assert (offset, keep) == (0, 3 * MB)
    assert '"done":[]' in segs.encode()  # nothing written yet: the map claims nothing
    a.advance(keep)
    assert '"done":[[0,3145728]]' in segs.encode()


def test_answers_that_cannot_be_used() -> None:
    segs = segments(8 * MB)
    conn = segs.connection()
    conn.begin()
    whole = conn.response(200, {})
    assert isinstance(whole, Changed) and segs.stopped
    segs = segments(8 * MB)
    conn = segs.connection()
    conn.begin()
    assert isinstance(conn.response(206, {"Content-Range": f"bytes 0-99/{9 * MB}"}), Changed)
    segs = segments(8 * MB)
    conn = segs.connection()
    conn.begin()
    assert isinstance(conn.response(206, {"Content-Range": f"bytes 5-99/{8 * MB}"}), Retry)
    assert isinstance(conn.response(503, {}) if conn.begin() else None, Retry)
    assert isinstance(conn.response(404, {}) if conn.begin() else None, Failed)
    assert segs.stopped  # a span that cannot be fetched ends the download


def test_a_server_that_sends_less_than_asked_is_asked_for_the_rest() -> None:
    segs = segments(4 * MB, connections=1)
    conn = segs.connection()
    conn.begin()
    span = conn.response(206, {"Content-Range": f"bytes 0-{MB - 1}/{4 * MB}"})
    assert isinstance(span, Span)
    conn.advance(conn.take(MB)[1])
    assert conn.ended() is None and segs.retries == 0
    assert conn.begin().headers["Range"] == f"bytes={MB}-{4 * MB - 1}"


def test_retries_are_counted_and_bounded() -> None:
    segs = segments(4 * MB, connections=1)
    conn = segs.connection()
    outcomes = []
    for _ in range(3):
        conn.begin()
        outcomes.append(type(conn.failed(TransportError("reset"))).__name__)
    assert outcomes == ["Retry", "Retry", "Failed"]
    assert segs.retries == 3 and segs.stopped
    assert conn.begin() is None


def test_the_map_round_trips_and_resumes_only_the_holes() -> None:
    segs = segments(10 * MB, connections=2)
    conn = segs.connection()
    conn.begin()
    conn.advance(conn.take(3 * MB)[1])
    kept = decode_map(segs.encode())
    assert kept == (10 * MB, [(0, 3 * MB)])
    again = segments(10 * MB, connections=2, done=kept[1])
    assert again.received == 3 * MB
    assert [(s.start, s.end) for s in again.spans] == [
        (3 * MB, 6 * MB + MB // 2),
        (6 * MB + MB // 2, 10 * MB),
    ]
    for bad in ["", "{", '{"v":1}', '{"v":2,"total":5,"done":[]}', '{"v":1,"total":5,"done":[[3,9]]}',
                '{"v":1,"total":-1,"done":[]}', '{"v":1,"total":5,"done":[[1]]}', "[]"]:  # fmt: skip
        assert decode_map(bad) is None, bad


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(1, 2 * MB),
    connections=st.integers(1, 9),
    seed=st.integers(0, 2**32),
)
def test_any_interleaving_fills_the_file_exactly_once(total: int, connections: int, seed: int) -> None:
    """Connections take, write, get robbed and fail in any order: every byte is written by exactly
    one of them, and the map never claims a byte before it is written."""
    rng = random.Random(seed)
    segs = segments(total, connections=connections, min_size=max(1, total // 20))
    written = bytearray(total)
    conns = [segs.connection() for _ in range(connections)]
    pending: list[tuple[object, int, int]] = []
    for _ in range(20_000):
        if segs.complete:
            break
        conn = rng.choice(conns)
        if pending and rng.random() < 0.5:  # a write lands
            landed = pending.pop(rng.randrange(len(pending)))
            owner, offset, keep = landed
            for i in range(offset, offset + keep):
                written[i] += 1
            owner.advance(keep)  # type: ignore[attr-defined]
            continue
        if any(p[0] is conn for p in pending):
            continue
        if conn.finished and conn.begin() is None:
            continue
        if rng.random() < 0.05:
            conn.failed(TransportError("reset"), None)
            segs.failed = None  # keep going: this test is about bytes, not giving up
            continue
        offset, keep = conn.take(rng.randint(1, max(1, total // 7)))
        if keep:
            pending.append((conn, offset, keep))
        done = decode_map(segs.encode())
        assert done is not None
        for a, b in done[1]:
            assert all(written[i] == 1 for i in range(a, min(b, a + 64)))
    assert segs.complete
    assert written == bytearray([1]) * total


def test_connections_gather_on_the_fastest_url() -> None:
    """Each URL is tried first; then a connection starting a span goes where connections have been
    fastest, and moves on when that server's speed falls (aria2c's feedback selector)."""
    from aiotulip.download.segments import Sources

    sources = Sources(3)
    assert [sources.pick() for _ in range(1)] == [0]
    sources.states[0].busy = 1
    assert sources.pick() == 1  # not tried yet, and idle
    sources.measured(0, 20 * MB, 1.0)
    sources.measured(1, 10 * MB, 1.0)
    sources.measured(2, 5 * MB, 1.0)
    assert sources.pick() == 0
    sources.measured(0, 2 * MB, 1.0)  # crowded now: 11 MB/s on average
    assert sources.pick() == 0
    sources.measured(0, 1 * MB, 1.0)  # 6 MB/s: the second URL is faster now
    assert sources.pick() == 1
    sources.drop(1, "gone")
    assert sources.pick() == 0
    sources.measured(2, 0, 0.0)  # nothing to learn from an empty or instant answer
    assert sources.states[2].speed == 5 * MB
