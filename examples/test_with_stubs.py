"""Test an HTTP API client against stubs in WireMock's format: a complete file to copy next to your
tests. With tulip installed, pytest has the ``tulip_server`` fixture; run ``pytest``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest


def get_user(base: str, user_id: int, tries: int = 5) -> dict:
    """The client under test (yours goes here): GET a user, retrying a 503."""
    request = urllib.request.Request(f"{base}/users/{user_id}", headers={"Accept": "application/json"})
    for _ in range(tries):
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code != 503:
                raise
    raise RuntimeError("gave up")


def test_the_client_reads_a_user(tulip_server) -> None:
    server = tulip_server(files=0)
    server.stub(
        request={"method": "GET", "urlPath": "/users/7", "headers": {"Accept": {"contains": "json"}}},
        response={"jsonBody": {"id": 7, "name": "Ann"}, "headers": {"Content-Type": "application/json"}},
    )
    assert get_user(server.url, 7) == {"id": 7, "name": "Ann"}
    server.assert_requested("GET", "/users/7", times=1)
    (logged,) = server.requests(method="GET", path="/users/7")
    assert logged["headers"]["Accept"] == "application/json"


def test_the_client_retries_what_a_flaky_api_answers(tulip_server) -> None:
    server = tulip_server(files=0, seed=7)
    # tulip's own faults on one stub, drawn from the seed: the same 503s every run.
    server.stub(request={"urlPath": "/users/8"}, response={"jsonBody": {"id": 8}},
                tulip={"error_rate": 0.5, "error_codes": [503], "retry_after": 0})  # fmt: skip
    assert get_user(server.url, 8, tries=20) == {"id": 8}
    assert len(server.requests(path="/users/8")) >= 1


def test_a_failed_assertion_names_the_near_misses(tulip_server) -> None:
    server = tulip_server(files=0)
    server.stub(request={"urlPath": "/users/9"}, response={"status": 404})
    with pytest.raises(urllib.error.HTTPError):
        get_user(server.url, 9)
    with pytest.raises(AssertionError, match=r"near miss .*GET /users/9"):
        server.assert_requested("GET", "/user/9")
