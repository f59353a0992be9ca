"""JSON in a request body, as WireMock's ``equalToJson`` and ``matchesJsonPath`` read it. No I/O.

``json_equal``: the same document, whatever the key order; ``ignore_order`` compares arrays as
multisets, ``ignore_extra`` lets the actual document hold more keys and more trailing array items
(JsonUnit's IGNORING_EXTRA_FIELDS and IGNORING_EXTRA_ARRAY_ITEMS, as WireMock sets them); numbers
compare by value (1 equals 1.0); JsonUnit's placeholders ``${json-unit.any-string}``,
``${json-unit.any-number}``, ``${json-unit.any-boolean}`` and ``${json-unit.ignore}`` match any such
value, and ``${json-unit.regex}PATTERN`` a string the pattern matches whole (read into a ``Pattern``
where the mapping is read, its shape checked as every pattern is). Recursion follows the expected
document, which a mapping keeps under 64 levels.

``JsonPath``: the simple paths: ``$``, ``.name``, ``['name']``, ``[0]``, ``[-1]``, ``[*]``, ``.*``,
``..name`` (any depth) and filters ``[?(@.a.b)]`` and ``[?(@.a OP literal)]`` with ``== != < <= > >=``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiotulip.serve.stubs.likeness import string_distance

__all__ = [
    "REGEX_PLACEHOLDER",
    "JsonPath",
    "Pattern",
    "canonical",
    "json_depth",
    "json_distance",
    "json_equal",
]

REGEX_PLACEHOLDER = "${json-unit.regex}"


class Pattern:
    """``${json-unit.regex}PATTERN`` in an expected document: a string the pattern matches whole,
    of at most *limit* characters (the pattern's worst case: see ``values``); *quadratic* says the
    worst case grows with the square of the string's length."""

    __slots__ = ("limit", "quadratic", "regex")

    def __init__(self, regex: re.Pattern[str], limit: int, quadratic: bool) -> None:
        self.regex, self.limit, self.quadratic = regex, limit, quadratic


# The regex work one body may cost, in characters (a quadratic pattern's: their square), whatever
# the array holds: a limit on each string alone let a stub's placeholder, tried against sixty 16 KB
# strings under ignoreArrayOrder, hold the server for minutes (found by the attack pass).
REGEX_WORK = 4096 * 4096


class Budget:
    """What regex work is left for one comparison of a body (see REGEX_WORK)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = REGEX_WORK

    def allows(self, pattern: Pattern, text: str) -> bool:
        cost = len(text) * len(text) if pattern.quadratic else len(text)
        if len(text) > pattern.limit or cost > self.left:
            return False  # (too long to try: not a match)
        self.left -= cost
        return True


_PLACEHOLDERS = {
    "${json-unit.any-string}": lambda v: isinstance(v, str),
    "${json-unit.any-number}": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "${json-unit.any-boolean}": lambda v: isinstance(v, bool),
    "${json-unit.ignore}": lambda v: True,
    "${json-unit.ignore-element}": lambda v: True,
}


def json_equal(
    expected: Any, actual: Any, ignore_order: bool, ignore_extra: bool, budget: Budget | None = None
) -> bool:
    """Whether *actual* is the JSON *expected* describes (its regex placeholders within *budget*)."""
    if budget is None:
        budget = Budget()
    if isinstance(expected, str) and expected in _PLACEHOLDERS:
        return bool(_PLACEHOLDERS[expected](actual))
    if isinstance(expected, Pattern):
        return (
            isinstance(actual, str)
            and budget.allows(expected, actual)
            and expected.regex.fullmatch(actual) is not None
        )
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        if not ignore_extra and set(actual) - set(expected):
            return False
        return all(
            (key in actual and json_equal(value, actual[key], ignore_order, ignore_extra, budget))
            or (key not in actual and value == "${json-unit.ignore-element}")
            for key, value in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        if len(actual) != len(expected) and not (ignore_extra and len(actual) > len(expected)):
            return False
        if not ignore_order:
            return all(
                json_equal(e, a, ignore_order, ignore_extra, budget)
                for e, a in zip(expected, actual, strict=False)
            )
        return _matched_apart(expected, actual, ignore_order, ignore_extra, budget)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and expected == actual


_PAIRS_LIMIT = 100_000  # item pairs weighed to match an array apart from its order, at most


def _matched_apart(expected: list[Any], actual: list[Any], order: bool, extra: bool, budget: Budget) -> bool:
    """Whether each expected item has an actual item of its own, whatever their order (a matching in
    the bipartite graph of "matches", found by augmenting paths). Taking the first fit for each, as
    before, made ``[{"id": 1}, {"id": 1, "x": 2}]`` miss ``[{"id": 1, "x": 2}, {"id": 1}]`` under
    ignoreExtraElements: the match hung on the order it is meant to ignore."""
    if len(expected) * len(actual) > _PAIRS_LIMIT:  # (a huge array: the first fit, in linear passes)
        unused = list(actual)
        for item in expected:
            for index, candidate in enumerate(unused):
                if json_equal(item, candidate, order, extra, budget):
                    del unused[index]
                    break
            else:
                return False
        return True
    fits = [[j for j, candidate in enumerate(actual) if json_equal(item, candidate, order, extra, budget)]
            for item in expected]  # fmt: skip
    owner: dict[int, int] = {}  # actual item -> the expected item it is given to

    def place(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or place(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(place(i, set()) for i in sorted(range(len(expected)), key=lambda i: len(fits[i])))


def json_distance(expected: Any, actual: Any, ignore_order: bool, ignore_extra: bool, text: str) -> float:
    """Return 0 for equal JSON, else a likeness of the two texts (for ranking near misses); *text* is
    the expected document's ``canonical`` text (made once, where the mapping is read)."""
    if json_equal(expected, actual, ignore_order, ignore_extra):
        return 0.0
    return max(0.01, string_distance(text, canonical(actual)))


def canonical(value: Any) -> str:
    """*value* as JSON text with sorted keys and no spaces: two equal documents, one text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def json_depth(value: Any) -> int:
    """Return how deeply *value* nests (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        else:
            continue
        deepest = max(deepest, depth + 1)
    return deepest


# -- JSONPath --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\.\.(?P<deep>[A-Za-z_$][\w$-]*|\*)
      | \.(?P<name>[A-Za-z_$][\w$-]*|\*)
      | \[\s*(?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*\]
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*(?P<star>\*)\s*\]
      | \[\s*\?\(\s*@(?P<field>(?:\.[A-Za-z_$][\w$-]*)+)\s*
            (?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<literal>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^)\s]+)\s*)?\)\s*\]
    """,
    re.VERBOSE,
)
_MAX_DEEP = 10_000  # nodes a ``..`` walk visits at most: a path is a lookup, not a crawl


class JsonPath:
    """A simple JSONPath, parsed once: ``select(document)`` returns what it names."""

    def __init__(self, text: str) -> None:
        if not text.startswith("$"):
            raise ValueError(f"a JSONPath starts with $, not {text[:20]!r}")
        self.text = text
        self.steps: list[tuple[str, Any]] = []
        position = 1
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise ValueError(f"tulip reads simple JSONPaths only; cannot read {text[position:][:30]!r}")
            position = match.end()
            groups = match.groupdict()
            if groups["deep"] is not None:
                self.steps.append(("deep", groups["deep"]))
            elif groups["name"] is not None:
                self.steps.append(("all", None) if groups["name"] == "*" else ("key", groups["name"]))
            elif groups["quoted"] is not None:
                self.steps.append(("key", json.loads('"' + groups["quoted"][1:-1].replace('"', '\\"') + '"')))
            elif groups["index"] is not None:
                self.steps.append(("index", int(groups["index"])))
            elif groups["star"] is not None:
                self.steps.append(("all", None))
            else:
                field = groups["field"][1:].split(".")
                literal = _literal(groups["literal"]) if groups["op"] else None
                self.steps.append(("filter", (field, groups["op"], literal)))

    def select(self, document: Any) -> list[Any]:
        """Return every value the path names in *document* (empty when it names none)."""
        found = [document]
        for kind, argument in self.steps:
            following: list[Any] = []
            for item in found:
                if (kind == "key" and isinstance(item, dict) and argument in item) or (
                    kind == "index" and isinstance(item, list) and -len(item) <= argument < len(item)
                ):
                    following.append(item[argument])
                elif kind == "all":
                    following.extend(_children(item))
                elif kind == "deep":
                    following.extend(_descend(item, argument))
                elif kind == "filter":
                    # Jayway (WireMock's) applies a filter to an object as to a list of one.
                    candidates = item if isinstance(item, list) else [item] if isinstance(item, dict) else []
                    following.extend(c for c in candidates if _passes(c, *argument))
            found = following
        return found


def _children(item: Any) -> list[Any]:
    if isinstance(item, dict):
        return list(item.values())
    return list(item) if isinstance(item, list) else []


def _descend(root: Any, name: str) -> list[Any]:
    found: list[Any] = []
    stack, visited = [root], 0
    while stack and visited < _MAX_DEEP:
        item = stack.pop()
        visited += 1
        if isinstance(item, dict):
            if name == "*":
                found.extend(item.values())
            elif name in item:
                found.append(item[name])
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            if name == "*":
                found.extend(item)
            stack.extend(reversed(item))
    return found


def _literal(text: str) -> Any:
    if text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"cannot read the literal {text!r} in a JSONPath filter") from None


def _passes(item: Any, field: list[str], op: str | None, literal: Any) -> bool:
    value = item
    for name in field:
        if not isinstance(value, dict) or name not in value:
            return False
        value = value[name]
    if op is None:
        return value is not None
    try:
        if op == "==":
            return bool(value == literal)
        if op == "!=":
            return bool(value != literal)
        if op == "<":
            return bool(value < literal)
        if op == "<=":
            return bool(value <= literal)
        if op == ">":
            return bool(value > literal)
        return bool(value >= literal)
    except TypeError:  # a string against a number: no match, as Jayway has it
        return False
