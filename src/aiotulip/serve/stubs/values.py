"""WireMock's value matchers (``equalTo``, ``contains``, ``matches``, ``absent``, ``equalToJson`` ...):
each read from its JSON once, checked, then asked ``matches(value)`` and ``distance(value)`` (0 for a
match, up to 1) for every request. No I/O.

Regular expressions run on Python's backtracking engine, so a pattern is checked before it is kept:
at most 1,000 characters, no backreferences, no repeat inside a repeat and no alternation under a
repeat whose branches can start alike (the shapes that take exponential time), and at most two
unbounded repeats, whose worst case is quadratic: a value longer than 16 KiB is not tried against
such a pattern (nor one longer than 1 MiB against any): it does not match. A timeout would let a
bad pattern burn a core until then; refusing it up front costs nothing per request.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Sequence
from typing import Any

from aiotulip.serve.stubs.jsonmatch import (
    REGEX_PLACEHOLDER,
    JsonPath,
    Pattern,
    canonical,
    json_depth,
    json_distance,
    json_equal,
)
from aiotulip.serve.stubs.likeness import string_distance

__all__ = [
    "ANYTHING",
    "MappingError",
    "Matcher",
    "MultiMatcher",
    "multi_matcher",
    "safe_regex",
    "value_matcher",
]

MAX_PATTERN = 1000
MAX_JSON_DEPTH = 64
_QUADRATIC_LIMIT = 16 * 1024
_LINEAR_LIMIT = 1024 * 1024


class MappingError(ValueError):
    """A mapping WireMock's format does not allow (or tulip does not serve): where, and why."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}" if where else why)
        self.where = where


class Matcher:
    """One value test: ``matches(value)``, where None is an absent value, and its distance."""

    __slots__ = ()

    def matches(self, value: str | None) -> bool:
        raise NotImplementedError

    def distance(self, value: str | None) -> float:
        return 0.0 if self.matches(value) else 1.0

    def expected(self) -> str:
        """Say what the matcher wants, for the near-miss report."""
        raise NotImplementedError


class _Anything(Matcher):
    __slots__ = ()

    def matches(self, value: str | None) -> bool:
        return True

    def expected(self) -> str:
        return "anything"


ANYTHING = _Anything()


class _Absent(Matcher):
    __slots__ = ()

    def matches(self, value: str | None) -> bool:
        return value is None

    def expected(self) -> str:
        return "[absent]"


class _EqualTo(Matcher):
    __slots__ = ("fold", "text")

    def __init__(self, text: str, fold: bool) -> None:
        self.text, self.fold = (text.casefold() if fold else text), fold

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        return (value.casefold() if self.fold else value) == self.text

    def distance(self, value: str | None) -> float:
        if value is None:
            return 1.0
        return string_distance(self.text, value.casefold() if self.fold else value)

    def expected(self) -> str:
        return self.text + (" [case-insensitive]" if self.fold else "")


class _Binary(Matcher):
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def matches(self, value: str | None) -> bool:
        return value is not None and value.encode("utf-8", "surrogateescape") == self.data

    def expected(self) -> str:
        return f"[binary, {len(self.data)} bytes]"


class _Contains(Matcher):
    __slots__ = ("negate", "text")

    def __init__(self, text: str, negate: bool) -> None:
        self.text, self.negate = text, negate

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        return (self.text in value) != self.negate

    def expected(self) -> str:
        return ("[does not contain] " if self.negate else "[contains] ") + self.text


class _Regex(Matcher):
    __slots__ = ("limit", "negate", "regex")

    def __init__(self, regex: re.Pattern[str], limit: int, negate: bool) -> None:
        self.regex, self.limit, self.negate = regex, limit, negate

    def matches(self, value: str | None) -> bool:
        if value is None or len(value) > self.limit:
            return False  # too long for this pattern's worst case: see the module's docstring
        return (self.regex.fullmatch(value) is not None) != self.negate

    def expected(self) -> str:
        return ("[does not match] " if self.negate else "[matches] ") + self.regex.pattern


class _JsonEqual(Matcher):
    __slots__ = ("document", "expected_json", "extra", "order", "text")

    def __init__(self, expected: Any, ignore_order: bool, ignore_extra: bool, where: str) -> None:
        self.expected_json, self.order, self.extra = expected, ignore_order, ignore_extra
        self.document = _placeholders(expected, where)  # (regex placeholders compiled)
        self.text = canonical(expected)

    def matches(self, value: str | None) -> bool:
        actual = _parse_json(value)
        return actual is not _NOT_JSON and json_equal(self.document, actual, self.order, self.extra)

    def distance(self, value: str | None) -> float:
        actual = _parse_json(value)
        if actual is _NOT_JSON:
            return 1.0
        return json_distance(self.document, actual, self.order, self.extra, self.text)

    def expected(self) -> str:
        return "[equalToJson] " + json.dumps(self.expected_json)


class _JsonPath(Matcher):
    __slots__ = ("path", "sub")

    def __init__(self, path: JsonPath, sub: Matcher | None) -> None:
        self.path, self.sub = path, sub

    def matches(self, value: str | None) -> bool:
        document = _parse_json(value)
        if document is _NOT_JSON:
            return False
        found = self.path.select(document)
        if self.sub is None:
            # As WireMock: a non-null value, or a non-empty object or array, is a match.
            return any(item is not None and item != [] and item != {} for item in found)
        return any(self.sub.matches(_as_text(item)) for item in found)

    def expected(self) -> str:
        return f"[matchesJsonPath] {self.path.text}" + (f" {self.sub.expected()}" if self.sub else "")


class _All(Matcher):
    __slots__ = ("every", "parts")

    def __init__(self, matchers: list[Matcher], every: bool) -> None:
        self.parts, self.every = matchers, every

    def matches(self, value: str | None) -> bool:
        test = all if self.every else any
        return test(matcher.matches(value) for matcher in self.parts)

    def distance(self, value: str | None) -> float:
        distances = [matcher.distance(value) for matcher in self.parts]
        return sum(distances) / len(distances) if self.every else min(distances)

    def expected(self) -> str:
        return (" and " if self.every else " or ").join(matcher.expected() for matcher in self.parts)


class MultiMatcher:
    """``hasExactly`` or ``includes``: a test of all the values a query parameter or header has."""

    __slots__ = ("exactly", "matchers")

    def __init__(self, matchers: list[Matcher], exactly: bool) -> None:
        self.matchers, self.exactly = matchers, exactly

    def matches_all(self, values: Sequence[str]) -> bool:
        if self.exactly and len(values) != len(self.matchers):
            return False
        return all(any(m.matches(v) for v in values) for m in self.matchers)

    def expected(self) -> str:
        words = "has exactly" if self.exactly else "includes"
        return f"[{words}] " + ", ".join(m.expected() for m in self.matchers)


_NOT_JSON = object()


_KNOWN_PLACEHOLDERS = frozenset(
    "${json-unit." + name + "}"
    for name in ("any-string", "any-number", "any-boolean", "ignore", "ignore-element")
)


def _placeholders(expected: Any, where: str) -> Any:
    """*expected* with each ``${json-unit.regex}PATTERN`` as a checked Pattern; a JsonUnit
    placeholder tulip does not read is refused (it would be compared as plain text, never matching)."""
    if isinstance(expected, str):
        if expected.startswith(REGEX_PLACEHOLDER):
            regex, limit = safe_regex(expected[len(REGEX_PLACEHOLDER) :], where)
            return Pattern(regex, limit, quadratic=limit == _QUADRATIC_LIMIT)
        if expected.startswith("${json-unit.") and expected not in _KNOWN_PLACEHOLDERS:
            raise MappingError(
                where,
                f"{expected[:60]!r}: a JsonUnit placeholder tulip does not read (it reads any-string, "
                "any-number, any-boolean, ignore, ignore-element and regex)",
            )
        return expected
    if isinstance(expected, dict):
        return {key: _placeholders(value, where) for key, value in expected.items()}
    if isinstance(expected, list):
        return [_placeholders(value, where) for value in expected]
    return expected


@functools.lru_cache(maxsize=8)  # (one body weighed against every stub in turn: parsed once)
def _parse_json(value: str | None) -> Any:
    if value is None:
        return _NOT_JSON
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return _NOT_JSON


def _as_text(item: Any) -> str:
    """Return a JSONPath result as WireMock coerces it for a value matcher: strings as they are."""
    return item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))


_OPERATORS = ("equalTo", "binaryEqualTo", "contains", "doesNotContain", "matches", "doesNotMatch", "absent",
              "anything", "and", "or", "equalToJson", "matchesJsonPath")  # fmt: skip
_REFUSED = {
    "equalToXml": "XML matching is not supported",
    "matchesXPath": "XPath is not supported",
    "matchesJsonSchema": "JSON schema matching is not supported",
    "before": "date matching is not supported",
    "after": "date matching is not supported",
    "equalToDateTime": "date matching is not supported",
}
_OPTIONS = {"caseInsensitive", "ignoreArrayOrder", "ignoreExtraElements", "expression"}


def value_matcher(spec: object, where: str) -> Matcher:
    """Return the Matcher a WireMock match operation (``{"equalTo": "x"}``) describes."""
    if not isinstance(spec, dict):
        raise MappingError(where, f"expected a match operation such as {{'equalTo': ...}}, not {spec!r}")
    operators = [key for key in spec if key in _OPERATORS]
    for key in spec:
        if key in _REFUSED:
            raise MappingError(f"{where}.{key}", _REFUSED[key])
        if key not in _OPERATORS and key not in _OPTIONS:
            raise MappingError(f"{where}.{key}", "is not a match operation tulip knows")
    if len(operators) != 1:
        raise MappingError(where, f"expected one match operation, not {len(operators)}")
    (name,) = operators
    value = spec[name]
    here = f"{where}.{name}"
    fold = _flag(spec, "caseInsensitive", where)
    if name == "equalTo":
        return _EqualTo(_text(value, here), fold)
    if name == "binaryEqualTo":
        try:
            return _Binary(base64.b64decode(_text(value, here), validate=True))
        except (binascii.Error, ValueError):
            raise MappingError(here, "is not base64") from None
    if name in ("contains", "doesNotContain"):
        return _Contains(_text(value, here), negate=name == "doesNotContain")
    if name in ("matches", "doesNotMatch"):
        regex, limit = safe_regex(_text(value, here), here)
        return _Regex(regex, limit, negate=name == "doesNotMatch")
    if name == "absent":
        if value is not True:
            raise MappingError(here, "must be true")
        return _Absent()
    if name == "anything":
        return ANYTHING
    if name in ("and", "or"):
        if not isinstance(value, list) or not value:
            raise MappingError(here, "must be a list of match operations")
        return _All(
            [value_matcher(item, f"{here}[{i}]") for i, item in enumerate(value)], every=name == "and"
        )
    if name == "equalToJson":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise MappingError(here, "is not JSON") from None
        if json_depth(value) > MAX_JSON_DEPTH:
            raise MappingError(here, f"is nested deeper than {MAX_JSON_DEPTH} levels")
        order = _flag(spec, "ignoreArrayOrder", where)
        return _JsonEqual(value, order, _flag(spec, "ignoreExtraElements", where), here)
    # matchesJsonPath: an expression, or {"expression": ..., <one match operation>}
    if isinstance(value, str):
        return _JsonPath(_json_path(value, here), None)
    if isinstance(value, dict) and isinstance(value.get("expression"), str):
        rest = {k: v for k, v in value.items() if k != "expression"}
        sub = value_matcher(rest, here) if rest else None
        return _JsonPath(_json_path(value["expression"], f"{here}.expression"), sub)
    raise MappingError(here, "must be a JSONPath, or {'expression': ..., 'equalTo': ...}")


def multi_matcher(spec: object, where: str) -> Matcher | MultiMatcher:
    """Return the test for a query parameter's or header's values: one Matcher (any value may
    match it), or ``hasExactly``/``includes`` over all of them."""
    if isinstance(spec, dict) and ("hasExactly" in spec or "includes" in spec):
        name = "hasExactly" if "hasExactly" in spec else "includes"
        items = spec[name]
        if len(spec) != 1 or not isinstance(items, list) or not items:
            raise MappingError(f"{where}.{name}", "must be the only key, a list of match operations")
        matchers = [value_matcher(item, f"{where}.{name}[{i}]") for i, item in enumerate(items)]
        return MultiMatcher(matchers, exactly=name == "hasExactly")
    return value_matcher(spec, where)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MappingError(where, f"must be a string, not {type(value).__name__}")
    return value


def _flag(spec: dict[str, Any], name: str, where: str) -> bool:
    value = spec.get(name, False)
    if not isinstance(value, bool):
        raise MappingError(f"{where}.{name}", "must be true or false")
    return value


def _json_path(text: str, where: str) -> JsonPath:
    try:
        return JsonPath(text)
    except ValueError as exc:
        raise MappingError(where, str(exc)) from None


# -- regular expressions without the bombs --------------------------------------------------------


def safe_regex(pattern: str, where: str) -> tuple[re.Pattern[str], int]:
    """Compile *pattern*, refusing the shapes that backtrack badly; return it and the longest value it
    may be tried on."""
    if len(pattern) > MAX_PATTERN:
        raise MappingError(where, f"a pattern of {len(pattern)} characters (at most {MAX_PATTERN})")
    try:
        compiled = re.compile(pattern, re.DOTALL)
        tree = _parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise MappingError(where, f"not a regular expression: {exc}") from None
    unbounded = _check(tree, where, inside_repeat=False)
    if unbounded > 2:
        raise MappingError(where, "more than two unbounded repeats (its worst case grows too fast)")
    return compiled, _LINEAR_LIMIT if unbounded <= 1 else _QUADRATIC_LIMIT


def _parse(pattern: str) -> Any:
    # The parser behind re.compile: private, but the one exact reading of Python's own syntax.
    from re import _parser  # type: ignore[attr-defined]  # a private module of re, read-only use

    return _parser.parse(pattern, re.DOTALL)


_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_UNBOUNDED = 256  # a repeat of more than this counts as unbounded


def _check(tree: Any, where: str, *, inside_repeat: bool) -> int:
    """Walk a parsed pattern; raise MappingError for a dangerous shape; return the unbounded repeats."""
    count = 0
    for op, argument in tree:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            raise MappingError(where, "backreferences are refused (they can take exponential time)")
        if name in _REPEATS:
            _, high, sub = argument
            if high > 1 and inside_repeat:
                raise MappingError(
                    where, "a repeat inside a repeat is refused (it can take exponential time)"
                )
            if high > _UNBOUNDED:
                count += 1
            count += _check(sub, where, inside_repeat=inside_repeat or high > 1)
        elif name == "SUBPATTERN":
            count += _check(argument[-1], where, inside_repeat=inside_repeat)
        elif name == "BRANCH":
            branches = argument[1]
            if inside_repeat and _overlapping(branches):
                raise MappingError(where, "a repeated alternation whose branches can start alike is refused")
            count += max(
                (_check(branch, where, inside_repeat=inside_repeat) for branch in branches), default=0
            )
        elif name in ("ASSERT", "ASSERT_NOT"):
            count += _check(argument[1], where, inside_repeat=inside_repeat)
        elif name == "ATOMIC_GROUP":
            count += _check(argument, where, inside_repeat=inside_repeat)
    return count


def _overlapping(branches: list[Any]) -> bool:
    """Whether two branches can begin with the same character (or either with any)."""
    seen: set[int] = set()
    for branch in branches:
        first = _first_chars(branch)
        if first is None or first & seen:
            return True
        seen |= first
    return False


def _first_chars(tree: Any) -> set[int] | None:
    """The characters a match of *tree* can begin with, or None for "any" (or empty: unknown)."""
    for op, argument in tree:
        name = str(op)
        if name == "LITERAL":
            return {argument}
        if name == "IN":
            chars: set[int] = set()
            for kind, value in argument:
                if str(kind) == "LITERAL":
                    chars.add(value)
                elif str(kind) == "RANGE" and value[1] - value[0] < 512:
                    chars.update(range(value[0], value[1] + 1))
                else:
                    return None  # a category or a negation: too wide to tell
            return chars
        if name == "SUBPATTERN":
            return _first_chars(argument[-1])
        if name in ("AT",):
            continue
        return None
    return None
