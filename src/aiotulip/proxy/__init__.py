"""tulip proxy: TCP fault proxies behind toxiproxy's HTTP API, with HTTP-aware toxics besides."""

from aiotulip.proxy.model import TOXIC_TYPES, ApiError, ProxySpec, Toxic
from aiotulip.proxy.runner import ProxyThread, RunningProxyServer, run_forever, start_proxy_server
from aiotulip.proxy.server import ProxyConfig, ProxyServer

__all__ = [
    "TOXIC_TYPES",
    "ApiError",
    "ProxyConfig",
    "ProxyServer",
    "ProxySpec",
    "ProxyThread",
    "RunningProxyServer",
    "Toxic",
    "run_forever",
    "start_proxy_server",
]
