"""``-M FILE``: the files a Metalink lists, as Entries — Metalink 4 (RFC 5854, ``.meta4``, namespace
``urn:ietf:params:xml:ns:metalink``) and Metalink 3 (``.metalink``, ``http://www.metalinker.org/``).

Each ``file`` becomes an Entry: its name (made safe: it lands inside dest, whatever it says), its
size, its hashes (``sha-256`` as the Entry's sha256; md5, sha-1 and sha-512 as its other checksums;
piece hashes and other kinds are left aside), and its URLs — the first and the mirrors, in the order
the file prefers them (Metalink 4's ``priority``, lowest first; Metalink 3's ``preference``, highest
first; those without one last). URLs tulip does not fetch (BitTorrent, magnet) are left aside.

A Metalink is XML, and XML can be made to eat memory and time: a document larger than 32 MiB, of
more than a million elements, nested deeper than 16, naming more than 1,000 URLs for one file, or
holding a DTD (``<!DOCTYPE``, where entities are declared: the "billion laughs") is refused before it
costs much. Elements are read as a stream and let go once read, so memory stays at the document's
bytes. A bad file is one line and exit 2.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from aiotulip.download.names import safe_name
from aiotulip.download.sources import CHECKSUMS, Entry, check_url
from aiotulip.errors import UsageError

__all__ = ["MAX_BYTES", "MAX_ELEMENTS", "parse_metalink", "read_metalink"]

MAX_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 16
MAX_ELEMENTS = 1_000_000  # (about two seconds of reading; 100,000 files of six elements each fit)
MAX_URLS = 1000  # URLs of one file
_CHUNK = 64 * 1024

_NS4 = "urn:ietf:params:xml:ns:metalink"
_NS3 = "http://www.metalinker.org/"
_FETCHED = ("http", "https", "ftp", "ftps", "sftp")
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-fA-F]+")


def read_metalink(path: str) -> list[Entry]:
    """Return the Entries of the Metalink at *path* (``-``: stdin); UsageError for a bad one."""
    source = "stdin" if path == "-" else path
    try:
        if path == "-":
            if sys.stdin is None:
                raise UsageError("cannot read the Metalink on stdin: it is closed")
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read Metalink {source}: {exc.strerror or exc}") from None
    return parse_metalink(data, source)


def parse_metalink(data: bytes, source: str = "metalink") -> list[Entry]:
    """Return the Entries a Metalink document lists; UsageError naming *source* if it is not one."""
    if len(data) > MAX_BYTES:
        raise UsageError(f"Metalink {source} is larger than {MAX_BYTES >> 20} MiB")
    if _DTD.search(data):
        raise UsageError(f"Metalink {source} declares a DTD or entities; refused (a Metalink needs none)")
    if b"\x00" in data:  # UTF-16 or UTF-32 (where the check above would not see "<!DOCTYPE"), or binary
        raise UsageError(f"Metalink {source} is not UTF-8 XML")
    return list(_entries(data, source))


class _File:
    """What one file element says, gathered as its children close."""

    def __init__(self, name: str | None, where: str) -> None:
        self.name = name
        self.where = where
        self.size: str | None = None
        self.hashes: list[tuple[str, str]] = []  # (type, digest)
        self.urls: list[tuple[int, str]] = []  # (rank, URL)


def _entries(data: bytes, source: str) -> Iterator[Entry]:
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    stack: list[ET.Element] = []
    ns = ""
    version = 0
    current: _File | None = None
    count = elements = 0
    try:
        for offset in range(0, len(data) or 1, _CHUNK):
            parser.feed(data[offset : offset + _CHUNK])
            for item in parser.read_events():
                event, element = item[0], item[-1]
                if not isinstance(element, ET.Element):
                    continue  # (start and end events carry elements; no other is asked for)
                if event == "start":
                    elements += 1
                    if elements > MAX_ELEMENTS:
                        raise UsageError(f"Metalink {source} has more than {MAX_ELEMENTS:,} elements")
                    if not stack:
                        version = _version(element.tag, source)
                        ns = f"{{{_NS4 if version == 4 else _NS3}}}"
                    elif element.tag == f"{ns}file" and current is None and _files_here(stack, ns, version):
                        count += 1
                        current = _File(element.get("name"), f"file {count} of Metalink {source}")
                    stack.append(element)
                    if len(stack) > MAX_DEPTH:
                        raise UsageError(f"Metalink {source} nests elements deeper than {MAX_DEPTH}")
                    continue
                stack.pop()
                if current is not None:
                    if element.tag == f"{ns}file" and _files_here(stack, ns, version):
                        yield _entry(current)
                        current = None
                    else:
                        _gather(current, element, [e.tag for e in stack], ns, version)
                if stack:
                    stack[-1].remove(element)  # read: let it go (its parent has no other child now)
        parser.close()
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise UsageError(f"Metalink {source} is not well-formed XML (line {line}, column {column})") from None
    if not count:
        raise UsageError(f"Metalink {source} lists no file")


def _version(tag: str, source: str) -> int:
    """Return the Metalink version the root element names; UsageError for any other root."""
    if tag == f"{{{_NS4}}}metalink":
        return 4
    if tag == f"{{{_NS3}}}metalink":
        return 3
    shown = tag.rpartition("}")[2][:40]
    raise UsageError(
        f"{source} is not a Metalink: its root is <{shown}>, not <metalink> in the namespace "
        f"{_NS4} (version 4) or {_NS3} (version 3)"
    )


def _files_here(stack: list[ET.Element], ns: str, version: int) -> bool:
    """Whether a file element directly under *stack* is one of the document's files (version 4:
    under the root; version 3: under the root's <files>)."""
    if version == 4:
        return len(stack) == 1
    return len(stack) == 2 and stack[1].tag == f"{ns}files"


def _gather(file: _File, element: ET.Element, above: list[str], ns: str, version: int) -> None:
    """Take what a closing *element* (under the tags *above*, from the root) says of *file*."""
    depth = 2 if version == 4 else 3  # where the file element is
    path = [tag.removeprefix(ns) for tag in above[depth:]] + [element.tag.removeprefix(ns)]
    if path == ["size"]:
        file.size = (element.text or "").strip()
    elif path == (["hash"] if version == 4 else ["verification", "hash"]):  # (not pieces' hashes)
        file.hashes.append(((element.get("type") or "").strip().lower(), (element.text or "").strip()))
    elif path == ["url"] and version == 4:
        file.urls.append((_rank(element.get("priority"), 1_000_000, +1), (element.text or "").strip()))
    elif path == ["resources", "url"] and element.get("type", "http").lower() in _FETCHED:
        file.urls.append((_rank(element.get("preference"), -1, -1), (element.text or "").strip()))
    else:
        return
    if len(file.urls) > MAX_URLS or len(file.hashes) > MAX_URLS:
        raise UsageError(f"{file.where}: more than {MAX_URLS} URLs or hashes")


def _entry(file: _File) -> Entry:
    where = file.where
    if not file.name:
        raise UsageError(f"{where}: a file without a name")
    try:
        out = safe_name(file.name)
    except ValueError:
        raise UsageError(f"{where}: no usable file name in {file.name[:80]!r}") from None
    where = f"{where} ({out})"
    size = None
    if file.size is not None:
        if not file.size.isdigit() or len(file.size) > 20:
            raise UsageError(f"{where}: bad size {file.size[:40]!r}")
        size = int(file.size)
    sha256 = None
    checksums: list[tuple[str, str]] = []
    for kind, text in file.hashes:
        known = CHECKSUMS.get(kind)
        if known is None:
            continue  # a kind tulip does not check (sha-384, ...): the others still hold
        algorithm, length = known
        digest = text.lower()
        if len(digest) != length or not _HEX.fullmatch(digest):
            raise UsageError(f"{where}: bad {kind} hash {digest[:140]!r} (not {length} hex digits)")
        if algorithm == "sha256":
            sha256 = digest
        elif all(algorithm != taken for taken, _ in checksums):
            checksums.append((algorithm, digest))
    addresses = []
    for _, text in sorted(file.urls, key=lambda pair: pair[0]):  # (stable: ties keep their order)
        if text.partition(":")[0].lower() not in _FETCHED or "://" not in text:
            continue  # magnet:, ed2k: not tulip's
        addresses.append(check_url(text, where))
    if not addresses:
        raise UsageError(f"{where}: no http, https, ftp or sftp URL")
    first, *mirrors = dict.fromkeys(addresses)  # (the same URL twice is one)
    return Entry(first, out=out, sha256=sha256, size=size, where=where, mirrors=tuple(mirrors),
                 checksums=tuple(checksums))  # fmt: skip


def _rank(value: str | None, missing: int, sign: int) -> int:
    """Return a sort key: *value* as a number times *sign* (the preferred first), or *missing*."""
    try:
        return int(value) * sign if value is not None else missing * sign
    except ValueError:
        return missing * sign
