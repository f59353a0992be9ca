"""libcurl's sockets in an epoll set of the driver's own: what both curl drivers wait on.

libcurl says which sockets to watch through its socket callback (``watch``); the asyncio driver
watches this set's one descriptor with the loop's ``add_reader``, the blocking driver waits in
``ready`` itself.

Why a set of its own rather than the loop's ``add_reader`` for each socket: libcurl stops watching a
kept-alive connection's socket when a transfer ends (``POLL_REMOVE``) and watches it again when the
next transfer on that connection begins. On ten thousand small files that was two registrations a
file — on uvloop a poll handle made and closed, two ``epoll_ctl`` calls — about a tenth of the run.
Here a socket libcurl stops watching stays in the set, *parked*: taking it up again costs one
``epoll_ctl``, and none on the way out.

Why parking is safe: libcurl may close a parked socket without a word (a connection it finds dead,
or prunes from its pool) and the next socket may get its number. The kernel drops a closed socket
from every epoll set by itself, so a stale number lives only in ``_asked``; taking a number up again
always goes through the kernel (``modify``, and ``register`` where the kernel no longer knows the
number), never trusts the dict. A parked socket that turns ready (the server closed the idle
connection) is dropped from the set at once — watched level-triggered it would wake us forever; libcurl
finds the connection closed when it next looks at it. No other code shares this set, so a number
reused elsewhere in the process (a file, another component's socket) is never touched here.

Where ``select.epoll`` is missing (not Linux), a selector stands in and nothing is parked.
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors

import pycurl

__all__ = ["Sockets"]

_EPOLL = hasattr(select, "epoll")
# What is kept of libcurl's wish (its socket callback's *what*): POLL_IN and POLL_OUT, the same bits
# as socket_action's CSELECT_IN and CSELECT_OUT and as a selector's EVENT_READ and EVENT_WRITE.
_BOTH = pycurl.POLL_IN | pycurl.POLL_OUT
assert (pycurl.CSELECT_IN, pycurl.CSELECT_OUT) == (pycurl.POLL_IN, pycurl.POLL_OUT) == (
    selectors.EVENT_READ, selectors.EVENT_WRITE)  # fmt: skip
if _EPOLL:
    _TO_EPOLL = {
        pycurl.POLL_IN: select.EPOLLIN,
        pycurl.POLL_OUT: select.EPOLLOUT,
        _BOTH: select.EPOLLIN | select.EPOLLOUT,
    }
    _FAILED = select.EPOLLERR | select.EPOLLHUP


class Sockets:
    """The sockets libcurl asked to watch, and their readiness told back in ``socket_action``'s
    terms. *wake*: a pipe's read end that only interrupts ``ready`` (drained here, never reported)."""

    __slots__ = ("_asked", "_selector", "_set", "_wake")

    def __init__(self, wake: int | None = None, *, epoll: bool = _EPOLL) -> None:
        self._asked: dict[int, int] = {}  # fd -> the events libcurl wants; 0: parked (still in the set)
        self._wake = wake
        self._set: select.epoll | None = select.epoll() if epoll else None
        self._selector: selectors.BaseSelector | None = None if epoll else selectors.DefaultSelector()
        if wake is not None:
            if self._set is not None:
                self._set.register(wake, select.EPOLLIN)
            else:
                assert self._selector is not None
                self._selector.register(wake, selectors.EVENT_READ)

    def fileno(self) -> int:
        """What an event loop watches (readable: some socket here is ready)."""
        if self._set is not None:
            return self._set.fileno()
        fileno = getattr(self._selector, "fileno", None)  # (kqueue's and epoll's selectors have one)
        if fileno is None:
            raise OSError("no descriptor to watch libcurl's sockets with on this system")
        return int(fileno())

    def watch(self, what: int, fd: int) -> None:
        """libcurl's socket callback: watch *fd* for *what* (``POLL_*``) from now on."""
        wanted = what & _BOTH if what != pycurl.POLL_REMOVE else 0
        asked = self._asked
        before = asked.get(fd)
        epoll = self._set
        if epoll is None:
            self._select(fd, before, wanted)
            return
        if not wanted:
            if before is not None:
                asked[fd] = 0  # parked: left in the set, nothing asked of it
            return
        asked[fd] = wanted
        if before is None:
            try:
                epoll.register(fd, _TO_EPOLL[wanted])
            except FileExistsError:  # (never expected: every number in the set is in _asked)
                epoll.modify(fd, _TO_EPOLL[wanted])
            return
        try:
            epoll.modify(fd, _TO_EPOLL[wanted])  # the number may name a new socket now: the kernel knows
        except FileNotFoundError:
            epoll.register(fd, _TO_EPOLL[wanted])

    def _select(self, fd: int, before: int | None, wanted: int) -> None:
        selector = self._selector
        assert selector is not None
        if before:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(fd)
        if wanted:
            selector.register(fd, wanted)
            self._asked[fd] = wanted
        else:
            self._asked.pop(fd, None)

    def ready(self, timeout: float = 0.0, most: int = -1) -> list[tuple[int, int]]:
        """Wait at most *timeout* seconds (0: not at all) and return the ready sockets, at most
        *most* of them (-1: as many as the kernel gives at once), as ``(fd, CSELECT_* flags)`` for
        ``socket_action``. The rest stay ready for the next call."""
        asked = self._asked
        found: list[tuple[int, int]] = []
        if self._set is None:
            assert self._selector is not None
            for key, events in self._selector.select(timeout)[: None if most < 0 else most]:
                if key.fd == self._wake:
                    self._drain()
                    continue
                found.append((key.fd, events))
            return found
        for fd, events in self._set.poll(timeout, most):
            wanted = asked.get(fd)
            if not wanted:
                if fd == self._wake:
                    self._drain()
                else:  # parked, and something happened to it: out of the set (see the module's note)
                    self._drop(fd)
                continue
            if events & _FAILED:  # (not CSELECT_ERR: libcurl would fail a transfer whose data waits unread)
                found.append((fd, wanted))  # it reads or writes, and finds out what went wrong
            else:
                flags = (pycurl.CSELECT_IN if events & select.EPOLLIN else 0) | (
                    pycurl.CSELECT_OUT if events & select.EPOLLOUT else 0
                )
                found.append((fd, flags & wanted))
        return found

    def _drop(self, fd: int) -> None:
        self._asked.pop(fd, None)
        assert self._set is not None
        with contextlib.suppress(OSError):
            self._set.unregister(fd)

    def _drain(self) -> None:
        assert self._wake is not None
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake, 4096)

    def close(self) -> None:
        self._asked.clear()
        if self._set is not None:
            self._set.close()
        if self._selector is not None:
            self._selector.close()
