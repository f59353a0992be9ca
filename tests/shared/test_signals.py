"""Signals held back while a command imports what it runs on."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aiotulip import FetchOptions, Spinner, fetch
from aiotulip.download.models import Job
from aiotulip.download.progress import Progress
from aiotulip.serve import ServeConfig, ServerThread
from aiotulip.shared.signals import deferred
from tests.download.helpers import manifest


def test_a_ctrl_c_while_deferred_comes_once_the_block_ends() -> None:
    """A KeyboardInterrupt raised inside `import asyncio` (while CPython built the ImportError that
    ssl.py catches) came out as "TypeError: expected a message argument", a traceback and exit 1."""
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            reached.append("the rest of the block")  # (not broken off)
        reached.append("after the block")  # never: the interrupt comes as it ends
    assert reached == ["the rest of the block"]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_sigterm_while_deferred_still_ends_the_process() -> None:
    code = (
        "import os, signal, time\n"
        "from aiotulip.shared.signals import deferred\n"
        "with deferred():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(0.2)\n"
        "    print('deferred', flush=True)\n"
        "print('never')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (-signal.SIGTERM, "deferred\n")


def test_python_m_ends_with_the_status_after_an_interrupt_caught_inside_an_exec() -> None:
    """A Ctrl-C that landed while dataclasses made their methods (exec) was caught: tulip printed
    "interrupted" and returned 130, and ``python -m aiotulip`` then died of SIGINT (-2), because
    CPython remembers a KeyboardInterrupt that went through any exec and acts on it at exit."""
    code = (
        "import runpy, sys\n"
        "try:\n"
        "    exec('raise KeyboardInterrupt')  # (where the Ctrl-C lands: inside an exec)\n"
        "except KeyboardInterrupt:\n"
        "    pass  # (caught, as tulip's main catches it)\n"
        "sys.argv = ['tulip', '--version']\n"
        "try:\n"
        "    runpy.run_module('aiotulip', run_name='__main__')\n"
        "except SystemExit as end:\n"
        "    print('status', end.code)  # (and the script ends as -m's would: no SystemExit left)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout.splitlines()[-1]) == (0, "status 0")


# -- the threads tulip starts leave the process's signals to the main thread ---------------------------

LEFT = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP, signal.SIGWINCH}


def blocked(thread: threading.Thread) -> set[int]:
    """The signals the kernel will not give *thread* (its SigBlk): a signal sent to the process goes
    to a thread that does not block it, and CPython acts on it only in the main thread."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    found = re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.MULTILINE)
    assert found is not None
    mask = int(found.group(1), 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


class Snapshot(Progress):
    """Notes, as bytes come, what each of tulip's threads then alive blocks."""

    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = {}

    def advance(self, nbytes: int, job: Job | None = None) -> None:
        for thread in threading.enumerate():
            if thread.name.startswith("tulip-") and thread.native_id is not None:
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # (one ended meanwhile)
                    self.seen[thread.name.rsplit("_", 1)[0]] = blocked(thread)


def test_a_spinners_clock_thread_leaves_ctrl_c_to_the_main_thread() -> None:
    """A SpinnerGroup program's main thread sat in time.sleep(30) and its Ctrl-C was acted on 30 s
    late, frames still drawn (once in CI): the kernel had given the SIGINT to the clock thread."""
    with Spinner("t", stream=io.StringIO(), interactive=True, interval=0.01):
        (clock,) = [t for t in threading.enumerate() if t.name == "tulip-spinner"]
        assert blocked(clock) >= LEFT
        assert not LEFT & blocked(threading.main_thread())


def test_the_loops_own_threads_leave_signals_to_the_main_thread_too() -> None:
    """run_in_executor(None) and to_thread, on the loop tulip runs (the asyncio engine's)."""
    from aiotulip.shared.loop import run

    async def main() -> set[int]:
        return await asyncio.to_thread(lambda: blocked(threading.current_thread()))

    assert run(main()) >= LEFT


def test_a_threads_run_leaves_its_signals_to_the_main_thread(tmp_path: Path) -> None:
    """Fetch workers, split connections and the events file's flusher: each blocks what is sent to
    the process, so a Ctrl-C wakes the main thread wherever it waits."""
    options = FetchOptions(engine="threads", split=2, min_split_size=1 << 19, netrc=False, proxy="",
                           events=str(tmp_path / "events.jsonl"))  # fmt: skip
    snapshot = Snapshot()
    with ServerThread(ServeConfig(files=3, size=(2 << 20, 2 << 20), seed=5)) as base:
        urls = [base + f["url"] for f in manifest(base)]
        report = fetch(urls, tmp_path / "out", options, progress=snapshot)
    assert report.counts()["ok"] == 3, [(r.status, r.error) for r in report.items]
    assert {"tulip-fetch", "tulip-split", "tulip-events"} <= snapshot.seen.keys()
    assert all(mask >= LEFT for mask in snapshot.seen.values()), snapshot.seen
    assert not LEFT & blocked(threading.main_thread())
