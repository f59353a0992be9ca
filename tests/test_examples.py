"""The two classic supervisor programs run as they are and print the answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_both_supervisors_print_the_answer() -> None:
    procs = {
        name: subprocess.Popen([sys.executable, str(EXAMPLES / name)], stdout=subprocess.PIPE, text=True)
        for name in ("spinner_thread.py", "spinner_asyncio.py")
    }
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, name
        assert out.startswith("spinner object: <"), name
        assert out.rstrip().endswith("Answer: 42"), name
