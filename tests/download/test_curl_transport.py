"""The curl transport's own edges. libcurl's timer on the event loop: "now" (0 ms) must run at the
next turn of the loop, whatever timer was set before and whichever loop runs it (uvloop's handles are
not asyncio's classes: a check by class once left a resumed transfer waiting for a 10 s timer on
uvloop). And the pause that holds a transfer while its reader catches up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pycurl
import pytest

from aiotulip.download.options import FetchOptions
from aiotulip.download.transports.curl import CurlTransport

LOOPS: list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]] = [("asyncio", asyncio.new_event_loop)]
try:
    import uvloop

    LOOPS.append(("uvloop", uvloop.new_event_loop))
except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
    pass


@pytest.mark.parametrize("factory", [f for _n, f in LOOPS], ids=[n for n, _f in LOOPS])
def test_now_overrides_a_later_timer(factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    async def main() -> list[str]:
        fired: list[str] = []
        async with CurlTransport(FetchOptions().transport_options()) as transport:
            transport._act = lambda fd, what: fired.append("acted")  # type: ignore[method-assign]  # count, not drive
            transport._on_timer(10_000)  # libcurl: call me in 10 s
            transport._on_timer(0)  # ... no: now (a transfer resumed)
            transport._on_timer(0)  # (twice now is still once)
            for _ in range(3):
                await asyncio.sleep(0)
            assert fired == ["acted"]
            transport._on_timer(10_000)
            transport._on_timer(-1)  # cancelled: nothing runs
            for _ in range(3):
                await asyncio.sleep(0)
        return fired

    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(main()) == ["acted"]


@pytest.mark.parametrize("factory", [f for _n, f in LOOPS], ids=[n for n, _f in LOOPS])
def test_libcurls_time_is_kept_when_its_word_moves(factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    """The loop's call for libcurl's timer is not remade for every word: a call due sooner than
    libcurl now asks looks, finds it early, and looks again at the time asked — libcurl says a
    time once and never again (a look too early that acted would lose it); a word for sooner
    brings the call forward."""

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []
        async with CurlTransport(FetchOptions().transport_options()) as transport:
            start = loop.time()
            transport._act = lambda fd, what: fired.append(("acted", loop.time() - start))  # type: ignore[method-assign]
            transport._on_timer(50)
            transport._on_timer(300)  # moved later: the call at 50 ms must not act
            await asyncio.sleep(0.6)
            start = loop.time()
            transport._on_timer(300)
            transport._on_timer(50)  # moved sooner: acted at 50 ms, not 300
            await asyncio.sleep(0.2)
            transport._on_timer(-1)
        return fired

    with asyncio.Runner(loop_factory=factory) as runner:
        fired = runner.run(main())
    assert [what for what, _at in fired] == ["acted", "acted"]
    assert 0.29 <= fired[0][1] < 0.6
    assert 0.04 <= fired[1][1] < 0.2


BODY = bytes(range(256)) * 1025  # 256 KiB and 256 bytes: the last chunk crosses the first high-water mark


def test_a_body_that_ends_as_it_crosses_the_high_water_mark_reads_whole() -> None:
    """The chunk that crosses the high-water mark is taken and the next would be refused; when
    there is no next one the transfer ends unpaused, and the reader catching up must not ask
    libcurl to resume it (curl_easy_pause on a finished transfer fails: error 43). It failed one
    bulk download in three from nginx."""
    from tests.download.conformance.scripted import Scripted, response

    async def main(base: str) -> bytes:
        async with (
            CurlTransport(FetchOptions().transport_options()) as transport,
            transport.get(f"{base}/body", {}) as answer,
        ):
            await asyncio.sleep(0.5)  # the whole body arrives before the reader looks
            got = []
            while chunk := await answer.read(65536):
                got.append(chunk)
            return b"".join(got)

    with Scripted({"/body": lambda r: [response("200 OK", BODY)]}) as server:
        assert asyncio.run(main(server.base)) == BODY


def test_the_same_from_a_thread() -> None:
    import time

    from aiotulip.download.transports import open_sync
    from tests.download.conformance.scripted import Scripted, response

    with Scripted({"/body": lambda r: [response("200 OK", BODY)]}) as server:
        options = FetchOptions()
        with (
            open_sync("curl", options.transport_options()) as transport,
            transport.get(f"{server.base}/body", {}) as answer,
        ):
            time.sleep(0.5)
            got = []
            while chunk := answer.read(65536):
                got.append(chunk)
    assert b"".join(got) == BODY


def test_a_slow_reader_is_kept_two_of_its_reads_ahead() -> None:
    """libcurl stops reading a transfer whose reader falls behind, by the reader's own measure: two
    of its reads (and the 16 KB piece that crosses the mark), not a fixed megabyte — the engine's
    buffer budget, split over its downloads, is what bounds memory however many run at once."""
    import os

    from tests.download.conformance.scripted import Scripted, response

    big = os.urandom(4 * 1024 * 1024)

    async def main(base: str) -> tuple[bytes, int]:
        async with (
            CurlTransport(FetchOptions().transport_options()) as transport,
            transport.get(f"{base}/big", {}) as answer,
        ):
            got, most = [], 0
            while chunk := await answer.read(65536):
                got.append(chunk)
                await asyncio.sleep(0.002)  # slower than the socket: the body piles up meanwhile
                if len(got) > 24:  # (before the first read its measure is unknown: 256 KB wait)
                    most = max(most, answer._transfer.held)  # type: ignore[attr-defined]  # (the pile)
            return b"".join(got), most

    with Scripted({"/big": lambda r: [response("200 OK", big)]}) as server:
        body, most = asyncio.run(main(server.base))
    assert body == big
    assert 65536 < most <= 2 * 65536 + 16384


def test_a_request_that_never_gets_its_head_gives_its_handle_back() -> None:
    """A server that closes without a word, a reader that gives up waiting for the head (its item's
    deadline), on both shells: the easy handle goes back to the pool and the transfer leaves
    libcurl. (``async with``/``with`` never call the exit of an enter that raised: the enter must
    let go itself; it once kept one handle, and its transfer, for each such request.)"""
    from aiotulip.download.transports import open_sync
    from aiotulip.errors import TransportError
    from tests.download.conformance.scripted import CLOSE, Pause, Scripted, response

    routes = {
        "/close": lambda r: [CLOSE],
        "/slow": lambda r: [Pause(30)],
        "/ok": lambda r: [response("200 OK", b"x")],
    }

    async def main(base: str) -> tuple[int, int]:
        async with CurlTransport(FetchOptions().transport_options()) as transport:
            for _ in range(5):
                with pytest.raises(TransportError):
                    async with transport.get(f"{base}/close", {}):
                        pass
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.2), transport.get(f"{base}/slow", {}):
                        pass
            async with transport.get(f"{base}/ok", {}) as answer:
                assert await answer.read(10) == b"x"
            return len(transport._pool._all), len(transport._by_curl)

    with Scripted(routes) as server:
        assert asyncio.run(main(server.base)) == (1, 0)
        options = FetchOptions()
        with open_sync("curl", options.transport_options()) as transport:
            for _ in range(5):
                with pytest.raises(TransportError), transport.get(f"{server.base}/close", {}):
                    pass
            with transport.get(f"{server.base}/ok", {}) as answer:
                assert answer.read(10) == b"x"
            driver = transport._driver
            assert driver is not None
            assert len(driver.pool._all) <= 2  # (a release reaches the driver thread a moment later)


def test_which_transfers_skip_libcurls_search_for_an_idle_connection() -> None:
    """A fresh connection is asked for only where none to the origin can be idle, and only over
    HTTP/1.1 (HTTP/2 and 3 share busy connections)."""
    from types import SimpleNamespace
    from typing import Any

    from aiotulip.download.transports.curl import _Reuse

    def transfer(url: str, version: str = "") -> Any:
        return SimpleNamespace(url=url, proxy=None, scheme=url.partition(":")[0], version=version, origin="")

    reuse = _Reuse(FetchOptions().transport_options())
    plain, secure = "http://127.0.0.1:1/a", "https://127.0.0.1:2/a"
    assert [reuse.fresh(transfer(plain)) for _ in range(3)] == [True, True, True]  # nothing came back yet
    reuse.returned(transfer(plain, "1.1"))
    reuse.returned(transfer(plain, "1.1"))
    assert [reuse.fresh(transfer(plain)) for _ in range(3)] == [False, False, True]  # two idle, then none
    assert reuse.fresh(transfer("http://127.0.0.1:3/b")) is True  # another origin counts apart
    assert reuse.fresh(transfer(secure)) is False  # https not heard from: it may be HTTP/2
    reuse.returned(transfer(secure, "2"))
    assert [reuse.fresh(transfer(secure)) for _ in range(2)] == [False, False]
    reuse.returned(transfer("https://127.0.0.1:4/c", "1.1"))
    assert [reuse.fresh(transfer("https://127.0.0.1:4/c")) for _ in range(2)] == [False, True]
    h2c = _Reuse(FetchOptions(http_version="2-prior-knowledge").transport_options())
    assert h2c.fresh(transfer(plain)) is False
    proxied = transfer("http://127.0.0.1:5/d")
    proxied.proxy = SimpleNamespace(url="http://127.0.0.1:6")
    assert reuse.fresh(proxied) is False  # one proxy connection serves every origin
    reuse.returned(transfer("http://127.0.0.1:7?q=1", "1.0"))  # a 1.0 keep-alive; an origin ends at "?"
    assert [reuse.fresh(transfer(f"http://127.0.0.1:7?q={n}")) for n in (2, 3)] == [False, True]


@pytest.mark.parametrize("engine", ["asyncio", "threads"])
def test_h2_prior_knowledge_is_for_cleartext_https_still_asks_by_alpn(tmp_path: object, engine: str) -> None:
    """``--http2-prior-knowledge`` says the cleartext server speaks HTTP/2; over TLS the protocol is
    agreed by ALPN as always (as curl does): an HTTPS server of HTTP/1.1 only is still fetched. It
    failed with "expected SETTINGS frame"."""
    import ssl
    from pathlib import Path

    import trustme

    from aiotulip import fetch
    from tests.download.conformance.scripted import Scripted, response

    ca = trustme.CA()
    ca_file = Path(str(tmp_path)) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    options = FetchOptions(
        engine=engine, http_version="2-prior-knowledge", ca_certificate=str(ca_file), netrc=False, proxy=""
    )
    with Scripted({"/a": lambda r: [response("200 OK", b"over TLS, in 1.1")]}, tls=server_tls) as server:
        report = fetch([f"{server.base}/a"], Path(str(tmp_path)) / "out", options)
    assert [(r.status, r.http_version) for r in report.items] == [("ok", "1.1")]
    assert (Path(str(tmp_path)) / "out" / "a").read_bytes() == b"over TLS, in 1.1"


@pytest.mark.parametrize("engine", ["asyncio", "threads", "sequential"])
def test_a_silent_server_fails_after_the_read_timeout_not_twice_it(tmp_path: object, engine: str) -> None:
    """The read timeout counts from the connection: a server that takes the request and says
    nothing, and one that stops in the middle of a body, fail the item after about the timeout
    (once, the silence counted from when the sweep first noticed the connection, it took twice)."""
    from pathlib import Path

    from aiotulip import RetryPolicy, fetch
    from tests.download.conformance.scripted import Pause, Scripted

    def stalled(r: object) -> list[object]:
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000, Pause(30)]

    once = RetryPolicy(retries=0)
    options = FetchOptions(engine=engine, concurrency=2, timeout=1.0, policy=once, netrc=False, proxy="")
    with Scripted({"/silent": lambda r: [Pause(30)], "/stalled": stalled}) as server:
        report = fetch([f"{server.base}/silent", f"{server.base}/stalled"], Path(str(tmp_path)), options)
    assert [(r.status, r.error_kind) for r in report.items] == [("failed", "timeout")] * 2
    assert all(0.9 <= r.elapsed < 1.9 for r in report.items), [r.elapsed for r in report.items]


@pytest.mark.parametrize("engine", ["asyncio", "threads"])
def test_connections_are_still_reused(tmp_path: object, engine: str) -> None:
    """120 files, 6 at a time from one origin: six connections, however the fresh ones are asked."""
    from pathlib import Path

    from aiotulip import fetch
    from tests.download.conformance.scripted import Scripted, response

    with Scripted({f"/f{n}": (lambda r, n=n: [response("200 OK", b"x" * n)]) for n in range(120)}) as server:
        report = fetch(
            [f"{server.base}/f{n}" for n in range(120)],
            Path(str(tmp_path)),
            FetchOptions(engine=engine, concurrency=6, netrc=False, proxy=""),
        )
    assert [r.status for r in report.items] == ["ok"] * 120
    assert server.connections <= 6


def test_one_caller_drives_libcurl_itself_and_hands_the_wheel_over() -> None:
    """With one caller at a time (the sequential engine) no driver thread runs: the caller drives
    libcurl while it waits. Should two threads wait at once anyway (a split download's segments),
    the one that finishes first hands the driving to the other."""
    import threading
    import time

    from aiotulip.download.transports import open_sync
    from tests.download.conformance.scripted import Pause, Scripted, response

    routes = {
        "/quick": lambda r: [Pause(0.1), response("200 OK", b"q" * 1000)],
        "/slow": lambda r: [response("200 OK", b"s" * 3000, length=3000)[:-2000], Pause(0.6), b"s" * 2000],
    }
    with Scripted(routes) as server:
        options = FetchOptions(concurrency=1).transport_options()
        with open_sync("curl", options) as transport:
            got: dict[str, bytes] = {}

            def get(path: str) -> None:
                with transport.get(f"{server.base}{path}", {}) as answer:
                    chunks = []
                    while chunk := answer.read(65536):
                        chunks.append(chunk)
                got[path] = b"".join(chunks)

            started = time.monotonic()
            threads = [threading.Thread(target=get, args=(path,)) for path in ("/slow", "/quick")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
            assert not any(thread.is_alive() for thread in threads)
            assert got == {"/quick": b"q" * 1000, "/slow": b"s" * 3000}
            assert time.monotonic() - started < 5
            driver = transport._driver  # type: ignore[attr-defined]  # looked at, not driven
            assert driver.inline and not driver.is_alive()  # no thread of its own


def _read_inline(url: str) -> None:
    from aiotulip.download.transports import open_sync

    with (
        open_sync("curl", FetchOptions(concurrency=1).transport_options()) as transport,
        transport.get(url, {}) as answer,
    ):
        answer.read(1000)


def test_a_ctrl_c_inside_a_libcurl_callback_is_not_swallowed(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A KeyboardInterrupt raised in the main thread while it runs one of libcurl's callbacks (the
    caller drives libcurl: inline; the asyncio engine shares the code) reaches the caller; pycurl
    would print it and carry on with a failed transfer. (The blocking side only: run here, the asyncio
    side left CPython 3.11.7 unable to compile afterwards — SystemError "AST constructor recursion
    depth mismatch", one of its ast module's bugs — though the interrupt itself came through.)"""
    from aiotulip.download.transports import curl
    from tests.download.conformance.scripted import Scripted, response

    def interrupted(self: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(curl._Transfer, "_wake", interrupted)
    with Scripted({"/body": lambda r: [response("200 OK", b"x" * 100)]}) as server:
        url = f"{server.base}/body"
        with pytest.raises(KeyboardInterrupt):
            _read_inline(url)
    assert "Traceback" not in capfd.readouterr().err
    assert not curl._caught


def test_each_request_on_a_reused_handle_sends_its_own_headers() -> None:
    """A handle keeps the request headers it was given, and they are set again only where they
    differ: a changed value, a header more or less, and a mapping the caller changed after it was
    used must all reach the server as asked, on every engine's shell of the transport."""
    from aiotulip.download.transports import open_sync
    from tests.download.conformance.scripted import Scripted, response

    def echo(request: object) -> list[bytes]:
        headers = request.headers  # type: ignore[attr-defined]
        seen = ",".join(f"{k}={v}" for k, v in sorted(headers.items()) if k.startswith("x-"))
        return [response("200 OK", seen.encode())]

    shared = {"X-A": "1"}
    asked: list[dict[str, str]] = [shared, {"X-A": "2"}, {"X-A": "2", "X-B": "3"}, {}, shared, shared]
    wanted = [b"x-a=1", b"x-a=2", b"x-a=2,x-b=3", b"", b"x-a=1", b"x-a=5"]

    async def run_async(base: str) -> list[bytes]:
        bodies = []
        async with CurlTransport(FetchOptions(concurrency=1).transport_options()) as transport:
            for index, headers in enumerate(asked):
                if index == 5:
                    shared["X-A"] = "5"  # the same mapping, changed since the handle sent it
                async with transport.get(f"{base}/echo", headers) as answer:
                    bodies.append(await answer.read(100))
            assert len(transport._pool._all) == 1  # (one handle served them all)
        return bodies

    with Scripted({"/echo": echo}) as server:
        assert asyncio.run(run_async(server.base)) == wanted
        shared["X-A"] = "1"
        for concurrency in (1, 4):  # the sequential engine's inline driver, and the driver thread
            bodies = []
            with open_sync("curl", FetchOptions(concurrency=concurrency).transport_options()) as transport:
                for index, headers in enumerate(asked):
                    if index == 5:
                        shared["X-A"] = "5"
                    with transport.get(f"{server.base}/echo", headers) as answer:
                        bodies.append(answer.read(100))
            shared["X-A"] = "1"
            assert bodies == wanted, concurrency


def test_a_handle_released_while_it_waited_and_taken_again_is_added_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A transfer belongs to its handle for every request: one given up while it waited for a
    connection slot, then taken for the next request, stands twice in the line of waiting ones.
    It must start once (libcurl refuses a handle added twice: the request would fail)."""
    from aiotulip.download.transports import curl
    from tests.download.conformance.scripted import Scripted, response

    with Scripted({"/ok": lambda r: [response("200 OK", b"fine")]}) as server:
        driver = curl._Driver(FetchOptions(concurrency=1).transport_options(), inline=True)
        try:
            monkeypatch.setattr(curl, "_CONNECTING", 0)  # every transfer waits its turn
            first = driver.take(f"{server.base}/ok", None)
            curl._configure(first, {}, driver.options)
            driver.submit("add", first)
            driver._take_work()
            driver.submit("release", first)  # given up while waiting
            driver._take_work()
            again = driver.take(f"{server.base}/ok", None)
            assert again is first  # (the pool's one handle, with its transfer)
            curl._configure(again, {}, driver.options)
            driver.submit("add", again)
            driver._take_work()
            assert list(driver._waiting) == [first, first]
            monkeypatch.setattr(curl, "_CONNECTING", 256)
            for _ in range(200):  # (bounded: a loopback answer takes a few turns)
                driver._turn(0.05)
                if again.done:
                    break
            assert again.error is None and again.status == 200
            assert b"".join(again.chunks) == b"fine"
            assert not driver._waiting
        finally:
            driver.stop()


def test_a_read_takes_every_whole_chunk_that_fits() -> None:
    """libcurl delivers a body 16 KB at a time: a read for more takes as many whole chunks as fit,
    in order and in one piece; one larger than the read is split; nothing is lost or reordered."""
    import pycurl

    from aiotulip.download.transports.curl import _Transfer

    transfer = _Transfer(pycurl.Curl())
    pieces = [bytes([n]) * 16384 for n in range(5)] + [b"tail"]
    for piece in pieces:
        transfer.chunks.append(piece)
        transfer.held += len(piece)
    assert transfer.take(40_000) == pieces[0] + pieces[1]  # (a third would not fit)
    assert transfer.take(10) == pieces[2][:10]
    assert transfer.take(16384) == pieces[2][10:]  # the rest of a split chunk, alone: the next does not fit
    assert transfer.take(1 << 20) == pieces[3] + pieces[4] + b"tail"
    assert transfer.held == 0 and not transfer.chunks
    transfer.curl.close()


def test_a_wave_of_transfers_ends_without_a_search_of_the_pool_and_the_next_reuses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight transfers at once, all ended, then eight more: the same eight connections serve both,
    and libcurl never finds its pool over its limit. Left to itself libcurl keeps two connections
    for each transfer attached at the moment: as a wave's last transfers end the limit falls below
    the connections open, and each end searched every connection for an idle one old enough to
    close (c10k's last 2,500 ends searched 10,000 each: a sixth of the run's CPU). A limit set too
    low would instead close connections the next wave needs."""
    from aiotulip.download.transports import curl, open_sync
    from tests.download.conformance.scripted import Scripted, response

    said: list[bytes] = []
    constant = curl._constant

    def verbose(handle: pycurl.Curl, options: object) -> None:
        constant(handle, options)  # type: ignore[arg-type]
        handle.setopt(pycurl.VERBOSE, 1)
        handle.setopt(pycurl.DEBUGFUNCTION, lambda kind, text: said.append(text) if kind == 0 else None)

    monkeypatch.setattr(curl, "_constant", verbose)
    paths = {f"/f{n}": (lambda r, n=n: [response("200 OK", b"x" * (100 + n))]) for n in range(8)}
    wanted = [b"x" * (100 + n) for n in range(8)]

    async def waves(base: str) -> list[bytes]:
        async with CurlTransport(FetchOptions(concurrency=8).transport_options()) as transport:

            async def one(n: int) -> bytes:
                async with transport.get(f"{base}/f{n}", {}) as answer:
                    return await answer.read(1000)

            first = await asyncio.gather(*(one(n) for n in range(8)))
            return first + await asyncio.gather(*(one(n) for n in range(8)))

    with Scripted(paths) as server:
        assert asyncio.run(waves(server.base)) == wanted * 2
        assert server.connections == 8

    import concurrent.futures

    with Scripted(paths) as server:  # the blocking engines' shell: the driver thread
        with (
            open_sync("curl", FetchOptions(concurrency=8).transport_options()) as transport,
            concurrent.futures.ThreadPoolExecutor(8) as threads,
        ):

            def read(n: int) -> bytes:
                with transport.get(f"{server.base}/f{n}", {}) as answer:
                    return answer.read(1000)

            for _wave in range(2):
                assert list(threads.map(read, range(8))) == wanted
        # (at most 8: on a busy machine a thread may end before the last one starts, and the
        # connection it leaves is reused at once; a pool that closed them would open up to 16)
        assert server.connections <= 8
    assert any(b"Connection #" in text for text in said)  # (libcurl spoke: the hook works)
    assert not [text for text in said if b"pool is full" in text]


@pytest.mark.parametrize("engine", ["asyncio", "threads", "sequential"])
def test_one_transfer_at_a_time_over_several_origins_reuses_a_connection_to_each(
    tmp_path: object, engine: str
) -> None:
    """-c 1, forty files from ten origins in turn: ten connections. libcurl enforces a pool limit
    set for it at once, whatever a connection's age: four per handle alone (four at -c 1, eight for
    the threads engine's two handles) made every request here open a connection of its own."""
    import contextlib
    from pathlib import Path

    from aiotulip import fetch
    from tests.download.conformance.scripted import Scripted, response

    routes = {f"/f{n}": (lambda r, n=n: [response("200 OK", b"y" * (10 + n))]) for n in range(40)}
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(Scripted(routes)) for _ in range(10)]
        urls = [f"{servers[n % 10].base}/f{n}" for n in range(40)]
        report = fetch(
            urls,
            Path(str(tmp_path)),
            FetchOptions(engine=engine, concurrency=1, netrc=False, proxy=""),
        )
        assert [(r.status, r.bytes) for r in report.items] == [("ok", 10 + n) for n in range(40)]
        assert [server.connections for server in servers] == [1] * 10


def test_every_http2_failure_says_why_when_libcurl_says_nothing() -> None:
    """--http2-prior-knowledge against a server of HTTP/1.1: the transfers that waited on the first
    one's connection (PIPEWAIT) fail with libcurl's code 16 and no message, and read "bad response:
    libcurl error 16". Each code libcurl may leave unsaid has tulip's words."""
    from types import SimpleNamespace

    from aiotulip.download.transports import _curl_errors as errors

    for code in (errors.HTTP2, errors.HTTP2_STREAM, errors.HTTP3, errors.WEIRD_SERVER_REPLY):
        transfer = SimpleNamespace(
            error=None, url="http://127.0.0.1:9/f", proxy=None, scheme="http", status=0, headers={},
            curl=None, connected=True,
        )  # fmt: skip
        said = str(errors.failure(code, "", transfer))  # type: ignore[arg-type]
        assert said.startswith("bad response: ") and "libcurl error" not in said, said
