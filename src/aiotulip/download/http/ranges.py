"""Byte ranges and validators: the one home of every protocol fact a resume depends on (no I/O).

- ``range_value`` builds a Range header's value (``bytes=40-``, ``bytes=40-99``), for a resume, a
  probe that a split may follow and each span of a split download;
- ``resume_headers`` adds If-Range, so a server whose file changed sends the whole new file;
- ``parse_content_range`` reads a 206's (or a 416's) Content-Range;
- ``validator_of`` is the validator rule (a strong ETag, else Last-Modified: If-Range takes no weak
  tag), and ``validator_changed`` compares a kept validator with an answer's, like against like, so
  a server that ignores If-Range cannot splice two versions of a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "echo",
    "parse_content_range",
    "parse_unsatisfied",
    "range_value",
    "resume_headers",
    "validator_changed",
    "validator_of",
]

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)


def range_value(first: int, last: int | None = None) -> str:
    """Return the Range value for bytes *first* to *last* (inclusive; None: to the end)."""
    return f"bytes={first}-" if last is None else f"bytes={first}-{last}"


def resume_headers(first: int, validator: str | None, last: int | None = None) -> dict[str, str]:
    """Return the headers that ask for bytes *first*..*last* of the version *validator* names."""
    headers = {"Range": range_value(first, last)}
    if validator:
        # If the file changed since our bytes began, the server sends it whole instead of a range.
        headers["If-Range"] = echo(validator)
    return headers


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """Return (first, last, total or None) from a 206's Content-Range, None if it is not usable."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if not match or match.group(1) is None:
        return None
    first, last, total = int(match.group(1)), int(match.group(2)), match.group(3)
    if last < first:
        return None
    return first, last, None if total == "*" else int(total)


def parse_unsatisfied(value: str | None) -> int | None:
    """Return the total a 416's Content-Range (``bytes */1234``) gives, None if it gives none."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if not match or match.group(3) == "*":
        return None
    return int(match.group(3))


def validator_of(headers: Mapping[str, str]) -> str | None:
    """Return the validator a resume can name in If-Range: a strong ETag, else Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def validator_changed(kept: str | None, headers: Mapping[str, str]) -> bool:
    """Whether a range answer's validator shows another version than the one bytes were begun at
    (*kept*). If-Range asks the server to send the whole file when it changed; a server that ignores
    it sends the range of the new version, and only this comparison keeps the two from being spliced.

    Like against like, byte for byte (as If-Range compares): an ETag with the ETag, a date with the
    Last-Modified. An answer that carries nothing to compare cannot tell (False).
    """
    if not kept:
        return False
    now = headers.get("ETag" if kept.startswith(('"', "W/")) else "Last-Modified")
    return now is not None and now != kept


def echo(value: str) -> str:
    """Return a response header's *value* (Latin-1 text: a character a byte, in every transport) as
    request text that goes back on the wire as the very bytes it came as (validators are compared
    byte for byte): UTF-8, the bytes that are not UTF-8 as surrogate escapes."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value
