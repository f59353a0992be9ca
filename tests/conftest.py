from __future__ import annotations

import pytest

from tests.needs import MISSING

pytest_plugins = ["pytester"]  # tests of tulip's own pytest plugin run pytest in a fresh process


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MISSING:
        packages = " ".join(sorted(MISSING))
        terminalreporter.write_line(
            f"real-server tests skipped: apt-get install -y {packages} (CI=true fails instead)"
        )
