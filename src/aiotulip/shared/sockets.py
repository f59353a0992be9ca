"""Socket moves both servers make: a reset instead of a close, and the bytes the kernel still holds."""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import sys
import termios

__all__ = ["linger_zero", "reset", "unsent"]


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
