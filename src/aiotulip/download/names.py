"""File names from URLs and manifests, made safe: whatever the input says, the file lands inside dest.

A name is a relative POSIX path of one or more components. Each component loses path separators,
control characters and a leading run of dots that would make it ``.`` or ``..``; it is cut to a
length every common file system accepts, keeping its extension.

A download's temporary files are hidden names no final name can take: ``.NAME.tulip-part`` (the
resumable part, shared by runs under a lock) and ``.NAME.tulip-PID-N`` (a small file written whole
by one process). A final name shaped like one of them gets a ``_`` appended.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

__all__ = [
    "LEGACY_PART_SUFFIX",
    "Names",
    "Naming",
    "name_from_url",
    "numbered",
    "part_name",
    "safe_name",
    "temp_name",
]

LEGACY_PART_SUFFIX = ".part"  # the part files of tulip before 0.2: NAME.part
_PART = ".tulip-part"
_MAX_BYTES = 255 - 32  # room for "." + name + ".tulip-PID-N" on every common file system
_FALLBACK = "index.html"
_OURS = re.compile(r"\..*\.tulip-(?:part|\d+-\d+)")


def part_name(name: str) -> str:
    """Return the resumable part's path for the final *name* (``a/.b.bin.tulip-part``)."""
    folder, slash, base = name.rpartition("/")
    return f"{folder}{slash}.{base}{_PART}"


def final_name(path: str) -> str:
    """The final name a part's or a temporary's *path* stands for (``a/.b.bin.tulip-part`` ->
    ``a/b.bin``); any other path as it is."""
    folder, slash, base = path.rpartition("/")
    if _OURS.fullmatch(base):
        return f"{folder}{slash}{base[1:].rpartition('.tulip-')[0]}"
    return path


def temp_name(name: str, tag: str) -> str:
    """Return a one-writer temporary path for the final *name* (``a/.b.bin.tulip-TAG``)."""
    folder, slash, base = name.rpartition("/")
    return f"{folder}{slash}.{base}.tulip-{tag}"


_PLAIN = re.compile(r"[A-Za-z0-9_+=,@-][A-Za-z0-9._+=,@-]{0,200}")


def _component(text: str) -> str:
    if _PLAIN.fullmatch(text):  # the usual case, decided without looking at each character
        return text
    cleaned = "".join(
        "_" if char in "/\\" or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char
        for char in text
    ).strip()
    if cleaned.strip(".") == "":  # "", ".", "..", "...": nothing left that names a file
        return "_" if cleaned else ""
    if _OURS.fullmatch(cleaned):  # a final name must never be one of our temporary names
        cleaned += "_"
    # One spelling of a name: "café" composed (NFC) and decomposed (NFD, as macOS writes it) look
    # the same and would be two files.
    return _shorten(unicodedata.normalize("NFC", cleaned))


def _shorten(name: str) -> str:
    if len(name.encode("utf-8", "replace")) <= _MAX_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = _MAX_BYTES - len(suffix.encode("utf-8", "replace"))
    out = stem.encode("utf-8", "replace")[:budget].decode("utf-8", "ignore")
    return out + suffix


def safe_name(name: str, *, allow_dirs: bool = True) -> str:
    """Return *name* as a safe relative path (``a/b.txt``); raise ValueError if nothing is left.

    With *allow_dirs* false, separators become ``_`` and the result is a single component.
    """
    if "\x00" in name:
        name = name.replace("\x00", "_")
    if allow_dirs:
        parts = [_component(part) for part in name.replace("\\", "/").split("/")]
        parts = [part for part in parts if part]
    else:
        single = _component(name)
        parts = [single] if single else []
    if not parts:
        raise ValueError(f"no usable file name in {name!r}")
    return "/".join(parts)


_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # a byte that was not UTF-8, as surrogateescape keeps it


def _unquote(text: str) -> str:
    """Percent-decode *text*; bytes that are not UTF-8 stay as they came, percent-escaped (a Latin-1
    ``%E9t%E9.txt`` is ``%E9t%E9.txt``). Replaced by U+FFFD, as they were, ``%E9t%E9`` and
    ``%E8t%E8`` became one name, and a list holding both was refused whole."""
    decoded = unquote_to_bytes(text).decode("utf-8", "surrogateescape")
    if decoded.isascii():
        return decoded
    return _NOT_UTF8.sub(lambda found: f"%{ord(found.group()) - 0xDC00:02X}", decoded)


def _segments(path: str) -> list[str]:
    """The URL path's segments, percent-decoded, its dot segments resolved as RFC 3986 5.2.4 does
    (``/a/./b/../c`` is ``/a/c``; ``..`` above the root stays at the root); a trailing ``""`` where
    the path names a folder."""
    out: list[str] = []
    raw = path.split("/")[1:] if path.startswith("/") else path.split("/")
    for number, segment in enumerate(raw):
        decoded = _unquote(segment)
        last = number == len(raw) - 1
        if decoded == ".":
            if last:
                out.append("")
        elif decoded == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(decoded)
    return out


def name_from_url(url: str) -> str:
    """Return the safe file name a URL's path suggests (its last segment, percent-decoded)."""
    path = urlsplit(url).path
    if "." in path:
        segments = _segments(path)
        last = segments[-1] if segments else ""
    else:
        last = _unquote(path.rsplit("/", 1)[-1])
    try:
        return safe_name(last, allow_dirs=False)
    except ValueError:
        return _FALLBACK


@dataclass(frozen=True, slots=True)
class Naming:
    """How URLs become names: the last segment (``flat``) or host and path as folders (``tree``, as
    ``wget -x``), ``cut_dirs`` leading folders dropped, the host folder left out (``-nH``), the query
    kept in the name (``query``)."""

    layout: str = "flat"
    cut_dirs: int = 0
    host_dirs: bool = True
    query: bool = False

    def name(self, url: str) -> str:
        if self.layout == "flat" and not self.query:
            return name_from_url(url)
        parts = urlsplit(url)
        segments = _segments(parts.path)
        last = segments.pop() if segments else ""
        last = last or _FALLBACK
        if self.query and parts.query:
            last = f"{last}?{_unquote(parts.query)}"
        if self.layout == "flat":
            folders: list[str] = []
        else:
            folders = segments[self.cut_dirs :]
            if self.host_dirs:
                host = (parts.hostname or "_").lower()
                if ":" in host:  # an IPv6 address: bracketed, as in the URL ("[::1]:8080", not "::1:8080")
                    host = f"[{host}]"
                default = 443 if parts.scheme == "https" else 80
                port = parts.port
                folders.insert(0, host if port in (None, default) else f"{host}:{port}")
        try:
            return safe_name("/".join([*(f.replace("/", "_") for f in folders), last.replace("/", "_")]))
        except ValueError:
            return _FALLBACK


def numbered(name: str, number: int) -> str:
    """Return *name* with *number* before its extension: ``a/b.tar.gz`` -> ``a/b.1.tar.gz``."""
    folder, slash, base = name.rpartition("/")
    stem, dot, ext = base.partition(".") if not base.startswith(".") else (base, "", "")
    if dot and len(ext) <= 16:
        return f"{folder}{slash}{stem}.{number}.{ext}"
    return f"{folder}{slash}{base}.{number}"


class Names:
    """The names a run writes, so that one a server suggests late (Content-Disposition) is checked
    against them as the input's were (and against the folders they need): refused (``error``) or
    numbered (``number``). An item asking again (a retry) gets the name it already has. Thread-safe."""

    def __init__(
        self,
        claimed: Iterable[str],
        on_collision: str = "error",
        wrote: Callable[[str, str], bool | None] | None = None,
    ) -> None:
        import threading

        self._owners: dict[str, str] = {}  # case-folded name -> the URL name of the item writing it
        self._holds: dict[str, str] = {}  # an item's URL name -> the other name it holds now
        self._folders: set[str] = set()
        for name in claimed:
            self._claim(name, name)
        self._on_collision = on_collision
        # Whether the file at a name is the download of a URL (None: no file there): a rerun finds
        # the file each URL wrote, whatever order the answers come in.
        self._wrote = wrote
        self._lock = threading.Lock()

    def _claim(self, name: str, owner: str) -> None:
        folded = name.casefold()
        held = self._holds.get(owner)
        if held is not None and held != folded and self._owners.get(held) == owner:
            del self._owners[held]  # (a name given up for another is free again)
        if folded != owner.casefold():
            self._holds[owner] = folded
        self._owners[folded] = owner
        parts = folded.split("/")[:-1]
        self._folders.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))

    def _free(self, name: str, owner: str) -> bool:
        folded = name.casefold()
        return self._owners.get(folded, owner) == owner and folded not in self._folders

    def take(self, wanted: str, current: str, first: int = 0, url: str | None = None) -> tuple[str, int]:
        """Return the name to write instead of *current* (the URL's), and its number (0: *wanted*
        itself); ValueError if another item of this run wants *wanted* and the rule is not to number.
        *first* > 0: the names before that number turned out to be files already there, not from
        this URL, and the next free one is taken, whatever the rule.
        *url*: the item's, so that the file it wrote in an earlier run is found and written again."""
        if first == 0 and wanted.casefold() == current.casefold():
            return current, 0
        with self._lock:
            if url is not None and first == 0 and self._wrote is not None:
                found = self._own(wanted, current, url)
                if found is not None:
                    return found
            number = first
            name = numbered(wanted, number) if number else wanted
            while not self._free(name, current):
                if not number:
                    self._refuse(wanted, "another item writes")
                number += 1
                name = numbered(wanted, number)
            self._claim(name, current)
            return name, number

    def _own(self, wanted: str, current: str, url: str) -> tuple[str, int] | None:
        """The name (and number) of the file *url* wrote before, among *wanted* and its numbered
        names up to the first that is no file; None if there is none."""
        assert self._wrote is not None
        for number in range(1000):
            name = numbered(wanted, number) if number else wanted
            wrote = self._wrote(name, url)
            if wrote is None:
                return None
            if wrote and self._free(name, current):
                self._claim(name, current)
                return name, number
        return None

    def _refuse(self, wanted: str, why: str) -> None:
        if self._on_collision != "number":
            raise ValueError(f"the server names it {wanted!r}, which {why}; --on-collision number keeps both")
