"""aiotulip.testing, as a user's own test would use it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import aiotulip
from aiotulip import testing


def test_every_name_resolves_and_importing_loads_no_server() -> None:
    for name in testing.__all__:
        assert getattr(testing, name) is not None, name
    code = "import sys, aiotulip.testing; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_mock_transport_answers_fetch_without_a_socket(tmp_path: Path) -> None:
    mock = testing.MockTransport({"http://h/a.bin": testing.MockResponse(200, body=b"abc")})
    report = aiotulip.fetch(["http://h/a.bin"], tmp_path, transport=mock, progress=False)
    assert report.items[0].sha256 == hashlib.sha256(b"abc").hexdigest()
    assert (tmp_path / "a.bin").read_bytes() == b"abc"


def test_a_server_thread_serves_its_manifest(tmp_path: Path) -> None:
    with testing.ServerThread(testing.ServeConfig(files=3, seed=1)) as base:
        report = aiotulip.fetch([f"{base}/files/file-00001.bin"], tmp_path, progress=False)
    assert report.exit_status() == 0
