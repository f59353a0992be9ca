"""Response headers as every transport hands them to the Item, and tulip's framing rules. No I/O.

- ``Headers``: lower-case names, looked up case-insensitively; a repeated field is joined with ", "
  as RFC 9110 allows, except Set-Cookie (joined with a newline: its Expires dates hold commas) and
  the fields that hold one value (the first wins, as curl keeps it);
- ``framing_error``: tulip is strict where RFC 9112 allows it. A Content-Length that is not one plain
  number (``-1``, ``abc``, ``5000, 100``, or given twice), or one beside Transfer-Encoding, says the
  server cannot be trusted to frame its body; two Location fields leave a redirect's target to a
  guess (libcurl refuses them too): a protocol error, never a guess. Whatever moves the bytes
  (httptools, libcurl) applies this one rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "FIELD_NAME",
    "MAX_HEADER_BYTES",
    "RESERVED",
    "Headers",
    "add_header",
    "framing_error",
    "from_lines",
    "value_problem",
]

# The headers a user asks to send (-H, a list's header=, --user-agent) meet these rules. A field
# name is RFC 9110's token; tulip writes some headers itself (the framing of a request and the
# range of a resume depend on them); a value holds no control byte but tab (RFC 9110 5.5).
FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
RESERVED = frozenset({"host", "range", "if-range", "content-length", "transfer-encoding", "connection",
                      "te", "upgrade", "expect"})  # fmt: skip
_BREAKS = re.compile(r"[\r\n\x00]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def value_problem(value: str) -> str | None:
    """Why *value* cannot be sent in a request's field, None if it can — where, not what: the
    value is a token as often as not, and an error line would show it."""
    if _BREAKS.search(value):
        return "cannot hold a line break or NUL"
    if control := _CONTROLS.search(value):
        byte, at = ord(control.group()), control.start() + 1
        return f"cannot hold a control character (byte 0x{byte:02x} at character {at})"
    return None


MAX_HEADER_BYTES = 64 * 1024
_JOINER = {"set-cookie": "\n"}
_FIRST_WINS = frozenset({"location", "content-type", "content-disposition", "etag", "last-modified"})
_COUNTED = frozenset({"content-length", "location"})  # fields that may not repeat


class Headers(dict[str, str]):
    """Response headers under lower-case names, looked up case-insensitively."""

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key.lower() if isinstance(key, str) else key)


def add_header(headers: dict[str, str], name: str, value: str, seen: dict[str, int] | None = None) -> None:
    """Add one field as it came (*name* in any case, *value* as Latin-1 text); *seen* counts the
    Content-Length fields, which may not repeat."""
    key = name.lower()
    if seen is not None and key in _COUNTED:
        seen[key] = seen.get(key, 0) + 1
    if dict.__contains__(headers, key):
        if key in _FIRST_WINS:  # fields that hold one value: a second one is ignored, as curl does
            return
        value = f"{dict.__getitem__(headers, key)}{_JOINER.get(key, ', ')}{value}"
    dict.__setitem__(headers, key, value)


def framing_error(headers: Mapping[str, str], seen: dict[str, int] | None = None) -> str | None:
    """Return why a response's framing cannot be trusted, None if it can (*headers*: under
    lower-case names, as a Headers or a plain dict of them)."""
    if seen is not None and seen.get("location", 0) > 1:
        return "bad response: Multiple Location headers"
    length = headers.get("content-length")
    if length is None:
        return None
    if seen is not None and seen.get("content-length", 1) > 1:
        return "bad response: Content-Length given more than once"
    if not length.strip().isdigit() or not length.strip().isascii():
        return f"bad response: Content-Length is not a number: {length[:40]!r}"
    if "transfer-encoding" in headers:
        return "bad response: Content-Length beside Transfer-Encoding"
    return None


def from_lines(lines: Iterable[bytes]) -> tuple[Headers, str | None]:
    """Return the headers of raw field lines (one field a line, its line end kept, as libcurl hands
    them), and why their framing cannot be trusted (None if it can).

    On ten thousand small files each call made here shows: the lines are decoded in one piece, the
    fields gathered in a plain dict (``in`` and item assignment, not Headers' lower-casing methods),
    and a field seen for the first time is stored directly; only a repeat, or a field that may not
    repeat, takes ``add_header``'s way.
    """
    fields: dict[str, str] = {}
    seen: dict[str, int] = {}
    for line in b"".join(lines).decode("latin-1").split("\n"):
        name, colon, value = line.partition(":")
        if not colon:
            if not line.rstrip("\r"):  # the blank line that ends the head (CR CR LF too, as libcurl)
                continue
            return Headers(fields), "bad response: a header line without a colon"
        key = name.strip().lower()
        if key in fields:
            add_header(fields, key, value.strip(), seen)
        else:
            if key in _COUNTED:
                seen[key] = 1
            fields[key] = value.strip()
    return Headers(fields), framing_error(fields, seen)
