"""tulip's pytest plugin, run by pytester in fresh pytest processes as a user's test suite would be."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "test_with_tulip_server.py"
STUBS_EXAMPLE = EXAMPLE.with_name("test_with_stubs.py")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", *args, timeout=120)


def test_the_readme_example_passes_as_a_user_would_copy_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    run(pytester).assert_outcomes(passed=3)


def test_the_stubs_example_passes_as_a_user_would_copy_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_stubs_example=STUBS_EXAMPLE.read_text())
    run(pytester).assert_outcomes(passed=3)


def test_a_failing_assert_requested_prints_the_near_misses(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import urllib.request

        def test_wrong_path(tulip_server):
            server = tulip_server(files=0)
            server.stub(request={"url": "/orders"}, response={"status": 201})
            urllib.request.urlopen(server.url + "/orders", timeout=5).read()
            server.assert_requested("POST", "/order", times=1)
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*expected 1 POST /order, the server had 0*", "*near miss*GET /orders*"])


def test_factory_marker_live_faults_process_and_cleanup(pytester: pytest.Pytester, tmp_path: Path) -> None:
    seen = tmp_path / "urls.txt"
    pytester.makepyfile(
        f"""
        import urllib.request, urllib.error
        import pytest

        SEEN = {str(seen)!r}

        def note(url):
            with open(SEEN, "a") as out:
                out.write(url + "\\n")

        def statuses(urls):
            out = []
            for url in urls:
                try:
                    with urllib.request.urlopen(url, timeout=5) as answer:
                        out.append(answer.status)
                except urllib.error.HTTPError as exc:
                    out.append(exc.code)
            return out

        def test_factory(tulip_server):
            server = tulip_server(files=40, size="1k-4k", error_rate=0.5, error_codes=[500], seed=3)
            got = statuses(server.urls)
            assert set(got) == {{200, 500}}
            assert server.stats["faults"]["error"] == got.count(500)
            assert server.faults.error_rate == 0.5
            server.faults.error_rate = 0
            assert set(statuses(server.urls)) == {{200}}
            with pytest.raises(ValueError, match="error-rate"):
                server.faults.update(error_rate=7)
            sizes = {{item["size"] for item in server.manifest}}
            assert min(sizes) >= 1024 and max(sizes) <= 4096
            note(server.url)

        @pytest.mark.tulip_server(files=3, size="1k")
        def test_marker(tulip_server):
            assert [item["size"] for item in tulip_server.manifest] == [1024] * 3
            assert tulip_server.url == tulip_server.url  # one default server
            note(tulip_server.url)

        def test_process(tulip_server):
            server = tulip_server(files=2, process=True, drop_rate=1.0)
            with pytest.raises(Exception):
                urllib.request.urlopen(server.urls[0], timeout=5).read()
            assert server.stats["faults"] == {{"drop": 1}}
            note(server.url)

        def test_tls(tulip_server):
            import ssl
            server = tulip_server(files=1, self_signed=True)
            context = ssl.create_default_context(cafile=str(server.ca_file))
            assert server.url.startswith("https://")
            assert len(urllib.request.urlopen(server.urls[0], context=context).read()) == 2048

        def test_bad_setting(tulip_server):
            with pytest.raises(TypeError, match="colour"):
                tulip_server(colour="red")
            with pytest.raises(ValueError, match="files must be a whole number, not 'many'"):
                tulip_server(files="many")  # (was a TypeError from a comparison, naming nothing)

        def test_sizes_and_rates_as_words(tulip_server, tulip_proxy):
            server = tulip_server(files=1, bandwidth="500k", limit_data="64k", slice_size="16k")
            assert server.faults.limit_data == 65536 and server.faults.bandwidth == 512000
            with pytest.raises(TypeError, match="needs the URL"):
                tulip_proxy(delay=1)
            with pytest.raises(AttributeError, match="no default server"):
                tulip_proxy.url
        """
    )
    run(pytester).assert_outcomes(passed=6)
    urls = seen.read_text().split()
    assert len(urls) == 3
    for url in urls:  # every server stopped with its test
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5).close()


def test_the_plugin_imports_nothing_until_a_fixture_is_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_untouched():
            assert "aiotulip.serve" not in sys.modules and "aiohttp" not in sys.modules
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_the_tcp_proxy_fixture_in_front_of_a_tcp_service(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket, threading, time
        import pytest

        def echo_server():
            server = socket.create_server(("127.0.0.1", 0))
            def serve():
                while True:
                    try:
                        conn, _ = server.accept()
                    except OSError:
                        return
                    def one(conn=conn):
                        with conn:
                            while data := conn.recv(65536):
                                conn.sendall(data)
                    threading.Thread(target=one, daemon=True).start()
            threading.Thread(target=serve, daemon=True).start()
            return server

        def round_trip(proxy):
            with socket.create_connection((proxy.host, proxy.port), timeout=10) as sock:
                started = time.monotonic()
                sock.sendall(b"ping")
                assert sock.recv(10) == b"ping"
                return time.monotonic() - started

        def test_toxics_down_and_up(tulip_tcp_proxy):
            server = echo_server()
            proxy = tulip_tcp_proxy(server.getsockname())
            assert proxy.listen == f"{proxy.host}:{proxy.port}" and proxy.host == "127.0.0.1"
            toxic = proxy.add_toxic("latency", latency=250)
            assert toxic["name"] == "latency_downstream" and proxy.toxics == [toxic]
            assert round_trip(proxy) >= 0.25
            proxy.remove_toxic("latency_downstream")
            with proxy.down():
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection((proxy.host, proxy.port), timeout=5)
            assert round_trip(proxy) < 5
            with pytest.raises(ValueError, match="attributes.latncy"):
                proxy.add_toxic("latency", latncy=1)
            other = tulip_tcp_proxy("http://127.0.0.1:%d/path" % server.getsockname()[1], name="web")
            assert other.upstream == proxy.upstream and other.name == "web"
            assert tulip_tcp_proxy.api().startswith("http://127.0.0.1:")
        """
    )
    run(pytester).assert_outcomes(passed=1)
