"""The TCP toxics as timed events, no socket: what leaves when, and how a chain keeps order."""

from __future__ import annotations

import pytest

from aiotulip.proxy.draws import Draws
from aiotulip.proxy.model import Toxic, parse_toxic
from aiotulip.proxy.toxics import CLOSE, DATA, EOF, RESET, Chain, Event, build_stages

T0 = 100.0


def toxic(kind: str, stream: str = "downstream", toxicity: float = 1.0, **attributes: int) -> Toxic:
    return parse_toxic({"type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes})


def chain(*toxics: Toxic, nth: int = 0, seed: int = 1) -> Chain:
    return Chain(build_stages(toxics, "downstream", Draws(seed, "p"), nth, T0))


def shape(events: list[Event]) -> list[tuple[float, int, int]]:
    return [(round(e.at - T0, 6), e.kind, len(e.data)) for e in events]


def test_no_toxic_passes_everything_at_once() -> None:
    assert shape(chain().data(T0, b"x" * 10) + chain().end(T0, EOF)) == [(0, DATA, 10), (0, EOF, 0)]


def test_latency_delays_each_piece_and_keeps_their_order() -> None:
    c = chain(toxic("latency", latency=100))
    assert shape(c.data(T0, b"a") + c.data(T0 + 0.01, b"b") + c.end(T0 + 0.02, EOF)) == [
        (0.1, DATA, 1), (0.11, DATA, 1), (0.11, EOF, 0),  # the FIN follows the data at once
    ]  # fmt: skip
    jittery = chain(toxic("latency", latency=100, jitter=50))
    times = [e.at - T0 for e in (ev for i in range(200) for ev in jittery.data(T0 + i, b"x"))]
    delays = [t - i for i, t in enumerate(times)]
    assert all(0.05 - 1e-9 <= d <= 0.15 for d in delays) and len({round(d, 3) for d in delays}) > 10


def test_bandwidth_paces_pieces_of_a_tenth_of_a_second() -> None:
    c = chain(toxic("bandwidth", rate=100))  # 100 KB/s: pieces of 10,000 bytes
    events = c.data(T0, b"x" * 35_000)
    assert shape(events) == [(0, DATA, 10_000), (0.1, DATA, 10_000), (0.2, DATA, 10_000), (0.3, DATA, 5_000)]
    assert shape(c.data(T0 + 0.1, b"y" * 1000)) == [(0.35, DATA, 1000)]  # waits for what went before
    assert shape(chain(toxic("bandwidth", rate=0)).data(T0, b"x" * 5)) == [(0, DATA, 5)]  # 0: no limit


def test_slicer_cuts_pieces_around_the_average_and_spaces_them() -> None:
    c = chain(toxic("slicer", average_size=100, size_variation=20, delay=1000))
    events = c.data(T0, bytes(range(256)) * 8)
    assert b"".join(e.data for e in events) == bytes(range(256)) * 8
    assert all(80 <= len(e.data) <= 120 for e in events[:-1])
    assert [round(e.at - T0, 6) for e in events] == [round(i * 0.001, 6) for i in range(len(events))]


def test_limit_data_closes_after_its_bytes() -> None:
    c = chain(toxic("limit_data", bytes=25))
    assert shape(c.data(T0, b"x" * 10) + c.data(T0, b"x" * 20) + c.data(T0, b"x")) == [
        (0, DATA, 10), (0, DATA, 15), (0, CLOSE, 0),
    ]  # fmt: skip
    assert shape(chain(toxic("limit_data", bytes=0)).data(T0, b"x")) == [(0, CLOSE, 0)]


def test_slow_close_holds_the_end_back() -> None:
    c = chain(toxic("slow_close", delay=300))
    assert shape(c.data(T0, b"x") + c.end(T0, EOF)) == [(0, DATA, 1), (0.3, EOF, 0)]


def test_timeout_swallows_data_and_closes_when_due() -> None:
    c = chain(toxic("timeout", timeout=500))
    assert c.data(T0, b"lost") == [] and c.deadline() == pytest.approx(T0 + 0.5)
    assert c.tick(T0 + 0.2) == []
    assert shape(c.tick(T0 + 0.5)) == [(0.5, CLOSE, 0)] and c.deadline() is None
    never = chain(toxic("timeout", timeout=0))
    assert never.data(T0, b"lost") == [] and never.deadline() is None
    assert shape(never.end(T0 + 1, EOF)) == [(1, CLOSE, 0)]  # toxiproxy closes the link when its source ends


def test_reset_peer_takes_the_first_data_and_resets_after_its_timeout() -> None:
    c = chain(toxic("reset_peer", timeout=200))
    assert c.deadline() is None
    assert c.data(T0 + 1, b"never seen") == [] and c.deadline() == pytest.approx(T0 + 1.2)
    assert shape(c.tick(T0 + 1.2)) == [(1.2, RESET, 0)]
    assert shape(chain(toxic("reset_peer")).data(T0, b"x")) == [(0, RESET, 0)]


def test_a_chain_applies_toxics_in_order_and_an_end_waits_for_the_data() -> None:
    c = chain(toxic("latency", latency=100), toxic("limit_data", bytes=3), toxic("slow_close", delay=50))
    assert shape(c.data(T0, b"abcdef")) == [(0.1, DATA, 3), (0.15, CLOSE, 0)]


def test_toxicity_is_drawn_per_connection_from_the_seed() -> None:
    half = toxic("latency", toxicity=0.5, latency=1)
    reached = [bool(build_stages([half], "downstream", Draws(7, "p"), nth, T0)) for nth in range(200)]
    again = [bool(build_stages([half], "downstream", Draws(7, "p"), nth, T0)) for nth in range(200)]
    other = [bool(build_stages([half], "downstream", Draws(8, "p"), nth, T0)) for nth in range(200)]
    assert reached == again != other
    assert 70 < sum(reached) < 130
    assert build_stages([half], "upstream", Draws(7, "p"), 0, T0) == []  # the other stream


def test_a_kept_stage_keeps_its_state_through_an_update() -> None:
    draws = Draws(1, "p")
    stages = build_stages([toxic("limit_data", bytes=10)], "downstream", draws, 0, T0)
    Chain(stages).data(T0, b"x" * 8)
    again = build_stages([toxic("limit_data", bytes=12)], "downstream", draws, 0, T0, kept=stages)
    assert again[0] is stages[0]
    assert shape(Chain(again).data(T0, b"x" * 8)) == [(0, DATA, 4), (0, CLOSE, 0)]
