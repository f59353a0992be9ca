"""Signals held back while a command imports what it runs on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from aiotulip.shared.signals import deferred


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
