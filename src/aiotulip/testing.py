"""Helpers for your own tests: canned HTTP answers with no socket, and real servers on loopback.

    from aiotulip.testing import MockTransport, serving, ServerThread, ServeConfig, Faults

- ``MockTransport({url: MockResponse(...)})``: every engine of ``aiotulip.fetch`` answered from a
  table (statuses, headers, bodies, errors, delays), no socket at all;
- ``serving(config)`` (async), ``ServerThread(config)``, ``ServerProcess(config)``: ``tulip serve`` on
  a free loopback port for the length of a block, its seeded faults dialled by ``Faults``;
- ``ProxyThread(ProxyConfig(port=0))``: ``tulip proxy`` (toxiproxy's API, TCP and HTTP toxics) in a
  thread; point a toxiproxy client at the URL ``start()`` returns;
- the pytest fixtures ``tulip_server``, ``tulip_proxy`` and ``tulip_tcp_proxy`` come with the package
  (``pytest11``).

Everything here loads on first use: importing this module costs nothing of aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiotulip.download.transports.mock import MockRequest, MockResponse, MockTransport
    from aiotulip.proxy import ProxyConfig, ProxyThread
    from aiotulip.serve import Faults, RunningServer, ServeConfig, ServerProcess, ServerThread, serving

__all__ = [
    "Faults",
    "MockRequest",
    "MockResponse",
    "MockTransport",
    "ProxyConfig",
    "ProxyThread",
    "RunningServer",
    "ServeConfig",
    "ServerProcess",
    "ServerThread",
    "serving",
]

_WHERE = {
    "MockRequest": "aiotulip.download.transports.mock",
    "MockResponse": "aiotulip.download.transports.mock",
    "MockTransport": "aiotulip.download.transports.mock",
    "ProxyConfig": "aiotulip.proxy",
    "ProxyThread": "aiotulip.proxy",
    **{name: "aiotulip.serve" for name in ("Faults", "RunningServer", "ServeConfig", "ServerProcess",
                                           "ServerThread", "serving")},
}  # fmt: skip


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'aiotulip.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
