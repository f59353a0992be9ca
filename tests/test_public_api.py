"""The public surface is what __all__ says, and importing tulip stays light."""

from __future__ import annotations

import subprocess
import sys

import tulip


def test_all_names_resolve() -> None:
    for name in tulip.__all__:
        assert getattr(tulip, name) is not None, name
    assert callable(tulip.fetch) and callable(tulip.fetch_async)


def test_import_does_not_load_aiohttp() -> None:
    code = "import sys, tulip; print('aiohttp' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
