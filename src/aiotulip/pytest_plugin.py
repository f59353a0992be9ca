"""pytest fixtures: a tulip server with seeded faults, an HTTP fault proxy, a TCP fault proxy.

Active wherever tulip is installed (entry point ``pytest11``); nothing is imported until a test asks
for a fixture. ::

    def test_my_client_survives(tulip_server):
        server = tulip_server(files=10, error_rate=0.2, seed=7)
        my_client.download(server.urls, "out")
        assert server.stats["faults"]["error"] > 0

    @pytest.mark.tulip_server(files=3, drop_rate=0.5)
    def test_with_a_marker(tulip_server):
        requests.get(tulip_server.urls[0])     # the marker's server, started on first use

    def test_in_front_of_mine(tulip_proxy, my_app_url):
        proxy = tulip_proxy(my_app_url, delay=0.2, error_rate=0.1)
        ...                                     # talk to proxy.url instead of my_app_url

    def test_redis_client_survives(tulip_tcp_proxy, redis_address):
        proxy = tulip_tcp_proxy(redis_address)  # tulip proxy, toxiproxy's API: any TCP service
        proxy.add_toxic("latency", latency=200)  # ms, as toxiproxy counts
        client = MyRedis(proxy.host, proxy.port)  # proxy.listen is "127.0.0.1:PORT"
        with proxy.down():                        # connections refused, live ones closed
            ...

Stubs in WireMock's shapes, and the request journal::

    def test_my_client_calls_the_api(tulip_server):
        server = tulip_server(files=0)
        server.stub(request={"method": "GET", "urlPath": "/users/7"},
                    response={"jsonBody": {"id": 7}, "headers": {"Content-Type": "application/json"}})
        my_client.get_user(server.url, 7)
        server.assert_requested("GET", "/users/7", times=1)   # fails with the journal's near misses
        assert server.requests(method="GET", path="/users/7")[0]["headers"]["Accept"] == "application/json"

Settings are ServeConfig's and Faults' field names (``files``, ``size`` as ``"64k"`` or a range,
``root``, ``seed``, ``gzip``, ``index``, ``self_signed``, ``error_rate``, ``bandwidth``,
``paths`` ...) plus ``process=True`` for a server in its own process (for clients that hold the GIL).
Each server's ``faults`` and ``stats`` are live: read them, or ``server.faults.update(error_rate=0)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aiotulip.serve import Faults, ServeConfig

__all__ = ["LiveFaults", "ServerFactory", "TcpProxy", "TcpProxyFactory", "TulipServer"]


class TulipServer:
    """A running server: its URL, files, live faults and stats. Stopped when the test ends."""

    def __init__(self, config: ServeConfig, *, process: bool = False) -> None:
        from aiotulip.serve import ServerProcess, ServerThread

        self.config = config
        self._service = ServerProcess(config) if process else ServerThread(config)
        self.url: str = self._service.start()
        self.ca_file: Path | None = self._service.ca_file
        self.faults = LiveFaults(self)

    # -- what it serves
    @property
    def manifest(self) -> list[dict[str, Any]]:
        """Every file's name, size, sha256 and path (``/files/NAME``), as /manifest.json lists them."""
        return self._call("GET", "/manifest.json")["files"]

    @property
    def urls(self) -> list[str]:
        """The full URL of every file, in name order."""
        return [self.url + item["url"] for item in self.manifest]

    def file_url(self, name: str) -> str:
        from aiotulip.serve.app import files_url

        return self.url + files_url(name)

    # -- what it has done
    @property
    def stats(self) -> dict[str, Any]:
        """Requests, bytes, statuses, faults by kind and connections, as of now."""
        return self._call("GET", "/_tulip/stats")

    def reset_stats(self) -> None:
        self._call("DELETE", "/_tulip/stats")

    def change_files(self, version: int) -> None:
        """Give every synthetic file new bytes, ETag and Last-Modified (a file changed on the server)."""
        self._call("PUT", "/_tulip/corpus", {"version": version})

    # -- stubs and the journal (WireMock's admin API)
    def stub(
        self, request: dict[str, Any], response: dict[str, Any] | None = None, **mapping: Any
    ) -> dict[str, Any]:
        """Add a stub in WireMock's shapes (``request``, ``response``, and ``priority``,
        ``scenarioName``, ``tulip`` ... as keywords); return it as the server keeps it (with its id)."""
        import urllib.error

        body = {"request": request, "response": response or {}, **mapping}
        try:
            return self._call("POST", "/__admin/mappings", body)
        except urllib.error.HTTPError as exc:
            raise ValueError(exc.read().decode().strip()) from None

    def requests(
        self, method: str | None = None, path: str | None = None, **pattern: Any
    ) -> list[dict[str, Any]]:
        """Return the requests the server has had (oldest first), as WireMock logs them; *method*,
        *path* (the URL's path) and any request-pattern field (``headers=...``) filter them."""
        return self._call("POST", "/__admin/requests/find", _pattern(method, path, pattern))["requests"]

    def assert_requested(self, method: str, path: str, times: int | None = None, **pattern: Any) -> None:
        """Fail unless the server had *times* requests (at least one, if None) matching *method* and
        *path*; the failure lists the requests that came closest."""
        wanted = _pattern(method, path, pattern)
        count = self._call("POST", "/__admin/requests/count", wanted)["count"]
        if (count >= 1) if times is None else count == times:
            return
        near = self._call("POST", "/__admin/near-misses/request-pattern", wanted)["nearMisses"]
        lines = [
            f"expected {'at least 1' if times is None else times} {method} {path}, the server had {count}"
        ]
        lines += [
            f"  near miss (distance {miss['matchResult']['distance']:.2f}): "
            f"{miss['request']['method']} {miss['request']['url']}"
            for miss in near
        ] or ["  (the journal is empty)"]
        raise AssertionError("\n".join(lines))

    def reset(self) -> None:
        """Forget the stubs added, the journal and the scenarios' states (WireMock's reset)."""
        self._call("POST", "/__admin/reset")

    def stop(self) -> None:
        self._service.stop()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import json
        import ssl
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            return json.load(answer)

    def __repr__(self) -> str:
        return f"<TulipServer {self.url}>"


class LiveFaults:
    """The server's fault settings as they are now: ``faults.error_rate``, ``faults.update(...)``."""

    def __init__(self, server: TulipServer) -> None:
        object.__setattr__(self, "_server", server)

    def snapshot(self) -> Faults:
        from aiotulip.serve import Faults

        return Faults(**self._server._call("GET", "/_tulip/faults"))

    def update(self, **changes: Any) -> Faults:
        """Change some settings while the server runs (checked: a bad value raises ValueError)."""
        import urllib.error

        from aiotulip.serve import Faults

        try:
            return Faults(**self._server._call("PUT", "/_tulip/faults", changes))
        except urllib.error.HTTPError as exc:
            raise ValueError(exc.read().decode().strip()) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.snapshot(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.update(**{name: value})

    def __repr__(self) -> str:
        return f"<LiveFaults {self.snapshot()}>"


class ServerFactory:
    """``factory(**settings)`` starts a server; ``factory.url`` (and the rest of TulipServer's
    attributes) reach the one the test's ``tulip_server`` marker describes, started on first use."""

    def __init__(self, marker: dict[str, Any] | None = None, *, proxy: bool = False) -> None:
        self._marker = marker or {}
        self._proxy = proxy
        self._servers: list[TulipServer] = []
        self._default: TulipServer | None = None

    def __call__(self, upstream: str | None = None, /, **settings: Any) -> TulipServer:
        process = bool(settings.pop("process", False))
        if upstream is not None:
            settings["upstream"] = upstream
        if self._proxy and not settings.get("upstream"):
            raise TypeError(
                "tulip_proxy needs the URL of the server to stand in front of: tulip_proxy(url, ...)"
            )
        server = TulipServer(_config(settings), process=process)
        self._servers.append(server)
        return server

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._proxy:
            raise AttributeError(
                f"tulip_proxy has no default server: proxy = tulip_proxy(url, ...); proxy.{name}"
            )
        if self._default is None:
            self._default = self(**dict(self._marker))
        return getattr(self._default, name)

    def close(self) -> None:
        while self._servers:
            self._servers.pop().stop()


def _pattern(method: str | None, path: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    pattern: dict[str, Any] = {"method": method or "ANY", **fields}
    if path is not None:
        pattern["urlPath"] = path
    return pattern


def _config(settings: dict[str, Any]) -> ServeConfig:
    import dataclasses

    from aiotulip.errors import UsageError
    from aiotulip.serve import Faults, ServeConfig
    from aiotulip.shared.units import parse_size_range

    fault_fields = {f.name for f in dataclasses.fields(Faults)}
    config_fields = {f.name for f in dataclasses.fields(ServeConfig)} - {"faults"}
    unknown = sorted(set(settings) - fault_fields - config_fields)
    if unknown:
        raise TypeError(f"unknown tulip server setting(s): {', '.join(unknown)}")
    # As PUT /_tulip/faults takes them: "500k" for a rate, "64k" for a size.
    faults = Faults().updated({k: v for k, v in settings.items() if k in fault_fields})
    kept = {k: v for k, v in settings.items() if k in config_fields}
    if isinstance(kept.get("size"), str):
        kept["size"] = parse_size_range(kept["size"])
    elif isinstance(kept.get("size"), int):
        kept["size"] = (kept["size"], kept["size"])
    try:
        return ServeConfig(faults=faults, **kept)
    except UsageError as exc:  # (a bad value raises ValueError here, as a bad fault's does)
        raise ValueError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tulip_server(**settings): the settings of the test's default tulip_server (tulip's plugin)",
    )


@pytest.fixture
def tulip_server(request: pytest.FixtureRequest) -> Iterator[ServerFactory]:
    """Start tulip servers: ``tulip_server(files=10, error_rate=0.2, seed=7)``, or use the marker's."""
    marker = request.node.get_closest_marker("tulip_server")
    factory = ServerFactory(dict(marker.kwargs) if marker else None)
    yield factory
    factory.close()


@pytest.fixture
def tulip_proxy() -> Iterator[ServerFactory]:
    """Put a fault proxy in front of any server: ``tulip_proxy("http://127.0.0.1:8080", delay=0.1)``."""
    factory = ServerFactory(proxy=True)
    yield factory
    factory.close()


class TcpProxy:
    """A ``tulip proxy`` proxy in front of one TCP service, driven through toxiproxy's API (``api``).

    ``listen`` is its address (``127.0.0.1:PORT``; ``host`` and ``port`` apart); ``add_toxic`` takes
    toxiproxy's toxic types and attributes (latency and timeouts in ms, bandwidth in KB/s) and tulip's
    HTTP ones. A refused change raises ValueError with the API's message.
    """

    def __init__(self, api: str, name: str, upstream: str, listen: str) -> None:
        self.api = api
        self.name = name
        made = self._call("POST", "/proxies", {"name": name, "upstream": upstream, "listen": listen})
        self.upstream: str = made["upstream"]
        self.listen: str = made["listen"]
        host, _, port = self.listen.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)

    def add_toxic(
        self,
        kind: str,
        /,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
        **attributes: Any,
    ) -> dict[str, Any]:
        """Add a toxic of type *kind* (``add_toxic("latency", latency=100, jitter=10)``); return it as the
        API shows it."""
        body = {"type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        if name is not None:
            body["name"] = name
        return self._call("POST", f"/proxies/{self.name}/toxics", body)

    def update_toxic(self, name: str, *, toxicity: float | None = None, **attributes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"attributes": attributes}
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self._call("POST", f"/proxies/{self.name}/toxics/{name}", body)

    def remove_toxic(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{self.name}/toxics/{name}")

    @property
    def toxics(self) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{self.name}/toxics")

    def disable(self) -> None:
        """Take the proxy down: new connections are refused, live ones closed."""
        self._call("POST", f"/proxies/{self.name}", {"enabled": False})

    def enable(self) -> None:
        self._call("POST", f"/proxies/{self.name}", {"enabled": True})

    @contextmanager
    def down(self) -> Iterator[TcpProxy]:
        """The proxy down for the length of a ``with`` block."""
        self.disable()
        try:
            yield self
        finally:
            self.enable()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import json
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise ValueError(json.loads(exc.read()).get("error", exc.reason)) from None
        return json.loads(raw) if raw else None

    def __repr__(self) -> str:
        return f"<TcpProxy {self.name} {self.listen} -> {self.upstream}>"


class TcpProxyFactory:
    """``factory(upstream)`` puts a TCP proxy in front of *upstream* (``host:port``, a ``(host, port)``
    pair, or a URL); one ``tulip proxy`` (in a thread) holds them all, seeded by ``seed``."""

    def __init__(self) -> None:
        self._threads: dict[int, Any] = {}
        self._count = 0

    def __call__(
        self, upstream: str | tuple[str, int], /, *, name: str | None = None, listen: str = "127.0.0.1:0",
        seed: int = 0,
    ) -> TcpProxy:  # fmt: skip
        self._count += 1
        return TcpProxy(self.api(seed), name or f"proxy{self._count}", _address(upstream), listen)

    def api(self, seed: int = 0) -> str:
        """The URL of the toxiproxy API of the proxies seeded *seed* (for a toxiproxy client)."""
        if seed not in self._threads:
            from aiotulip.proxy import ProxyConfig, ProxyThread

            thread = ProxyThread(ProxyConfig(port=0, seed=seed))
            thread.start()
            self._threads[seed] = thread
        return self._threads[seed].url

    def close(self) -> None:
        while self._threads:
            self._threads.popitem()[1].stop()


def _address(upstream: str | tuple[str, int]) -> str:
    if isinstance(upstream, tuple):
        host, port = upstream
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if "://" in upstream:
        from urllib.parse import urlsplit

        parts = urlsplit(upstream)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or "127.0.0.1"
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return upstream


@pytest.fixture
def tulip_tcp_proxy() -> Iterator[TcpProxyFactory]:
    """Put a TCP fault proxy (toxiproxy's API and toxics) in front of any server:
    ``proxy = tulip_tcp_proxy("127.0.0.1:6379"); proxy.add_toxic("latency", latency=100)``."""
    factory = TcpProxyFactory()
    yield factory
    factory.close()
