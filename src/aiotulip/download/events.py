"""``--events FILE|-``: JSON lines, written as a run goes (what they say is decided in ``scripts.py``).

The lines go through ``shared.output``: ``-`` is standard output, a FIFO or a device is written
through as lines come (flushed at least every 0.2 s, so a reader follows the run even while nothing
new happens), a regular file is written beside its name and renamed over it at the end, never seen
half written. A reader that goes away (a closed pipe) costs the run nothing but its events: one line
on stderr says so, once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Any, TextIO

from aiotulip.shared.signals import left_to_main

__all__ = ["EventWriter"]

_FLUSH_EVERY = 0.2  # seconds a line may wait in the buffer


class EventWriter:
    """Write events to *path* as JSON lines, from any thread; *problems* collects what went wrong."""

    def __init__(self, path: str, problems: list[str]) -> None:
        from aiotulip.shared.output import writing

        self.path = path
        self._problems = problems
        self._lock = threading.Lock()
        self._context = contextlib.ExitStack()
        self._out: TextIO | None = self._context.enter_context(writing(path))
        self._failure: OSError | ValueError | None = None
        self._dirty = False
        self._flushed = time.monotonic()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None  # started with the first line

    def write(self, event: str, fields: dict[str, Any]) -> None:
        """Write one line: ``{"event": EVENT, "time": NOW, **fields}``."""
        import json

        line = json.dumps({"event": event, "time": round(time.time(), 3), **fields}) + "\n"
        with self._lock:
            out = self._out
            if out is None:
                return
            try:
                out.write(line)
                now = time.monotonic()
                if now - self._flushed >= _FLUSH_EVERY:
                    out.flush()
                    self._flushed, self._dirty = now, False
                else:
                    self._dirty = True
            except (OSError, ValueError) as exc:  # (ValueError: the file was closed under us)
                self._lost(exc)
                return
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._keep_flushing, name="tulip-events", daemon=True)
                self._flusher.start()

    def close(self, keep: bool = True) -> None:
        """Flush what is left and put the file in place (a regular file: renamed over its name);
        not *keep*: its temporary is removed instead (the name holds a download)."""
        if not keep and self._failure is None:
            self._failure = OSError("the file is a download of this run")
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._lock:
            out, self._out = self._out, None
            try:
                if out is not None:
                    out.flush()
            except (OSError, ValueError) as exc:
                self._lost(exc)
            failure = self._failure
            if failure is None:
                try:
                    self._context.close()
                except OSError as exc:  # the rename, or the last flush of a FIFO
                    self._lost(exc)
            else:
                # A file left half written is not put in place (its temporary is removed).
                with contextlib.suppress(OSError, ValueError):
                    self._context.__exit__(type(failure), failure, failure.__traceback__)

    def _keep_flushing(self) -> None:
        left_to_main()
        while not self._stop.wait(_FLUSH_EVERY):
            with self._lock:
                out = self._out
                if out is None or not self._dirty:
                    continue
                try:
                    out.flush()
                    self._flushed, self._dirty = time.monotonic(), False
                except (OSError, ValueError) as exc:
                    self._lost(exc)

    def _lost(self, exc: OSError | ValueError) -> None:
        # Called under the lock: no more lines; said once.
        if self._out is sys.stdout:
            _quiet_stdout()
        self._out = None
        if self._failure is not None:
            return
        self._failure = exc
        reason = getattr(exc, "strerror", None) or str(exc)
        message = f"cannot write --events {self.path}: {reason}; the run goes on without its events"
        self._problems.append(message)
        print(f"tulip fetch: error: {message}", file=sys.stderr, flush=True)


def _quiet_stdout() -> None:
    """Point standard output at /dev/null: its reader is gone, and Python's last flush at exit would
    otherwise print a BrokenPipeError (the way the Python docs advise for SIGPIPE)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
