"""Socket moves the servers share: a listening socket, a reset instead of a close, and the bytes the
kernel has not sent yet."""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import sys
import termios

from aiotulip.errors import UsageError

__all__ = ["linger_zero", "listening_socket", "reset", "unsent"]


def listening_socket(host: str, port: int) -> socket.socket:
    """Return a non-blocking socket bound to *host*:*port* (not yet listening); raise UsageError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    except UnicodeError:  # (an empty label, one over 63 characters: the IDNA codec refuses it)
        raise UsageError(f"cannot resolve host {host!r}: not a valid host name") from None
    family, _type, proto, _canon, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def linger_zero(sock: socket.socket) -> None:
    """Make the next close of *sock* send RST instead of FIN (and drop what is still queued)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset(sock: socket.socket) -> None:
    """Close *sock* with RST, as a peer that vanished would."""
    linger_zero(sock)
    sock.close()


def unsent(sock: socket.socket | None) -> int:
    """Return the bytes in the kernel's send queue not yet sent (0 where the platform cannot tell)."""
    outq = getattr(termios, "TIOCOUTQ", None)
    if sock is None or outq is None:
        return 0
    try:
        queued = fcntl.ioctl(sock.fileno(), outq, b"\0\0\0\0")
    except OSError:
        return 0
    return int.from_bytes(queued, sys.byteorder, signed=True)
