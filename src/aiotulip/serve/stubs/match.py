"""A request, as stubs see it (``Incoming``), and WireMock's request pattern (``RequestPattern``):
method, URL (``url``, ``urlPath``, ``urlPattern``, ``urlPathPattern``, ``urlPathTemplate``), query
parameters, headers, cookies, basic credentials, form parameters and body patterns. A pattern says
whether a request ``matches`` it, and how far it is from doing so (``distance``, 0 to 1, weighted
as WireMock's near misses are: the URL most, then the method, then each other part). No I/O.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from multidict import MultiMapping

from aiotulip.serve.stubs.jsonmatch import json_depth
from aiotulip.serve.stubs.likeness import string_distance
from aiotulip.serve.stubs.values import (
    MappingError,
    Matcher,
    MultiMatcher,
    multi_matcher,
    safe_regex,
    value_matcher,
)

__all__ = ["Headers", "Incoming", "RequestPattern", "Verdict"]


#: A request's headers: aiohttp's (case-insensitive names, every value of a name).
Headers = MultiMapping[str]


class Incoming:
    """One request's parts, read lazily: a pattern asks only for what it tests."""

    __slots__ = ("__dict__", "body", "headers", "method", "url")

    def __init__(self, method: str, url: str, headers: Headers, body: bytes = b"") -> None:
        self.method = method
        self.url = url  # the path and query as sent (percent-encoded)
        self.headers = headers
        self.body = body

    @cached_property
    def path(self) -> str:
        return self.url.partition("?")[0]

    @cached_property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.url.partition("?")[2], keep_blank_values=True)

    @cached_property
    def cookies(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for header in self.headers.getall("Cookie", []):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue
            for name, morsel in jar.items():
                found.setdefault(name, []).append(morsel.value)
        return found

    @cached_property
    def text(self) -> str:
        """The body as the matchers read it: bytes that are not UTF-8 kept as surrogate escapes."""
        return self.body.decode("utf-8", "surrogateescape")

    @cached_property
    def shown(self) -> str:
        """The body as a person or a JSON reader is shown it: bytes that are not UTF-8 as U+FFFD."""
        return self.body.decode("utf-8", "replace")

    @cached_property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.text, keep_blank_values=True)

    def header(self, name: str) -> list[str]:
        return self.headers.getall(name, [])


class Verdict:
    """How one part of a request fared against a pattern: for the near-miss report."""

    __slots__ = ("actual", "distance", "expected", "part")

    def __init__(self, part: str, expected: str, actual: str, distance: float) -> None:
        self.part, self.expected, self.actual, self.distance = part, expected, actual, distance


MAX_PATTERN_DEPTH = 100  # an equalToJson's 64 levels, and room around them
_URL_KEYS = ("url", "urlPath", "urlPattern", "urlPathPattern", "urlPathTemplate")
_KEYS = {*_URL_KEYS, "method", "pathParameters", "queryParameters", "headers", "cookies", "bodyPatterns",
         "basicAuthCredentials", "basicAuth", "formParameters"}  # fmt: skip
_REFUSED = {
    "multipartPatterns": "multipart matching is not supported",
    "customMatcher": "custom matchers are Java code: not supported",
    "host": "host matching is not supported",
    "port": "port matching is not supported",
    "scheme": "scheme matching is not supported",
}
_TEMPLATE_VARIABLE = re.compile(r"\{([A-Za-z_][\w-]*)\}")
_METHOD = re.compile(r"[A-Z_-]{1,20}")
_URL_WEIGHT, _METHOD_WEIGHT = 10.0, 3.0  # WireMock weighs the URL and the method above the rest


class RequestPattern:
    """A WireMock request pattern, checked when read: every field WireMock's JSON allows that tulip
    serves; any other is a MappingError naming it."""

    def __init__(self, spec: object, where: str = "request") -> None:
        if not isinstance(spec, dict):
            raise MappingError(where, "must be an object")
        if json_depth(spec) > MAX_PATTERN_DEPTH:
            # Reading a pattern recurses through and/or: a deeper one is an attack, not a test.
            raise MappingError(where, f"is nested deeper than {MAX_PATTERN_DEPTH} levels")
        for key in spec:
            if key in _REFUSED:
                raise MappingError(f"{where}.{key}", _REFUSED[key])
            if key not in _KEYS:
                raise MappingError(f"{where}.{key}", "is not a request field tulip knows")
        self.spec = spec
        method = spec.get("method", "ANY")
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            raise MappingError(f"{where}.method", f"must be an HTTP method or ANY, not {method!r}")
        self.method = method
        urls = [key for key in _URL_KEYS if key in spec]
        if len(urls) > 1:
            raise MappingError(where, f"give one of {', '.join(_URL_KEYS)}, not {' and '.join(urls)}")
        self.url_kind = urls[0] if urls else None
        self.url_text = ""
        self.url_test: Callable[[Incoming], bool] = lambda incoming: True
        self.path_parameters: dict[str, Matcher] = {}
        if self.url_kind is not None:
            self._read_url(spec, where)
        self.query = self._read_map(spec, "queryParameters", where)
        self.headers = self._read_map(spec, "headers", where)
        self.cookies = self._read_map(spec, "cookies", where)
        self.form = self._read_map(spec, "formParameters", where)
        credentials = spec.get("basicAuthCredentials", spec.get("basicAuth"))
        if credentials is not None:
            if not (isinstance(credentials, dict) and all(isinstance(credentials.get(k), str)
                                                          for k in ("username", "password"))):  # fmt: skip
                raise MappingError(f"{where}.basicAuthCredentials", "must be {username, password} strings")
            token = base64.b64encode(f"{credentials['username']}:{credentials['password']}".encode()).decode()
            self.headers.append(("Authorization", value_matcher({"equalTo": f"Basic {token}"}, where)))
        bodies = spec.get("bodyPatterns", [])
        if not isinstance(bodies, list):
            raise MappingError(f"{where}.bodyPatterns", "must be a list of match operations")
        self.body = [value_matcher(item, f"{where}.bodyPatterns[{i}]") for i, item in enumerate(bodies)]

    def _read_url(self, spec: dict[str, Any], where: str) -> None:
        kind = self.url_kind
        assert kind is not None
        text = spec[kind]
        here = f"{where}.{kind}"
        if not isinstance(text, str):
            raise MappingError(here, "must be a string")
        self.url_text = text
        if kind == "url":
            self.url_test = lambda incoming: incoming.url == text
        elif kind == "urlPath":
            self.url_test = lambda incoming: incoming.path == text
        elif kind in ("urlPattern", "urlPathPattern"):
            regex, limit = safe_regex(text, here)
            if kind == "urlPattern":
                self.url_test = lambda incoming: (
                    len(incoming.url) <= limit and bool(regex.fullmatch(incoming.url))
                )
            else:
                self.url_test = lambda incoming: (
                    len(incoming.path) <= limit and bool(regex.fullmatch(incoming.path))
                )
        else:  # urlPathTemplate: /contacts/{contactId}, each variable one path segment
            names = _TEMPLATE_VARIABLE.findall(text)
            if len(set(names)) != len(names):
                raise MappingError(here, "names a variable twice")
            pieces = _TEMPLATE_VARIABLE.split(text)
            regex_text = "".join(re.escape(piece) if i % 2 == 0 else f"(?P<{piece.replace('-', '_')}>[^/]+)"
                                 for i, piece in enumerate(pieces))  # fmt: skip
            template = re.compile(regex_text)
            self.url_test = lambda incoming: self._template(template, incoming)
            params = spec.get("pathParameters", {})
            if not isinstance(params, dict):
                raise MappingError(f"{where}.pathParameters", "must be an object")
            for name, matcher in params.items():
                if name not in names:
                    raise MappingError(f"{where}.pathParameters.{name}", "is not a variable of the template")
                self.path_parameters[name] = value_matcher(matcher, f"{where}.pathParameters.{name}")
        if kind != "urlPathTemplate" and "pathParameters" in spec:
            raise MappingError(f"{where}.pathParameters", "goes with urlPathTemplate")

    def _template(self, template: re.Pattern[str], incoming: Incoming) -> bool:
        found = template.fullmatch(incoming.path)
        if found is None:
            return False
        values = found.groupdict()
        return all(m.matches(values.get(name.replace("-", "_"))) for name, m in self.path_parameters.items())

    @staticmethod
    def _read_map(spec: dict[str, Any], key: str, where: str) -> list[tuple[str, Matcher | MultiMatcher]]:
        items = spec.get(key, {})
        if not isinstance(items, dict):
            raise MappingError(f"{where}.{key}", "must be an object of name: match operation")
        return [(name, multi_matcher(test, f"{where}.{key}.{name}")) for name, test in items.items()]

    # -- matching -----------------------------------------------------------------------------------

    def matches(self, incoming: Incoming) -> bool:
        """Whether *incoming* is a request this pattern describes."""
        method = self.method
        if (
            method != "ANY"
            and method != incoming.method
            and not (method == "GET_OR_HEAD" and incoming.method in ("GET", "HEAD"))
        ):
            return False
        if not self.url_test(incoming):
            return False
        if self.query and not _all_match(self.query, incoming.query.get):
            return False
        if self.headers and not _all_match(self.headers, incoming.header):
            return False
        if self.cookies and not _all_match(self.cookies, incoming.cookies.get):
            return False
        if self.form and not _all_match(self.form, incoming.form.get):
            return False
        return all(matcher.matches(incoming.text) for matcher in self.body)

    def verdicts(self, incoming: Incoming) -> list[tuple[Verdict, float]]:
        """Judge every part of *incoming*: (verdict, weight) pairs, for distances and reports."""
        found = []
        method_ok = self.method in ("ANY", incoming.method) or (
            self.method == "GET_OR_HEAD" and incoming.method in ("GET", "HEAD")
        )
        found.append(
            (Verdict("method", self.method, incoming.method, 0.0 if method_ok else 1.0), _METHOD_WEIGHT)
        )
        if self.url_kind is not None:
            actual = incoming.url if self.url_kind in ("url", "urlPattern") else incoming.path
            if self.url_test(incoming):
                distance = 0.0
            elif self.url_kind in ("url", "urlPath"):
                distance = max(0.01, string_distance(self.url_text, actual))
            else:
                distance = 1.0
            found.append((Verdict("URL", self.url_text, actual, distance), _URL_WEIGHT))
        for part, tests, values in (
            ("query", self.query, incoming.query.get),
            ("header", self.headers, incoming.header),
            ("cookie", self.cookies, incoming.cookies.get),
            ("form", self.form, incoming.form.get),
        ):
            for name, test in tests:
                got = values(name) or []
                shown = ", ".join(got) if got else "[absent]"
                found.append((Verdict(f"{part} {name}", test.expected(), shown, _distance(test, got)), 1.0))
        for matcher in self.body:
            shown = incoming.text if len(incoming.text) <= 200 else incoming.text[:200] + "…"
            found.append((Verdict("body", matcher.expected(), shown, matcher.distance(incoming.text)), 1.0))
        return found

    def distance(self, incoming: Incoming) -> float:
        """Return 0 for a match, up to 1 for a request that has nothing in common with the pattern."""
        verdicts = self.verdicts(incoming)
        total = sum(weight for _, weight in verdicts)
        return sum(verdict.distance * weight for verdict, weight in verdicts) / total if total else 0.0


def _all_match(tests: Sequence[tuple[str, Matcher | MultiMatcher]], values: Callable[[str], Any]) -> bool:
    for name, test in tests:
        got = values(name) or []
        if isinstance(test, MultiMatcher):
            if not test.matches_all(got):
                return False
        elif got:
            if not any(test.matches(value) for value in got):
                return False
        elif not test.matches(None):
            return False
    return True


def _distance(test: Matcher | MultiMatcher, got: list[str]) -> float:
    if isinstance(test, MultiMatcher):
        return 0.0 if test.matches_all(got) else 1.0
    if not got:
        return test.distance(None)
    return min(test.distance(value) for value in got)


def request_of(data: Mapping[str, Any]) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Read a logged request in WireMock's JSON (``url``, ``method``, ``headers``, ``body``): the
    near-miss query takes one."""
    url = data.get("url", "/")
    if not isinstance(url, str) or not url.startswith("/"):
        absolute = data.get("absoluteUrl")
        if isinstance(absolute, str):
            parts = urlsplit(absolute)
            url = parts.path + (f"?{parts.query}" if parts.query else "")
        else:
            raise MappingError("url", "must be a path such as /x?y=1")
    method = data.get("method", "GET")
    if not isinstance(method, str):
        raise MappingError("method", "must be a string")
    headers: list[tuple[str, str]] = []
    raw = data.get("headers", {})
    if not isinstance(raw, dict):
        raise MappingError("headers", "must be an object")
    for name, value in raw.items():
        for item in value if isinstance(value, list) else [value]:
            headers.append((str(name), str(item)))
    body = data.get("body", "")
    if not isinstance(body, str):
        raise MappingError("body", "must be a string")
    return method, url, headers, body.encode()
