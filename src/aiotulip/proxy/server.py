"""The proxies of one ``tulip proxy`` and what the API may do to them, each operation as toxiproxy
does it (its status codes, its words); the API's handlers only turn requests into these calls.

One lock serialises the changes: two clients creating the same name at once get one proxy and one
409, never two listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace

from aiotulip.proxy.listener import LiveProxy, resolve
from aiotulip.proxy.model import (
    ApiError,
    ProxySpec,
    Toxic,
    is_loopback,
    parse_toxic,
    proxy_exists,
    proxy_not_found,
    split_address,
    toxic_exists,
    toxic_not_found,
    update_proxy,
    update_toxic,
)
from aiotulip.proxy.relay import PipePool

__all__ = ["ProxyConfig", "ProxyServer"]

_MAX_PROXIES = 4096
_MAX_TOXICS = 64  # per proxy


@dataclass(frozen=True)
class ProxyConfig:
    """How ``tulip proxy`` runs: where its API listens, its seed, the proxies it starts with."""

    host: str = "127.0.0.1"
    port: int = 8474
    seed: int = 0
    proxies: tuple[ProxySpec, ...] = ()  # --config: toxiproxy's JSON list
    allow_hosts: tuple[str, ...] = ()  # more names a Host header may give (the API behind a name)


class ProxyServer:
    """The proxies by name, in the order they were created."""

    def __init__(self, config: ProxyConfig, *, exposed: bool) -> None:
        self.config = config
        self.exposed = exposed  # the API listens beyond loopback: so may the proxies
        self.proxies: dict[str, LiveProxy] = {}
        self.pool = PipePool()
        self.outbound: set[int] = set()  # the local ports of the proxies' upstream connections
        self.lock = asyncio.Lock()

    def get(self, name: str) -> LiveProxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise proxy_not_found()
        return proxy

    async def create(self, spec: ProxySpec) -> LiveProxy:
        if spec.name in self.proxies:
            raise proxy_exists()
        if len(self.proxies) >= _MAX_PROXIES:
            raise ApiError(f"too many proxies: {_MAX_PROXIES} at most", 400)
        await self.check_listen(spec.listen)
        proxy = LiveProxy(spec, self.config.seed, self.pool, self.outbound)
        if spec.enabled:
            await proxy.start()
        self.proxies[spec.name] = proxy
        return proxy

    async def update(self, name: str, data: object) -> LiveProxy:
        """Change listen, upstream or enabled: a proxy that moves drops its connections (toxiproxy's)."""
        proxy = self.get(name)
        wanted = update_proxy(proxy.spec, data)
        if _moved(proxy.spec, wanted):
            await self.check_listen(wanted.listen)
            was, listening = proxy.spec, proxy.listener is not None
            proxy.stop()
            proxy.spec = replace(proxy.spec, listen=wanted.listen, upstream=wanted.upstream)
            if wanted.enabled:
                try:
                    await proxy.start()
                except ApiError:
                    # The move failed (the address is taken): the proxy stays where it was, and
                    # as it was. Left on the new address, it was down and every /reset failed.
                    proxy.spec = was
                    if listening:
                        with contextlib.suppress(ApiError):
                            await proxy.start()
                    raise
        if wanted.enabled and proxy.listener is None:
            await proxy.start()
        elif not wanted.enabled:
            proxy.stop()
        return proxy

    async def delete(self, name: str) -> None:
        self.get(name).stop()
        del self.proxies[name]

    async def populate(self, specs: list[ProxySpec]) -> tuple[list[LiveProxy], ApiError | None]:
        """Create each proxy, or replace one of the same name that listens or forwards elsewhere (one
        that matches is left as it is, toxics and all); stop at the first failure, as toxiproxy does."""
        done: list[LiveProxy] = []
        for spec in specs:
            existing = self.proxies.get(spec.name)
            try:
                if existing is not None and not _moved(existing.spec, spec):
                    done.append(existing)
                    continue
                if existing is not None:
                    await self.check_listen(spec.listen)
                    await self.delete(spec.name)
                done.append(await self.create(spec))
            except ApiError as exc:
                return done, exc
        return done, None

    async def reset(self) -> None:
        """Enable every proxy, remove every toxic, start the seeded draws again."""
        failed: ApiError | None = None
        for proxy in self.proxies.values():
            proxy.reset()
            try:
                await proxy.start()
            except ApiError as exc:  # (its port taken meanwhile: the others are reset all the same)
                failed = failed or exc
        if failed is not None:
            raise failed

    async def check_listen(self, listen: str) -> None:
        """Refuse an address beyond loopback unless the API itself is exposed (``--host``)."""
        if self.exposed:
            return
        host, port = split_address(listen)
        loopback = is_loopback(host)
        if loopback is None:
            try:
                found = await resolve(host, port, passive=True)
            except OSError:
                found = []
            loopback = bool(found) and all(is_loopback(address[0]) for _family, address in found)
        if not loopback:
            raise ApiError(
                f"listen: {listen} is not a loopback address; a proxy may listen beyond loopback only "
                "when tulip proxy's API does (start it with --host)",
                400,
            )

    # -- toxics ----------------------------------------------------------------------------------

    def toxic(self, name: str, toxic_name: str) -> Toxic:
        for toxic in self.get(name).toxics:
            if toxic.name == toxic_name:
                return toxic
        raise toxic_not_found()

    def add_toxic(self, name: str, data: object) -> Toxic:
        proxy = self.get(name)
        toxic = parse_toxic(data)
        if any(other.name == toxic.name for other in proxy.toxics):
            raise toxic_exists()
        if len(proxy.toxics) >= _MAX_TOXICS:
            raise ApiError(f"too many toxics: {_MAX_TOXICS} a proxy at most", 400)
        proxy.set_toxics([*proxy.toxics, toxic])
        return toxic

    def update_toxic(self, name: str, toxic_name: str, data: object) -> Toxic:
        proxy = self.get(name)
        changed = update_toxic(self.toxic(name, toxic_name), data)
        proxy.set_toxics([changed if toxic.name == toxic_name else toxic for toxic in proxy.toxics])
        return changed

    def remove_toxic(self, name: str, toxic_name: str) -> None:
        proxy = self.get(name)
        self.toxic(name, toxic_name)
        proxy.set_toxics([toxic for toxic in proxy.toxics if toxic.name != toxic_name])

    async def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        self.proxies.clear()
        self.pool.close()


def _moved(current: ProxySpec, wanted: ProxySpec) -> bool:
    """Whether *wanted* listens or forwards elsewhere than *current* (port 0 matches the port bound)."""
    if wanted.upstream != current.upstream:
        return True
    try:
        host, port = split_address(wanted.listen)
        bound_host, bound_port = split_address(current.listen)
    except ValueError:
        return True
    same_host = _host_key(host) == _host_key(bound_host)
    return not (same_host and port in (0, bound_port))


def _host_key(host: str) -> str:
    return "127.0.0.1" if host.lower() == "localhost" else host.lower()
