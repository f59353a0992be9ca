"""Record and replay: tulip serve --upstream URL --record DIR writes WireMock mappings and body files;
tulip serve --mappings DIR plays them back, with faults on top, and secrets stay out."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aiotulip import Entry, RetryPolicy, fetch
from aiotulip.serve import Faults, ServeConfig, ServerThread
from tests.download.helpers import assert_disk_matches, manifest


def get(url: str, headers: dict | None = None, data: bytes | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, dict(answer.headers), answer.read()


def test_record_then_replay_with_faults_on_top(tmp_path: Path) -> None:
    # The upstream: files, and a stub that sets a cookie and answers a POST in turn.
    api = tmp_path / "api"
    (api / "mappings").mkdir(parents=True)
    (api / "mappings" / "login.json").write_text(json.dumps({"mappings": [
        {"request": {"method": "GET", "url": "/me"},
         "response": {"jsonBody": {"user": "ann"}, "headers": {"Set-Cookie": "session=s3cr3t"}}},
        {"scenarioName": "n", "requiredScenarioState": "Started", "newScenarioState": "2",
         "request": {"method": "POST", "url": "/next"}, "response": {"body": "one"}},
        {"scenarioName": "n", "requiredScenarioState": "2",
         "request": {"method": "POST", "url": "/next"}, "response": {"body": "two"}},
    ]}))  # fmt: skip
    recorded = tmp_path / "recorded"
    # (sizes on both sides of 64 KiB: a larger answer is streamed, and was never recorded)
    with ServerThread(ServeConfig(files=24, size=(30_000, 300_000), seed=2, mappings=api)) as upstream:
        files = manifest(upstream)
        assert min(f["size"] for f in files) < 65_536 < max(f["size"] for f in files)
        with ServerThread(ServeConfig(upstream=upstream, record=recorded)) as proxy:
            for item in files:
                get(proxy + item["url"])
            _, headers, body = get(f"{proxy}/me", {"Authorization": "Bearer top-secret"})
            assert json.loads(body) == {"user": "ann"} and "session=s3cr3t" in headers["Set-Cookie"]
            post = {"Content-Type": "application/json"}
            assert get(f"{proxy}/next", post, b'{"n": 1}')[2] == b"one"
            assert get(f"{proxy}/next", post, b'{"n": 1}')[2] == b"two"
    written = "".join(path.read_text() for path in (recorded / "mappings").glob("*.json"))
    assert len(list((recorded / "mappings").glob("*.json"))) == 24 + 1 + 2
    assert "top-secret" not in written and "s3cr3t" not in written  # secrets stay out ...
    assert not any(b"s3cr3t" in p.read_bytes() for p in (recorded / "__files").iterdir())
    assert "scenarioName" in written  # ... and the repeated POST became a scenario

    faults = Faults(
        truncate_rate=0.1, drop_rate=0.1, corrupt_rate=0.1
    )  # ids are new each recording: so are the draws
    with ServerThread(ServeConfig(files=0, mappings=recorded, faults=faults, seed=5)) as replay:
        entries = [Entry(replay + item["url"], item["name"], item["sha256"], item["size"]) for item in files]
        report = fetch(
            entries, tmp_path / "out", policy=RetryPolicy(retries=12, backoff=0.01, max_backoff=0.05)
        )
        assert [(item.status, item.error) for item in report.items] == [("ok", None)] * len(files)
        assert_disk_matches(tmp_path / "out", files)  # every file right, through the faults
        stats = json.loads(get(f"{replay}/_tulip/stats")[2])
        assert sum(stats["faults"].values()) > 0


def test_record_secrets_keeps_them(tmp_path: Path) -> None:
    api = tmp_path / "api"
    (api / "mappings").mkdir(parents=True)
    (api / "mappings" / "me.json").write_text(json.dumps(
        {"request": {"url": "/me"}, "response": {"body": "ann", "headers": {"Set-Cookie": "session=s3cr3t"}}}
    ))  # fmt: skip
    recorded = tmp_path / "recorded"
    with ServerThread(ServeConfig(files=0, mappings=api)) as upstream:
        config = ServeConfig(upstream=upstream, record=recorded, record_secrets=True)
        with ServerThread(config) as proxy:
            get(f"{proxy}/me", {"Authorization": "Bearer top-secret"})
    (mapping,) = [json.loads(p.read_text()) for p in (recorded / "mappings").glob("*.json")]
    assert mapping["request"]["headers"]["Authorization"] == {"equalTo": "Bearer top-secret"}
    assert mapping["response"]["headers"]["Set-Cookie"] == "session=s3cr3t"
    with ServerThread(ServeConfig(files=0, mappings=recorded)) as replay:
        assert get(f"{replay}/me", {"Authorization": "Bearer top-secret"})[2] == b"ann"


def test_stubs_in_front_of_an_upstream_pass_on_the_bodies_they_read(tmp_path: Path) -> None:
    api = tmp_path / "api"
    (api / "mappings").mkdir(parents=True)
    (api / "mappings" / "echo.json").write_text(json.dumps(
        {"request": {"method": "POST", "url": "/echo", "bodyPatterns": [{"equalTo": "ping"}]},
         "response": {"body": "pong"}}
    ))  # fmt: skip
    front = tmp_path / "front"
    (front / "mappings").mkdir(parents=True)
    (front / "mappings" / "local.json").write_text(json.dumps(
        {"request": {"method": "POST", "url": "/local"}, "response": {"body": "here"}}
    ))  # fmt: skip
    with (
        ServerThread(ServeConfig(files=0, mappings=api)) as upstream,
        ServerThread(ServeConfig(upstream=upstream, mappings=front)) as proxy,
    ):
        assert get(f"{proxy}/local", {"Content-Type": "text/plain"}, b"x")[2] == b"here"  # a stub answers
        assert get(f"{proxy}/echo", {"Content-Type": "text/plain"}, b"ping")[2] == b"pong"  # the upstream
        # More than a stub reads: the proxy passes it on as it came; the upstream (a stub server, which
        # reads what it matches) is the one that says 413.
        big = urllib.request.Request(f"{proxy}/echo", b"x" * (3 << 20), {"Content-Type": "text/plain"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(big, timeout=10)
        assert refused.value.code == 413
        refused.value.close()
        journal = json.loads(get(f"{upstream}/__admin/requests")[2])["requests"]
        assert (journal[0]["request"]["url"], journal[0]["response"]["status"]) == ("/echo", 413)


def test_a_location_that_named_the_upstream_is_replayed_on_the_replaying_server(tmp_path: Path) -> None:
    """The proxy makes such a Location its own (http://127.0.0.1:RECORDING_PORT/new), and that is
    what was recorded: replayed, it sent clients to a port where nothing listened any more."""

    def location(base: str, path: str) -> str | None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)
        answer = conn.getresponse()
        answer.read()
        conn.close()
        return answer.getheader("Location")

    recorded = tmp_path / "recorded"
    with ServerThread(ServeConfig(files=0)) as upstream:
        # (and with credentials in it, to the upstream or elsewhere: never a client's, never on disk)
        with_creds = upstream.replace("://", "://ruser:REDIRPW@")
        for path, target in (("/old", f"{upstream}/new"), ("/creds", f"{with_creds}/new"),
                             ("/away", "http://ruser:REDIRPW@127.0.0.1:1/x")):  # fmt: skip
            stub = {"request": {"url": path}, "response": {"status": 302, "headers": {"Location": target}}}
            request = urllib.request.Request(f"{upstream}/__admin/mappings", data=json.dumps(stub).encode(),
                                             headers={"Content-Type": "application/json"})  # fmt: skip
            urllib.request.urlopen(request, timeout=10).close()
        with ServerThread(ServeConfig(upstream=upstream, record=recorded)) as proxy:
            assert location(proxy, "/old") == f"{proxy}/new"  # (live: the proxy's own address)
            assert location(proxy, "/creds") == f"{proxy}/new"
            assert location(proxy, "/away") == "http://ruser:REDIRPW@127.0.0.1:1/x"  # (another server's)
    assert not any(b"REDIRPW" in path.read_bytes() for path in recorded.rglob("*") if path.is_file())
    with ServerThread(ServeConfig(files=0, mappings=recorded)) as replay:
        assert location(replay, "/old") == "/new"
        assert location(replay, "/creds") == "/new"
        assert location(replay, "/away") == "http://127.0.0.1:1/x"
