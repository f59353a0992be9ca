"""Proxies and toxics from JSON: toxiproxy's defaults and words, and tulip's stricter checks naming
the field at fault."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiotulip.proxy.model import (
    ApiError,
    ProxySpec,
    host_allowed,
    is_loopback,
    parse_body,
    parse_proxy,
    parse_proxy_list,
    parse_toxic,
    split_address,
    update_proxy,
    update_toxic,
)


def error(call: Callable[..., object], *args: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


def test_a_toxic_gets_toxiproxys_defaults() -> None:
    toxic = parse_toxic({"type": "latency", "attributes": {"latency": 100}})
    assert toxic.to_json() == {
        "attributes": {"latency": 100, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    assert parse_toxic({"type": "slicer", "stream": "upstream", "name": "s"}).attributes == {
        "average_size": 0,
        "size_variation": 0,
        "delay": 0,
    }
    assert parse_toxic({"type": "http_error"}).attributes == {"status": 503, "retry_after": None}
    assert parse_toxic({"type": "latency", "attributes": {"latency": 5.0}}).attributes["latency"] == 5


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"type": "lag"}, "invalid toxic type: 'lag'"),
        ({}, "invalid toxic type: None"),
        (
            {"type": "latency", "stream": "sideways"},
            "stream was invalid, can be either upstream or downstream",
        ),
        (
            {"type": "latency", "attributes": {"latncy": 5}},
            "attributes.latncy is not an attribute of latency",
        ),
        ({"type": "latency", "attributes": {"latency": -1}}, "attributes.latency of latency must be"),
        ({"type": "latency", "attributes": {"latency": "1s"}}, "attributes.latency"),
        ({"type": "latency", "attributes": {"latency": True}}, "attributes.latency"),
        ({"type": "latency", "attributes": {"latency": 1.5}}, "attributes.latency"),
        ({"type": "latency", "attributes": {"latency": 10**400}}, "attributes.latency"),
        ({"type": "latency", "attributes": [1]}, "attributes must be a JSON object"),
        ({"type": "latency", "toxicity": 2}, "toxicity must be a probability"),
        ({"type": "latency", "toxicity": "all"}, "toxicity must be a probability"),
        ({"type": "latency", "tocixity": 1}, "tocixity is not a field"),
        ({"type": "latency", "name": "a/b"}, "cannot be part of a URL path"),
        ({"type": "latency", "name": ".."}, "cannot be part of a URL path"),
        ({"type": "latency", "name": 7}, "name must be a string"),
        ({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}}, "size_variation"),
        ({"type": "http_error", "attributes": {"status": 200}}, "attributes.status of http_error"),
        ({"type": "http_error", "stream": "upstream"}, "its stream is downstream"),
        ([], "a JSON object is expected"),
    ],
)
def test_a_bad_toxic_is_a_400_naming_the_field(body: object, words: str) -> None:
    caught = error(parse_toxic, body)
    assert caught.status == 400
    assert words in caught.message
    assert caught.to_json() == {"error": caught.message, "status": 400}


def test_an_update_merges_attributes_and_keeps_what_is_not_given() -> None:
    toxic = parse_toxic({"type": "latency", "toxicity": 0.5, "attributes": {"latency": 100, "jitter": 10}})
    changed = update_toxic(toxic, {"attributes": {"latency": 1000}})
    assert (changed.toxicity, dict(changed.attributes)) == (0.5, {"latency": 1000, "jitter": 10})
    assert update_toxic(changed, {"toxicity": 0.25}).toxicity == 0.25
    assert "cannot change" in error(update_toxic, toxic, {"type": "bandwidth"}).message


def test_a_proxy_needs_a_name_and_an_upstream_and_listens_on_loopback_by_default() -> None:
    assert parse_proxy({"name": "redis", "upstream": "127.0.0.1:6379"}) == ProxySpec(
        "redis", "127.0.0.1:6379", "127.0.0.1:0", True
    )
    assert error(parse_proxy, {"upstream": "x:1"}).message == "missing required field: name"
    assert error(parse_proxy, {"name": "a"}).message == "missing required field: upstream"
    assert (
        "missing port" in error(parse_proxy, {"name": "a", "upstream": "x:1", "listen": "local373"}).message
    )
    assert "port 0" in error(parse_proxy, {"name": "a", "upstream": "x:0"}).message
    assert "enabled must be" in error(parse_proxy, {"name": "a", "upstream": "x:1", "enabled": "no"}).message
    spec = parse_proxy({"name": "a", "upstream": "x:1", "listen": "127.0.0.1:5000", "toxics": []})
    assert update_proxy(spec, {"enabled": False}) == ProxySpec("a", "x:1", "127.0.0.1:5000", False)
    assert "cannot change" in error(update_proxy, spec, {"name": "b"}).message


def test_a_populate_list_is_checked_whole_before_anything_is_made() -> None:
    good = {"name": "one", "upstream": "127.0.0.1:1"}
    assert len(parse_proxy_list([good, {**good, "name": "two"}])) == 2
    assert (
        error(parse_proxy_list, [good, {"upstream": "x:1"}]).message
        == "missing required field: name at proxy 2"
    )
    assert "a JSON list" in error(parse_proxy_list, {"proxies": []}).message


def test_bodies_that_are_not_json() -> None:
    assert parse_body(b'{"a": 1}') == {"a": 1}
    for raw in (b"", b"{", b"\xff", b"[" * 100_000, b"NaN-ish"):
        assert error(parse_body, raw).message.startswith("bad request body: ")


def test_addresses_and_loopback() -> None:
    assert split_address("[::1]:80") == ("::1", 80)
    assert split_address(":8080") == ("", 8080)
    for bad in ("::1:80", "host", "host:99999", "ho st:1", "a/b:1"):
        with pytest.raises(ValueError):
            split_address(bad)
    assert [is_loopback(h) for h in ("127.0.0.2", "::1", "localhost", "", "0.0.0.0", "10.0.0.1", "db")] == [
        True, True, True, False, False, False, None,
    ]  # fmt: skip


def test_host_headers_that_name_this_api_and_those_that_do_not() -> None:
    local = {"127.0.0.1:8474": True, "localhost": True, "[::1]:8474": True, "LOCALHOST.:8474": True,
             "evil.example:8474": False, "evil.example": False, "10.0.0.5:8474": False, "": False,
             "127.0.0.1.evil.example": False, "[::1": False, "127.0.0.1:80@evil.example": False,
             "[::1]x": False, "localhost:": True}  # fmt: skip
    for header, allowed in local.items():
        assert host_allowed(header, exposed=False) is allowed, header
    assert host_allowed(None, exposed=False)
    assert host_allowed("10.0.0.5:8474", exposed=True)  # an exposed API answers to its addresses
    assert not host_allowed("evil.example", exposed=True)  # ... never to a name it was not given
    assert host_allowed("toxiproxy:8474", exposed=True, names=frozenset({"toxiproxy"}))
