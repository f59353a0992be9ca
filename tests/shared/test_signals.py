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
