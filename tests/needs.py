"""Real programs the tests start (servers, peer clients): found, or the test is skipped with the
Debian package to install — unless ``CI=true``, where a missing program fails the run (CI installs
them all: ``.ci/run``). The session ends with one line naming every package that was missing."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["MISSING", "binary"]

#: Debian packages whose programs some test wanted and did not find.
MISSING: set[str] = set()


def binary(name: str, package: str | None = None) -> str:
    """Return the path of the program *name*; skip (or, under CI, fail) the test if it is missing."""
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if found is not None:
        return found
    package = package or name
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed (apt-get install -y {package}); CI must install it (.ci/run)")
    MISSING.add(package)
    pytest.skip(f"{name} is not installed: apt-get install -y {package}")
