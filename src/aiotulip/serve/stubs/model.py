"""A stub mapping in WireMock's JSON, read and checked once: ``Stub`` (priority, request pattern,
scenario, tulip's own faults) and ``Answer`` (status, headers, body, delays, fault). No I/O: a
``bodyFileName`` is checked for its shape here and found on disk by ``files.py``.

A mapping tulip cannot serve as WireMock would (a templated response, a proxying stub, an XML
matcher, a misspelt field) is a MappingError naming the field, never a stub that quietly matches
more than it says.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiotulip.errors import UsageError
from aiotulip.serve.faults import Faults, Kind
from aiotulip.serve.stubs.jsonmatch import json_depth
from aiotulip.serve.stubs.match import RequestPattern
from aiotulip.serve.stubs.values import MAX_JSON_DEPTH, MappingError

__all__ = [
    "DEFAULT_PRIORITY",
    "WIREMOCK_FAULTS",
    "Answer",
    "MappingError",
    "Stub",
    "parse_stub",
    "safe_body_name",
]

DEFAULT_PRIORITY = 5
MAX_DELAY = 3600.0  # seconds: a longer delay is a typo, and would hold a task for it
MAX_CHUNKS = 10_000
#: WireMock's faults, as the kinds of tulip's own draw (one implementation of each).
WIREMOCK_FAULTS: dict[str, Kind] = {
    "EMPTY_RESPONSE": "empty",
    "MALFORMED_RESPONSE_CHUNK": "malformed_chunk",
    "RANDOM_DATA_THEN_CLOSE": "garbage",
    "CONNECTION_RESET_BY_PEER": "reset",
}
_TOP = {"id", "uuid", "name", "priority", "request", "response", "scenarioName", "requiredScenarioState",
        "newScenarioState", "persistent", "metadata", "insertionIndex", "postServeActions",
        "serveEventListeners", "tulip"}  # fmt: skip
_RESPONSE = {"status", "statusMessage", "headers", "body", "jsonBody", "base64Body", "bodyFileName",
             "fixedDelayMilliseconds", "delayDistribution", "chunkedDribbleDelay", "fault", "transformers",
             "transformerParameters", "additionalProxyRequestHeaders", "proxyBaseUrl", "fromConfiguredStub",
             "gzipDisabled"}  # fmt: skip


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer",
                      "te"})  # fmt: skip


@dataclass
class Answer:
    """What a stub answers: checked, with its body ready (or its file named)."""

    status: int = 200
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    body_file: str | None = None  # relative to __files, checked for its shape
    fixed_delay: float = 0.0  # seconds
    distribution: tuple[str, float, float] | None = (
        None  # ("uniform", lower, upper) or ("lognormal", median, sigma), seconds
    )
    dribble: tuple[int, float] | None = None  # (chunks, seconds)
    fault: Kind | None = None
    fixed: bool = True  # the same bytes at once every time (the fast path): no file, delay or fault


@dataclass
class Stub:
    """One mapping: its id, its place in the order of matching, its pattern and its answer."""

    id: str
    request: RequestPattern
    answer: Answer
    priority: int = DEFAULT_PRIORITY
    scenario: str | None = None
    required_state: str | None = None
    new_state: str | None = None
    faults: Faults | None = None  # tulip's own, from the mapping's "tulip" object
    source: dict[str, Any] = field(default_factory=dict)  # the JSON as given, id and uuid filled in
    seq: int = 0  # set by the registry: a later stub wins a tie of priority

    def to_json(self) -> dict[str, Any]:
        return self.source


def parse_stub(data: object, where: str = "", *, stub_id: str | None = None) -> Stub:
    """Read one mapping; raise MappingError naming the first field that is wrong."""
    prefix = f"{where}." if where else ""
    if not isinstance(data, dict):
        raise MappingError(where, "a mapping must be a JSON object")
    for key in data:
        if key not in _TOP:
            raise MappingError(f"{prefix}{key}", "is not a mapping field tulip knows")
    for key in ("postServeActions", "serveEventListeners"):
        if data.get(key):
            raise MappingError(f"{prefix}{key}", "webhooks and listeners are not supported")
    given = stub_id or data.get("id") or data.get("uuid")
    if given is None:
        ident = str(uuid.uuid4())
    else:
        try:
            ident = str(uuid.UUID(str(given)))
        except ValueError:
            raise MappingError(f"{prefix}id", f"must be a UUID, not {given!r}") from None
    priority = data.get("priority", DEFAULT_PRIORITY)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 2**31 - 1:
        raise MappingError(f"{prefix}priority", "must be a whole number from 1 (first) to 2147483647")
    if "request" not in data:
        raise MappingError(f"{prefix}request", "is missing")
    request = RequestPattern(data["request"], f"{prefix}request")
    answer = _answer(data.get("response", {}), f"{prefix}response")
    scenario = _optional_text(data, "scenarioName", prefix)
    required = _optional_text(data, "requiredScenarioState", prefix)
    new_state = _optional_text(data, "newScenarioState", prefix)
    if scenario is None and (required is not None or new_state is not None):
        raise MappingError(f"{prefix}scenarioName", "is missing: a scenario state needs the scenario's name")
    faults = None
    if "tulip" in data:
        faults = _faults(data["tulip"], f"{prefix}tulip")
    source = dict(data)
    source.pop("insertionIndex", None)
    source["id"] = source["uuid"] = ident
    return Stub(ident, request, answer, priority, scenario, required, new_state, faults, source)


def _optional_text(data: dict[str, Any], key: str, prefix: str) -> str | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise MappingError(f"{prefix}{key}", "must be a non-empty string")
    return value


def _faults(spec: object, where: str) -> Faults:
    if not isinstance(spec, dict):
        raise MappingError(where, "must be an object of fault settings (error_rate, truncate_rate, ...)")
    try:
        return Faults().updated(spec)
    except UsageError as exc:
        raise MappingError(where, str(exc)) from None


def _answer(spec: object, where: str) -> Answer:
    if not isinstance(spec, dict):
        raise MappingError(where, "must be an object")
    for key in spec:
        if key not in _RESPONSE:
            raise MappingError(f"{where}.{key}", "is not a response field tulip knows")
    if spec.get("transformers"):
        raise MappingError(f"{where}.transformers", "response templating is not supported")
    for key in ("proxyBaseUrl", "additionalProxyRequestHeaders"):
        if key in spec:
            raise MappingError(
                f"{where}.{key}", "proxying stubs are not supported (tulip serve --upstream is)"
            )
    answer = Answer()
    status = spec.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        # A 1xx is interim, never the answer: a client would wait on for the real one.
        raise MappingError(f"{where}.status", f"must be a final HTTP status (200-599), not {status!r}")
    answer.status = status
    reason = spec.get("statusMessage")
    if reason is not None:
        if not isinstance(reason, str) or not reason.isprintable() or len(reason) > 200:
            raise MappingError(f"{where}.statusMessage", "must be one printable line")
        answer.reason = reason
    headers = spec.get("headers", {})
    if not isinstance(headers, dict):
        raise MappingError(f"{where}.headers", "must be an object of name: value (or a list of values)")
    for name, value in headers.items():
        if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
            raise MappingError(f"{where}.headers", f"{name!r} is not a header name")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.isprintable():
                raise MappingError(f"{where}.headers.{name}", "must be a value on one line")
            if name.lower() in _FRAMING:
                # The body's framing is the server's: a Content-Length of 5 before a body of 12 would
                # make the rest of the body the client's next answer. tulip's faults break it on purpose.
                continue
            answer.headers.append((name, item))
    bodies = [key for key in ("body", "jsonBody", "base64Body", "bodyFileName") if key in spec]
    if len(bodies) > 1:
        raise MappingError(where, f"give one body, not {' and '.join(bodies)}")
    if "body" in spec:
        if not isinstance(spec["body"], str):
            raise MappingError(f"{where}.body", "must be a string (jsonBody for JSON, base64Body for bytes)")
        answer.body = spec["body"].encode()
    elif "jsonBody" in spec:
        if json_depth(spec["jsonBody"]) > MAX_JSON_DEPTH:
            raise MappingError(f"{where}.jsonBody", f"is nested deeper than {MAX_JSON_DEPTH} levels")
        answer.body = json.dumps(spec["jsonBody"], separators=(",", ":")).encode()
    elif "base64Body" in spec:
        try:
            answer.body = base64.b64decode(str(spec["base64Body"]), validate=True)
        except (binascii.Error, ValueError):
            raise MappingError(f"{where}.base64Body", "is not base64") from None
    elif "bodyFileName" in spec:
        answer.body_file = safe_body_name(spec["bodyFileName"], f"{where}.bodyFileName")
    delay = spec.get("fixedDelayMilliseconds", 0)
    answer.fixed_delay = _milliseconds(delay, f"{where}.fixedDelayMilliseconds")
    if "delayDistribution" in spec:
        answer.distribution = _distribution(spec["delayDistribution"], f"{where}.delayDistribution")
    if "chunkedDribbleDelay" in spec:
        dribble = spec["chunkedDribbleDelay"]
        here = f"{where}.chunkedDribbleDelay"
        if not isinstance(dribble, dict) or set(dribble) != {"numberOfChunks", "totalDuration"}:
            raise MappingError(here, "must be {numberOfChunks, totalDuration}")
        chunks = dribble["numberOfChunks"]
        if not isinstance(chunks, int) or isinstance(chunks, bool) or not 1 <= chunks <= MAX_CHUNKS:
            raise MappingError(f"{here}.numberOfChunks", f"must be a whole number from 1 to {MAX_CHUNKS}")
        answer.dribble = (chunks, _milliseconds(dribble["totalDuration"], f"{here}.totalDuration"))
    fault = spec.get("fault")
    if fault is not None:
        if fault not in WIREMOCK_FAULTS:
            raise MappingError(
                f"{where}.fault", f"must be one of {', '.join(WIREMOCK_FAULTS)}, not {fault!r}"
            )
        answer.fault = WIREMOCK_FAULTS[fault]
    answer.fixed = not (
        answer.body_file or answer.fixed_delay or answer.distribution or answer.dribble or answer.fault
    )
    return answer


def _milliseconds(value: object, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise MappingError(where, "must be a number of milliseconds")
    if not 0 <= value <= MAX_DELAY * 1000:
        raise MappingError(where, f"must be from 0 to {MAX_DELAY * 1000:.0f} milliseconds")
    return value / 1000


def _distribution(spec: object, where: str) -> tuple[str, float, float]:
    if not isinstance(spec, dict):
        raise MappingError(where, "must be {type: uniform, lower, upper} or {type: lognormal, median, sigma}")
    kind = spec.get("type")
    if kind == "uniform":
        lower = _milliseconds(spec.get("lower"), f"{where}.lower")
        upper = _milliseconds(spec.get("upper"), f"{where}.upper")
        if lower > upper:
            raise MappingError(f"{where}.lower", "is above upper")
        return ("uniform", lower, upper)
    if kind == "lognormal":
        median = _milliseconds(spec.get("median"), f"{where}.median")
        sigma = spec.get("sigma")
        if not isinstance(sigma, int | float) or isinstance(sigma, bool) or not 0 <= sigma <= 10:
            raise MappingError(f"{where}.sigma", "must be a number from 0 to 10")
        return ("lognormal", median, float(sigma))
    raise MappingError(f"{where}.type", f"must be uniform or lognormal, not {kind!r}")


def safe_body_name(name: object, where: str) -> str:
    """Return *name* if it can only name a file inside __files (relative, no ``..``, no NUL or
    backslash); the real path is checked again on disk, symlinks followed, when it is read."""
    if not isinstance(name, str) or not name:
        raise MappingError(where, "must be a file name relative to __files")
    parts = name.split("/")
    if (
        name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in parts)
        or (len(name) > 1 and name[1] == ":")
        or len(name) > 1024
    ):
        raise MappingError(where, f"{name!r} is not a plain path inside __files")
    return name
