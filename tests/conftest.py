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


def pytest_configure(config: pytest.Config) -> None:
    """Started under ``nohup`` or as a background job of a script, this process has SIGHUP or SIGINT
    ignored, and SIG_IGN survives exec: every child would ignore what the signal tests send it. A
    handler of our own instead — reset to the default in each child as it execs — keeps the suite
    passing however it is started (and still deaf to a hangup, as nohup asked)."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        signal.signal(signal.SIGHUP, lambda signum, frame: None)


@pytest.fixture(autouse=True)
def _signals_left_as_found() -> object:
    """A test that runs tulip's command line in this process (main() ignores SIGINT as it returns)
    must put the handlers back: every later test's child would inherit an ignored SIGINT, and each
    signal test would hang (one did, taking a third of the suite down with it)."""
    import signal

    wanted = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {sig: signal.getsignal(sig) for sig in wanted}
    yield
    changed = [signal.Signals(sig).name for sig in wanted if signal.getsignal(sig) != before[sig]]
    for sig in wanted:
        if before[sig] is not None:  # (None: a handler not set from Python, nothing to put back)
            signal.signal(sig, before[sig])  # type: ignore[arg-type]
    assert not changed, f"the test left {', '.join(changed)} changed"
