"""A proxy that runs: its listening socket, the connections it accepted, its toxics.

Enabled, it listens and opens a connection to the upstream for every client it accepts (each
connection numbered in the order accepted: its seeded draws go by that number). Disabled
("down"), it listens no more and every connection it held is closed. Its toxics reach the
connections it holds at once, as toxiproxy's do; HTTP toxics reach connections opened after them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from dataclasses import replace

from aiotulip.proxy.draws import Draws
from aiotulip.proxy.model import ApiError, ProxySpec, Toxic, format_address, split_address
from aiotulip.proxy.relay import Link, PipePool

__all__ = ["LiveProxy", "resolve"]

_BACKLOG = 65535  # the kernel clamps it to net.core.somaxconn
_ACCEPTS = 256  # connections taken in one wake-up
_CONNECT_TIMEOUT = 30.0
_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


async def resolve(host: str, port: int, *, passive: bool = False) -> list[tuple[int, tuple[str, int]]]:
    """Return (family, address) pairs for *host*: an IP literal at once, a name through the resolver
    (IPv4 first, as Go's listeners and most clients prefer for ``localhost``)."""
    bare = host.split("%", 1)[0]
    try:
        literal = ipaddress.ip_address(bare)
    except ValueError:
        literal = None
    if literal is not None:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return [(family, (host, port))]
    loop = asyncio.get_running_loop()
    flags = socket.AI_PASSIVE if passive else 0
    try:
        infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=flags)
    except socket.gaierror as exc:
        raise OSError(f"lookup {host}: {exc.strerror}") from None
    except UnicodeError:  # (an empty label, one over 63 characters: the IDNA codec refuses it)
        raise OSError(f"lookup {host}: not a valid host name") from None
    found = [(int(family), (str(address[0]), int(address[1]))) for family, _t, _p, _c, address in infos]
    return sorted(found, key=lambda item: item[0] != socket.AF_INET)


class LiveProxy:
    """One proxy: *spec* as the API shows it, its *toxics* in the order they were added."""

    def __init__(self, spec: ProxySpec, seed: int, pool: PipePool, outbound: set[int] | None = None) -> None:
        self.spec = replace(spec, enabled=False)
        # The local ports of every proxy's upstream connections (shared by the proxies of a server): a
        # client coming from one of them is tulip itself, through a proxy that leads back to a proxy.
        self.outbound = set() if outbound is None else outbound
        self.toxics: list[Toxic] = []
        self.draws = Draws(seed, spec.name)
        self.pool = pool
        self.links: set[Link] = set()
        self.opening: set[asyncio.Task[None]] = set()
        self.listener: socket.socket | None = None
        self.loop = asyncio.get_running_loop()

    def to_json(self) -> dict[str, object]:
        return self.spec.to_json(self.toxics)

    # -- up and down -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (on the port it had, when it had one); raise ApiError as toxiproxy words a failure."""
        if self.listener is not None:
            return
        host, port = split_address(self.spec.listen)
        try:
            family, address = (await resolve(host, port, passive=True))[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
        except (OSError, IndexError) as exc:
            raise ApiError(f"listen tcp {self.spec.listen}: {exc}", 500) from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            reason = (exc.strerror or str(exc)).lower()
            raise ApiError(f"listen tcp {self.spec.listen}: bind: {reason}", 500) from None
        self.listener = sock
        bound = sock.getsockname()
        self.spec = replace(self.spec, listen=format_address(bound[0], bound[1]), enabled=True)
        self.loop.add_reader(sock.fileno(), self._accept)

    def stop(self) -> None:
        """Listen no more and close every connection (toxiproxy's "down")."""
        self.spec = replace(self.spec, enabled=False)
        if self.listener is not None:
            self.loop.remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None
        for task in list(self.opening):
            task.cancel()
        for link in list(self.links):
            link.close()

    # -- toxics ----------------------------------------------------------------------------------

    def set_toxics(self, toxics: list[Toxic]) -> None:
        """Make *toxics* the proxy's, and give them to every connection it holds."""
        self.toxics = list(toxics)
        for link in list(self.links):
            link.set_toxics(self.toxics)

    def reset(self) -> None:
        """No toxics, and the seeded draws start again."""
        self.draws.reset()
        self.set_toxics([])

    # -- connections -----------------------------------------------------------------------------

    def forget(self, link: Link) -> None:
        self.links.discard(link)

    def _accept(self) -> None:
        listener = self.listener
        for _ in range(_ACCEPTS):
            if listener is None:
                return
            try:
                client, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FILES:  # wait for connections to end rather than spin
                    self.loop.remove_reader(listener.fileno())
                    self.loop.call_later(0.1, self._resume_accepting, listener)
                return
            if address[1] in self.outbound:
                client.close()  # a loop: it would open connections until no descriptor is left
                continue
            client.setblocking(False)
            _no_delay(client)
            task = self.loop.create_task(self._open(client, self.draws.next_connection()))
            self.opening.add(task)
            task.add_done_callback(self.opening.discard)

    def _resume_accepting(self, listener: socket.socket) -> None:
        if self.listener is listener:
            self.loop.add_reader(listener.fileno(), self._accept)

    async def _open(self, client: socket.socket, nth: int) -> None:
        try:
            upstream = await self._connect()
        except OSError:
            client.close()  # as toxiproxy does when the upstream cannot be reached
            return
        except asyncio.CancelledError:
            client.close()
            raise
        link = Link(self, client, upstream, nth, self.draws, self.toxics)
        self.links.add(link)
        link.start()

    async def _connect(self) -> socket.socket:
        host, port = split_address(self.spec.upstream)
        failure: OSError = OSError(f"no address for {host}")
        for family, address in await resolve(host, port):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            port = 0
            try:
                # The local port is known before the connect, so that a loop is seen at its first accept.
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
                port = sock.getsockname()[1]
                self.outbound.add(port)
                async with asyncio.timeout(_CONNECT_TIMEOUT):
                    await self.loop.sock_connect(sock, address)
            except OSError as exc:  # refused, unreachable, or the timeout (a TimeoutError)
                self.outbound.discard(port)
                sock.close()
                failure = exc
                continue
            except BaseException:
                self.outbound.discard(port)
                sock.close()
                raise
            _no_delay(sock)
            return sock
        raise failure


def _no_delay(sock: socket.socket) -> None:
    # Bytes go on as they come (Go, and so toxiproxy, sets it on every connection): Nagle's wait for an
    # ACK would add up to 40 ms to every small request and answer that crosses the proxy.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
