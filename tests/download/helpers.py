"""Shared by the fetch tests: manifests, on-disk checks, comparable reports."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from aiotulip import Entry, Report


def manifest(base: str) -> list[dict]:
    with urllib.request.urlopen(f"{base}/manifest.json", timeout=30) as resp:
        return json.load(resp)["files"]


def entries(base: str) -> list[Entry]:
    return [Entry(base + f["url"], f["name"], f["sha256"], f["size"]) for f in manifest(base)]


def assert_disk_matches(dest: Path, files: list[dict]) -> None:
    """Every manifest file is in *dest* with the right sha256, and nothing else is (no .part left)."""
    for f in files:
        data = (dest / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["name"]
    found = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert found == sorted(f["name"] for f in files)


def comparable(report: Report, dest: Path) -> list[tuple]:
    """What must be identical between engines: everything but timings, the port and the dest prefix."""
    return [
        (_target(r.url), os.path.relpath(r.path, dest), r.status, r.bytes, r.sha256, r.attempts, r.error)
        for r in report.items
    ]


def _target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def signal_and_wait(proc: subprocess.Popen[str], signum: int = signal.SIGINT) -> tuple[str, str, float]:
    """Send *signum* to *proc* and wait for it to end; return its output and the seconds it took."""
    signalled = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    return out, err, time.monotonic() - signalled
