"""The HTTP toxics per exchange, no socket: tulip's answers in their places among the upstream's,
bodies cut and flipped as drawn, requests kept back, upgrades refused."""

from __future__ import annotations

from aiotulip.proxy.draws import Draws
from aiotulip.proxy.exchange import Exchanges
from aiotulip.proxy.model import Toxic, parse_toxic
from aiotulip.proxy.toxics import CLOSE, DATA, EOF, Event

T0 = 10.0


def toxic(kind: str, toxicity: float = 1.0, name: str | None = None, **attributes: object) -> Toxic:
    body: dict[str, object] = {"type": kind, "toxicity": toxicity, "attributes": attributes}
    if name:
        body["name"] = name
    return parse_toxic(body)


def joined(events: list[Event]) -> bytes:
    return b"".join(e.data for e in events if e.kind == DATA)


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def test_an_error_takes_the_place_of_its_answer_among_pipelined_ones() -> None:
    ex = Exchanges(Draws(1, "p"), [])  # /a goes on ...
    forwarded = joined(ex.up.data(T0, get("/a")))
    ex.set_toxics([toxic("http_error", status=503, retry_after=2)])
    forwarded += joined(ex.up.data(T0, get("/b")))  # ... /b is kept back ...
    ex.set_toxics([])
    forwarded += joined(ex.up.data(T0, get("/c")))
    assert forwarded == get("/a") + get("/c")  # the upstream never sees /b
    assert ex.down.tick(T0) == []  # tulip's answer waits for the one before it
    out = joined(ex.down.data(T0, ok(b"A") + ok(b"C")))
    assert out.startswith(ok(b"A") + b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Retry-After: 2\r\n" in out and out.endswith(ok(b"C"))


def test_an_error_with_nothing_before_it_goes_at_once_and_its_body_is_swallowed() -> None:
    ex = Exchanges(Draws(1, "p"), [toxic("http_error", status=429)])
    post = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel"
    assert ex.up.data(T0, post) == []
    assert ex.down.deadline() == T0
    answer = joined(ex.down.tick(T0))
    assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n") and b"Retry-After" not in answer
    assert b"Connection: close" not in answer
    ex.set_toxics([])
    assert joined(ex.up.data(T0, b"lo" + get("/next"))) == get("/next")  # the rest of the body: gone


def test_a_request_that_asks_to_close_gets_its_error_and_the_close() -> None:
    ex = Exchanges(Draws(1, "p"), [toxic("http_error", status=500)])
    ex.up.data(T0, get("/", "Connection: close\r\n") + get("/never"))
    events = ex.down.tick(T0)
    assert b"Connection: close" in joined(events) and events[-1].kind == CLOSE


def test_an_upgrade_is_refused_with_501_and_a_close() -> None:
    ex = Exchanges(Draws(1, "p"), [toxic("http_truncate")])
    upgrade = get("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n")
    assert ex.up.data(T0, upgrade + b"\x81\x05hello") == []
    events = ex.down.tick(T0)
    assert joined(events).startswith(b"HTTP/1.1 501 Not Implemented\r\n") and events[-1].kind == CLOSE


def test_truncate_cuts_a_known_length_short_and_closes() -> None:
    ex = Exchanges(Draws(1, "p"), [toxic("http_truncate")])
    ex.up.data(T0, get("/big"))
    body = bytes(range(256)) * 40
    events = ex.down.data(T0, ok(body)[:100]) + ex.down.data(T0, ok(body)[100:])
    sent = joined(events)
    assert events[-1].kind == CLOSE
    assert sent.startswith(ok(body)[:40]) and len(ok(b"")) + 1 <= len(sent) < len(ok(body))
    assert ok(body).startswith(sent)


def test_truncate_of_a_chunked_answer_never_sends_its_end() -> None:
    ex = Exchanges(Draws(2, "p"), [toxic("http_truncate")])
    ex.up.data(T0, get("/c"))
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"
    events = ex.down.data(T0, chunked)
    sent = joined(events)
    assert events[-1].kind == CLOSE and chunked.startswith(sent) and len(sent) < len(chunked)


def test_corrupt_flips_bytes_and_keeps_the_length_and_framing() -> None:
    ex = Exchanges(Draws(3, "p"), [toxic("http_corrupt", bytes=3)])
    ex.up.data(T0, get("/f"))
    body = b"\x00" * 1000
    sent = joined(ex.down.data(T0, ok(body)))
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    assert sent.startswith(head) and len(sent) == len(ok(body))
    flipped = [i for i, byte in enumerate(sent[len(head) :]) if byte]
    assert 1 <= len(flipped) <= 3 and all(sent[len(head) + i] == 0xFF for i in flipped)


def test_delay_holds_the_head_and_what_follows_it() -> None:
    ex = Exchanges(Draws(1, "p"), [toxic("http_delay_headers", delay=250)])
    ex.up.data(T0, get("/"))
    events = ex.down.data(T0, ok(b"x"))
    assert {round(e.at - T0, 6) for e in events} == {0.25}


def test_draws_are_per_request_key_and_replayed_by_the_seed() -> None:
    def statuses(seed: int) -> list[bool]:
        ex = Exchanges(Draws(seed, "p"), [toxic("http_error", toxicity=0.5)])
        out = []
        for _ in range(60):
            out.append(ex.up.data(T0, get("/same")) == [])  # kept back: an error was drawn
            ex.down.tick(T0)
            ex.down.data(T0, ok(b"x"))
        return out

    assert statuses(5) == statuses(5) != statuses(6)
    assert 15 < sum(statuses(5)) < 45


def test_an_answer_with_no_request_passes_and_the_end_passes_on() -> None:
    ex = Exchanges(Draws(1, "p"), [toxic("http_corrupt")])
    events = ex.down.data(T0, b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
    assert joined(events).startswith(b"HTTP/1.1 408") and ex.down.end(T0, EOF)[-1].kind == EOF
