"""``tulip proxy``: its arguments (toxiproxy-server's, and a few of tulip's) and its run."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from aiotulip.errors import UsageError
from aiotulip.shared.args import path, port

if TYPE_CHECKING:
    from aiotulip.proxy.runner import RunningProxyServer

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address of the API (default: loopback only; beyond it, "
        "proxies may listen beyond loopback too)",
    )  # fmt: skip
    parser.add_argument("--port", type=port, default=8474, help="the API's port (default 8474, toxiproxy's)")
    parser.add_argument(
        "--config", type=path, metavar="FILE", help="toxiproxy's JSON list of proxies to start"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the toxics' draws: the same seed replays a run (default 0)"
    )
    parser.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME",
        help="one more name the API may be reached by (its Host header is checked against DNS rebinding)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import json

    from aiotulip.proxy.model import ApiError, ProxySpec, parse_proxy_list
    from aiotulip.proxy.runner import run_forever
    from aiotulip.proxy.server import ProxyConfig

    proxies: tuple[ProxySpec, ...] = ()
    if args.config is not None:
        try:
            proxies = tuple(parse_proxy_list(json.loads(args.config.read_bytes())))
        except OSError as exc:
            raise UsageError(f"--config {args.config}: {exc.strerror}") from None
        except ValueError as exc:
            raise UsageError(f"--config {args.config}: not JSON: {exc}") from None
        except ApiError as exc:
            raise UsageError(f"--config {args.config}: {exc.message}") from None
    config = ProxyConfig(
        host=args.host, port=args.port, seed=args.seed, proxies=proxies, allow_hosts=tuple(args.allow_host)
    )

    def announce(running: RunningProxyServer) -> None:
        print(f"tulip proxy: API {running.url}  (toxiproxy's; seed {config.seed}; Ctrl-C stops)")
        for proxy in running.server.proxies.values():
            spec = proxy.spec
            print(f"tulip proxy: {spec.name}: {spec.listen} -> {spec.upstream}")
        sys.stdout.flush()

    run_forever(config, announce)
    return 0
