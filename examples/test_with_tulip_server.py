"""Test your own HTTP client against tulip's faults: a complete file to copy next to your tests.

With tulip installed, pytest has the ``tulip_server`` and ``tulip_proxy`` fixtures; run ``pytest``.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request

import pytest


def download(url: str, tries: int = 20) -> bytes:
    """The client under test (yours goes here): retry whatever breaks, up to *tries* times."""
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.read()
        except (OSError, http.client.HTTPException):  # 5xx, resets, cut bodies, timeouts
            time.sleep(0.01)
    raise RuntimeError(f"gave up on {url}")


def test_every_file_arrives_whole_through_faults(tulip_server) -> None:
    server = tulip_server(files=20, size="8k", error_rate=0.2, truncate_rate=0.1, drop_rate=0.1,
                          retry_after=0, seed=7)  # fmt: skip
    for item in server.manifest:
        body = download(server.url + item["url"])
        assert hashlib.sha256(body).hexdigest() == item["sha256"]
    faults = server.stats["faults"]
    assert faults["error"] > 0 and faults["truncate"] > 0  # seeded: the same faults every run


@pytest.mark.tulip_server(files=1, stall_rate=1.0)
def test_a_stalled_server_times_out(tulip_server) -> None:
    with pytest.raises(TimeoutError):
        urllib.request.urlopen(tulip_server.urls[0], timeout=0.5)


def test_a_fault_proxy_in_front_of_another_server(tulip_server, tulip_proxy) -> None:
    app = tulip_server(files=2)  # stands for the server your client really talks to
    proxy = tulip_proxy(app.url, error_rate=1.0, error_codes=[503])
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(proxy.url + "/files/file-00000.bin", timeout=5)
    assert refused.value.code == 503
    proxy.faults.update(error_rate=0)  # live: the next request gets through
    assert download(proxy.url + "/files/file-00000.bin") == download(app.url + "/files/file-00000.bin")
