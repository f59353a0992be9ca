"""The public surface is what __all__ says, and importing tulip stays light."""

from __future__ import annotations

import subprocess
import sys

import aiotulip


def test_all_names_resolve() -> None:
    for name in aiotulip.__all__:
        assert getattr(aiotulip, name) is not None, name
    assert callable(aiotulip.fetch) and callable(aiotulip.fetch_async)


def test_import_does_not_load_aiohttp() -> None:
    code = "import sys, aiotulip; print('aiohttp' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
