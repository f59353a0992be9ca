"""``--record DIR``: each answer an upstream gives in proxy mode, written in WireMock's recording
layout, so that ``tulip serve --mappings DIR`` (or WireMock itself) plays it back.

    DIR/mappings/<path>-<id>.json    the request (method, URL, body) and the answer's status and headers
    DIR/__files/<path>-<id>.<ext>    the answer's body, as the upstream sent it (compressed stays so)

As WireMock's recorder does by default, repeats of one request become a scenario: played back, they
give the recorded answers in order, then the last one again. Only whole answers are recorded: one
that a fault cut short, or that came from tulip (an injected error), is not the upstream's.

Secrets stay out unless ``--record-secrets``: the request's ``Authorization`` and ``Cookie`` are not
made part of the mapping, and the answer's ``Set-Cookie`` is not kept.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["Recorder"]

MAX_RECORDED = 256 * 1024 * 1024  # an answer larger than this is passed on, not recorded
_SECRET_REQUEST = ("Authorization", "Cookie")
_DROPPED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "date"})
_EXTENSIONS = (("json", "json"), ("html", "html"), ("xml", "xml"), ("javascript", "js"), ("css", "css"),
               ("text/", "txt"))  # fmt: skip


class Recorder:
    """Writes mappings and body files for the answers it is given, one at a time."""

    def __init__(self, root: Path, *, secrets: bool = False) -> None:
        self.root = root
        self.secrets = secrets
        self.mappings = root / "mappings"
        self.files = root / "__files"
        self.mappings.mkdir(parents=True, exist_ok=True)
        self.files.mkdir(parents=True, exist_ok=True)
        self._groups: dict[tuple[str, str, bytes], list[tuple[Path, dict[str, Any]]]] = {}
        self._scenarios = 0
        self._lock = asyncio.Lock()
        self.recorded = 0

    async def record(
        self,
        method: str,
        url: str,
        request_headers: Iterable[tuple[str, str]],
        request_body: bytes,
        status: int,
        headers: Iterable[tuple[str, str]],
        body: bytes,
    ) -> None:
        """Write one upstream answer (off the event loop)."""
        async with self._lock:
            writes = self._mapping(
                method, url, list(request_headers), request_body, status, list(headers), body
            )
            await asyncio.to_thread(_write_all, writes)
            self.recorded += 1

    def _mapping(
        self,
        method: str,
        url: str,
        request_headers: list[tuple[str, str]],
        request_body: bytes,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> list[tuple[Path, bytes]]:
        ident = str(uuid.uuid4())
        name = _slug(url)
        request: dict[str, Any] = {"url": url, "method": method}
        if self.secrets:
            captured = {
                key: {"equalTo": value}
                for key, value in request_headers
                if key.lower() in ("authorization", "cookie")
            }
            if captured:
                request["headers"] = captured
        content_type = next((v for k, v in request_headers if k.lower() == "content-type"), "")
        if request_body:
            text = request_body.decode("utf-8", "replace")
            if "json" in content_type.lower():
                request["bodyPatterns"] = [
                    {"equalToJson": text, "ignoreArrayOrder": True, "ignoreExtraElements": True}
                ]
            else:
                request["bodyPatterns"] = [{"equalTo": text}]
        response: dict[str, Any] = {"status": status}
        writes: list[tuple[Path, bytes]] = []
        if body:
            answer_type = next((v for k, v in headers if k.lower() == "content-type"), "")
            body_name = f"{name}-{ident}.{_extension(answer_type)}"
            response["bodyFileName"] = body_name
            writes.append((self.files / body_name, body))
        kept: dict[str, Any] = {}
        for key, value in headers:
            lower = key.lower()
            if lower in _DROPPED or (lower == "set-cookie" and not self.secrets):
                continue
            if lower in LOCATIONS and not self.secrets:
                value = without_userinfo(value)  # (a redirect's credentials are secrets too)
            if key in kept:
                kept[key] = [*kept[key], value] if isinstance(kept[key], list) else [kept[key], value]
            else:
                kept[key] = value
        if kept:
            response["headers"] = kept
        mapping: dict[str, Any] = {"id": ident, "name": name, "request": request, "response": response,
                                   "uuid": ident, "persistent": True}  # fmt: skip
        path = self.mappings / f"{name}-{ident}.json"
        group = self._groups.setdefault((method, url, request_body), [])
        group.append((path, mapping))
        if len(group) > 1:
            writes += self._as_scenario(group, name)
        else:
            writes.append((path, _dump(mapping)))
        return writes

    def _as_scenario(self, group: list[tuple[Path, dict[str, Any]]], name: str) -> list[tuple[Path, bytes]]:
        """Chain the answers to one request into a scenario: each moves it on to the next."""
        first = group[0][1]
        scenario = first.get("scenarioName")
        if scenario is None:
            self._scenarios += 1
            scenario = f"scenario-{self._scenarios}-{name}"
        writes = []
        for index, (path, mapping) in enumerate(group):
            mapping["scenarioName"] = scenario
            mapping["requiredScenarioState"] = "Started" if index == 0 else f"{scenario}-{index + 1}"
            if index + 1 < len(group):
                mapping["newScenarioState"] = f"{scenario}-{index + 2}"
            else:
                mapping.pop("newScenarioState", None)  # the last answer stays
            if index >= len(group) - 2:
                writes.append((path, _dump(mapping)))
        return writes


def _write_all(writes: list[tuple[Path, bytes]]) -> None:
    for path, data in writes:
        partial = path.with_name(f".{path.name}.part")
        partial.write_bytes(data)
        partial.replace(path)  # a reader never sees half a mapping


def _dump(mapping: dict[str, Any]) -> bytes:
    return (json.dumps(mapping, indent=2) + "\n").encode()


def _slug(url: str) -> str:
    """Return a file-name-safe name for a URL's path, as WireMock names its recordings."""
    path = url.partition("?")[0].strip("/")
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")[:60]
    return slug or "root"


def _extension(content_type: str) -> str:
    lower = content_type.lower()
    return next((ext for marker, ext in _EXTENSIONS if marker in lower), "bin")


LOCATIONS = ("location", "content-location")  # the headers in which an answer names a place


def without_userinfo(url: str) -> str:
    """*url* without the user:password@ a server may put in a Location."""
    scheme, sep, rest = url.partition("://")
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    if not sep or "@" not in rest[:authority_end]:
        return url
    return f"{scheme}://{rest[:authority_end].rpartition('@')[2]}{rest[authority_end:]}"
