"""Mapping files from WireMock's documentation, served by tulip serve --mappings: each answers as the
page says (tests/serve/wiremock_docs/ holds them verbatim, one folder per page)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotulip.errors import UsageError
from aiotulip.serve import ServeConfig, ServerThread

DOCS = Path(__file__).resolve().parent / "wiremock_docs"


def serve(page: str) -> ServerThread:
    return ServerThread(ServeConfig(files=0, mappings=DOCS / page))


def call(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-s", *args], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def stubbing() -> Iterator[str]:
    with serve("stubbing") as url:
        yield url


def test_stubbing_page(stubbing: str) -> None:
    status, headers, body = call(f"{stubbing}/some/thing")
    assert (status, headers["Content-Type"], body) == (200, "text/plain", b"Hello, world!")
    assert call(f"{stubbing}/some/thing/else")[0] == 200
    assert curl("-i", f"{stubbing}/some/thing/else").stdout.startswith(
        b"HTTP/1.1 200 Everything was just fine!"
    )
    assert call(f"{stubbing}/api/specific-resource")[0] == 200  # priority 1 beats the catch-all's 10
    status, headers, body = call(f"{stubbing}/anything/else")
    assert status == 404 and json.loads(body) == {"status": "Error", "message": "Endpoint not found"}
    _, headers, _ = call(f"{stubbing}/whatever")
    assert headers.get_all("Set-Cookie") == ["session_id=91837492837", "split_test_group=B"]
    assert headers["Cache-Control"] == "no-cache"
    assert call(f"{stubbing}/body")[2] == b"Literal text to put in the body"
    assert call(f"{stubbing}/body-file")[2] == (DOCS / "stubbing/__files/path/to/myfile.xml").read_bytes()
    assert call(f"{stubbing}/binary-body")[2] == base64.b64decode("WUVTIElOREVFRCE=") == b"YES INDEED!"


def test_request_matching_page() -> None:
    with serve("matching") as url:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert call(f"{url}/mock", "POST", b"tool=WireMock&other=1", form)[0] == 200
        assert call(f"{url}/mock", "POST", b"tool=wiremock", form)[0] == 404
        assert call(f"{url}/v1/contacts/12345/addresses/99876")[0] == 200
        assert call(f"{url}/v1/contacts/12345/addresses/1")[0] == 404
        token = base64.b64encode(b"user:pass").decode()
        assert call(f"{url}/basic-auth", headers={"Authorization": f"Basic {token}"})[0] == 200
        assert call(f"{url}/basic-auth")[0] == 404
        assert call(f"{url}/and", headers={"X-Some-Value": "amagicvaluez"})[0] == 200
        assert call(f"{url}/and", headers={"X-Some-Value": "magicvalue-1"})[0] == 404  # not [a-z]+
        assert call(f"{url}/or?search=abc")[0] == 200
        assert call(f"{url}/or")[0] == 200  # absent
        assert call(f"{url}/or?search=ABC")[0] == 404


def test_stateful_behaviour_page() -> None:
    with serve("scenarios") as url:
        assert call(f"{url}/todo/items")[2] == b"<items><item>Buy milk</item></items>"
        body = b"Cancel newspaper subscription"
        assert call(f"{url}/todo/items", "POST", body, {"Content-Type": "text/plain"})[0] == 201
        assert call(f"{url}/todo/items")[2] == (
            b"<items><item>Buy milk</item><item>Cancel newspaper subscription</item></items>"
        )
        scenarios = json.loads(call(f"{url}/__admin/scenarios")[2])["scenarios"]
        assert [(s["name"], s["state"]) for s in scenarios] == [("To do list", "Cancel newspaper item added")]
        assert sorted(scenarios[0]["possibleStates"]) == ["Cancel newspaper item added", "Started"]
        assert call(f"{url}/__admin/scenarios/reset", "POST")[0] == 200
        assert call(f"{url}/todo/items")[2] == b"<items><item>Buy milk</item></items>"


def test_simulating_faults_page() -> None:
    with serve("faults") as url:
        started = time.monotonic()
        assert call(f"{url}/delayed")[0] == 200
        assert time.monotonic() - started >= 2.0
        for _ in range(5):
            started = time.monotonic()
            assert call(f"{url}/random/delayed")[0] == 200
            assert 0.01 < time.monotonic() - started < 2.0  # lognormal around 80 ms
        started = time.monotonic()
        assert call(f"{url}/chunked/delayed")[2] == b"Hello world!"
        assert time.monotonic() - started >= 0.8  # five pieces, 200 ms apart
        assert curl(f"{url}/fault").returncode == 56  # as WireMock: a 200 head, then no chunk


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"request": {"urlPath": "/x", "bodyPatterns": [{"equalToXml": "<a/>"}]}}, "equalToXml"),
        ({"request": {"url": "/x", "multipartPatterns": []}}, "multipartPatterns"),
        ({"request": {"url": "/x"}, "response": {"transformers": ["response-template"]}}, "transformers"),
        ({"request": {"url": "/x"}, "response": {"proxyBaseUrl": "http://example.com"}}, "proxyBaseUrl"),
        ({"request": {"url": "/x", "method": "GET", "headres": {}}}, "headres"),
        ({"request": {"url": "/x"}, "response": {"bodyFileName": "../../etc/passwd"}}, "bodyFileName"),
    ],
)
def test_what_tulip_does_not_serve_is_refused_by_name(tmp_path: Path, mapping: dict, field: str) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "one.json").write_text(json.dumps(mapping))
    with pytest.raises(UsageError, match=field) as refused:
        ServerThread(ServeConfig(files=0, mappings=tmp_path)).start()
    assert "one.json" in str(refused.value) and "\n" not in str(refused.value)
