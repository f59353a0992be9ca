"""Where the work comes from: URLs, aria2c-style input files, JSON manifests — turned into Jobs.

Everything here runs before the first download and raises UsageError with the culprit named, so a
bad line 900 of an input file stops the run before line 1 is fetched.

Input file format (as aria2c's ``-i``): one URL a line; blank lines and ``#`` comments skipped; indented
``key=value`` lines under a URL set its options: ``out=NAME``, ``sha256=HEX`` (or aria2c's
``checksum=sha-256=HEX``), ``size=BYTES``, ``dir=FOLDER`` (under the run's destination),
``header=NAME: VALUE`` (repeatable), and tulip's own ``trusted=no`` (written by ``--save-failed`` for a
URL a manifest named on another host: the run's credentials stay away from it).
"""

from __future__ import annotations

import array
import dataclasses
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from aiotulip.download.http.headers import FIELD_NAME, RESERVED, value_problem
from aiotulip.download.http.urls import origin, redact, split_userinfo, with_userinfo
from aiotulip.download.models import Job
from aiotulip.download.names import Naming, numbered, safe_name
from aiotulip.errors import UsageError

__all__ = ["Entry", "check_url", "jobs_from_manifest", "make_jobs", "parse_input"]

_SCHEMES = ("http", "https", "ftp", "ftps", "sftp")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_MAX_LINE = 64 * 1024
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Entry:
    """A source before naming: a URL and what the input said about it."""

    url: str
    out: str | None = None
    sha256: str | None = None
    size: int | None = None
    where: str = ""  # "line 12 of urls.txt", for error messages
    given: bool = True  # see Job.given
    mirrors: tuple[str, ...] = ()  # more URLs of the same file (aria2c: tab-separated on its line)
    checksums: tuple[tuple[str, str], ...] = ()  # other digests: ("md5", HEX), ("sha1", ...), ("sha512", ...)
    folder: str | None = None  # a folder under dest for this item (aria2c's dir=), joined to its name
    headers: tuple[tuple[str, str], ...] = ()  # request headers of this item only (header= lines)


# scheme://host[:port][/path]: letters, digits, dots and dashes in the host (no userinfo, no IPv6),
# and nothing in the rest that _UNSAFE refuses.
_SIMPLE_URL = re.compile(
    r"(?i)(?:https?|ftps?|sftp)://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::(\d{1,5}))?(?:[/?#][!-~]*)?\Z"
)


def check_url(url: str, where: str = "") -> str:
    """Return *url* if it is an absolute URL tulip fetches (http, https, ftp, ftps, sftp) with a
    host; raise UsageError naming it. A URL without a scheme is http://, as curl takes it."""
    if "://" not in url and not url.lower().startswith(("file:", "mailto:", "data:")):
        url = "http://" + url
    if len(url) <= 2048 and (simple := _SIMPLE_URL.match(url)) and int(simple[1] or 0) < 65536:
        return url  # the usual shape, said good without urlsplit (a million-line list: seconds less)
    at = f" ({where})" if where else ""
    shown = redact(url)[:200]  # a password in the URL never reaches the message
    if len(url) > 16 * 1024:
        raise UsageError(f"URL too long{at}: {shown[:60]}...")
    if _UNSAFE.search(url):
        raise UsageError(f"malformed URL{at}: {shown!r} holds whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        # urlsplit quotes what it could not read ("as 'pa'"): with a "?" or "/" in a password,
        # that is the password's first letters, so the reason is said without the quote.
        reason = re.sub(r"\s*(as )?'[^']*'", "", str(exc)) if "@" in url else str(exc)
        raise UsageError(f"malformed URL{at}: {shown!r} ({reason})") from None
    if parts.scheme.lower() not in _SCHEMES:
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise UsageError(
            f"unsupported URL scheme{at}: {shown!r} ({scheme}; use http, https, ftp, ftps or sftp)"
        )
    if not parts.hostname:
        raise UsageError(f"malformed URL{at}: {shown!r} has no host")
    return url


#: aria2c's names for the digests a checksum= line may give, and their length in hex digits.
CHECKSUMS = {"md5": ("md5", 32), "sha-1": ("sha1", 40), "sha1": ("sha1", 40), "sha-256": ("sha256", 64),
             "sha256": ("sha256", 64), "sha-512": ("sha512", 128), "sha512": ("sha512", 128)}  # fmt: skip


def _checksum(value: str, where: str) -> tuple[str, str]:
    """Return (hashlib's name, lowercase hex) of an aria2c ``checksum=TYPE=DIGEST`` value."""
    kind, sep, digest = value.partition("=")
    known = CHECKSUMS.get(kind.strip().lower())
    if not sep or known is None:
        raise UsageError(f"{where}: checksum must be md5=, sha-1=, sha-256= or sha-512= and the digest")
    algorithm, length = known
    digest = digest.strip().lower()
    if len(digest) != length or any(char not in "0123456789abcdef" for char in digest):
        raise UsageError(f"{where}: bad {kind.strip()} digest: {digest[:140]!r} is not {length} hex digits")
    return algorithm, digest


def _check_folder(value: str, where: str) -> str:
    """Return a dir= value as a safe folder under dest (``/`` and ``..`` cannot leave it)."""
    try:
        return safe_name(value)
    except ValueError:
        raise UsageError(f"{where}: dir= names no usable folder: {value[:80]!r}") from None


def _check_header(value: str, where: str) -> tuple[str, str]:
    """Return a header= line's (name, value); UsageError for one that cannot be sent as it is."""
    name, colon, text = value.partition(":")
    name, text = name.strip(), text.strip()
    # (nothing of the line is echoed: without its colon, a header may be all token)
    if not colon:
        raise UsageError(f"{where}: header= takes 'Name: value' (this one has no colon)")
    if not FIELD_NAME.fullmatch(name):
        raise UsageError(f"{where}: header= takes 'Name: value', and the part before the colon is not a "
                         "header name (letters, digits and !#$%&'*+-.^_`|~)")  # fmt: skip
    if why := value_problem(text):
        raise UsageError(f"{where}: header {name}: a value {why}")
    if name.lower() in RESERVED:
        raise UsageError(f"{where}: header {name}: tulip sets this header itself")
    return name, text


def _check_sha256(value: str, where: str) -> str:
    if not _SHA256.fullmatch(value):
        raise UsageError(f"bad sha256 ({where}): {value[:80]!r} is not 64 hex digits")
    return value.lower()


def _check_size(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UsageError(f"bad size ({where}): {value!r}")
    try:
        size = int(value)
    except ValueError:
        raise UsageError(f"bad size ({where}): {value!r}") from None
    if size < 0:
        raise UsageError(f"bad size ({where}): {value!r}")
    return size


def parse_input(lines: Iterable[str], source: str = "input") -> Iterator[Entry]:
    """Yield an Entry for each URL in an aria2c-style input file; raise UsageError on a bad line."""
    pending: dict[str, Any] | None = None
    for number, raw in enumerate(lines, 1):
        where = f"line {number} of {source}"
        if len(raw) > _MAX_LINE:
            raise UsageError(f"{where} is longer than {_MAX_LINE} characters")
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
            if pending is None:
                raise UsageError(f"{where}: option {redact(stripped)[:80]!r} comes before any URL")
            key, sep, value = stripped.partition("=")
            key = key.strip().lower()
            value = value.strip()
            if not sep:
                raise UsageError(f"{where}: expected key=value, got {redact(stripped)[:80]!r}")
            if key == "out":
                pending["out"] = value
            elif key == "sha256":
                pending["sha256"] = _check_sha256(value, where)
            elif key == "checksum":
                algorithm, digest = _checksum(value, where)
                if algorithm == "sha256":
                    pending["sha256"] = digest
                else:
                    pending["checksums"] = (*pending.get("checksums", ()), (algorithm, digest))
            elif key == "size":
                pending["size"] = _check_size(value, where)
            elif key == "dir":
                pending["folder"] = _check_folder(value, where)
            elif key == "header":
                pending["headers"] = (*pending.get("headers", ()), _check_header(value, where))
            elif key == "trusted":
                if value.lower() not in ("yes", "no"):
                    raise UsageError(f"{where}: trusted= takes yes or no")
                pending["given"] = value.lower() == "yes"
            elif key == "split":
                raise UsageError(f"{where}: split= is not taken per item; --split N sets it for the run")
            else:
                raise UsageError(
                    f"{where}: unknown option {key!r} (known: out, dir, sha256, checksum, size, header)"
                )
            continue
        if pending is not None:
            yield Entry(**pending)
        first, *others = (url.strip() for url in stripped.split("\t") if url.strip())
        pending = {"url": check_url(first, where), "where": where}
        if others:
            pending["mirrors"] = tuple(check_url(url, where) for url in others)
    if pending is not None:
        yield Entry(**pending)


def jobs_from_manifest(document: Any, manifest_url: str) -> list[Entry]:
    """Return an Entry for each file in a manifest: a list of {name, size, sha256[, url]} or an
    object whose ``files`` key holds one. Relative URLs resolve against the manifest's URL; a file
    without one is taken to sit beside the manifest.

    The manifest is a server's word: its entries on the manifest's own origin are trusted with the
    user's credentials (and those in the manifest's URL), entries anywhere else are not."""
    files = document.get("files") if isinstance(document, dict) else document
    shown = redact(manifest_url)
    if not isinstance(files, list):
        raise UsageError(f"manifest {shown}: expected a list of files or an object with 'files'")
    home = origin(manifest_url)
    _bare, user, password = split_userinfo(manifest_url)
    entries = []
    for index, item in enumerate(files):
        where = f"manifest entry {index}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise UsageError(f"{where} of {shown}: expected an object with a string 'name'")
        listed = item.get("urls")
        if listed is not None and (
            not isinstance(listed, list) or not all(isinstance(u, str) for u in listed)
        ):
            raise UsageError(f"{where} of {shown}: 'urls' must be a list of URLs")
        urls = [item["url"]] if isinstance(item.get("url"), str) else []
        urls += [u for u in listed or () if u not in urls]
        if not urls:
            urls = [item["name"]]
        url, *mirrors = (urljoin(manifest_url, u) for u in urls)
        url = check_url(url, where)
        given = origin(url) == home
        if given and user is not None and split_userinfo(url)[1] is None:
            url = with_userinfo(url, user, password)  # the manifest's own credentials, on its origin
        elif not given and split_userinfo(url)[1] is not None:
            url = split_userinfo(url)[0]  # a server naming credentials for another host: not used
        # Mirrors carry no credentials of the manifest's, nor any it names: they are other servers.
        mirrors = [split_userinfo(check_url(m, where))[0] for m in mirrors]
        sha256 = item.get("sha256")
        entries.append(
            Entry(
                url=url,
                given=given,
                out=item["name"],
                sha256=_check_sha256(sha256, where) if sha256 is not None else None,
                size=_check_size(item["size"], where) if item.get("size") is not None else None,
                where=where,
                mirrors=tuple(mirrors),
            )
        )
    return entries


def parse_manifest(text: str | bytes, manifest_url: str) -> list[Entry]:
    import json

    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"manifest {manifest_url} is not JSON: {exc}") from None
    return jobs_from_manifest(document, manifest_url)


# A plain list: http(s) URLs with nothing unusual, each ending in a plain file name, one a line.
# Matched against the lower-cased text (so the classes need no upper case), anchored at each line:
# one match per valid line, so as many matches as lines means every line is valid.
_PORT = rb"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
_NOTHING_LINES = re.compile(rb"(?m)^[ \t]*(?:#[^\n]*)?\r?\n")  # blank lines and comments
_PLAIN_LINE = re.compile(
    rb"(?m)^https?://[a-z0-9.-]+"
    + _PORT
    + rb"/(?:[a-z0-9._~%/+=,@-]*/)?([a-z0-9_+=,@-][a-z0-9._+=,@-]{0,200})\n"
)


class UrlList:
    """A plain list of URLs, checked in one pass at C speed, its Jobs made only as they are taken.

    A million-line input then costs its bytes (about 50 MB) rather than a million Entries, Jobs and
    records before the first request; the collision check still runs over every name first.
    """

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.count = data.count(b"\n")
        self.total_bytes = None  # a plain list says nothing of sizes
        self._starts: array.array[int] | None = None  # where each line begins, once one is asked for

    @classmethod
    def parse(cls, data: bytes, source: str) -> UrlList | None:
        """Return the list if *data* is a plain one (else None: the general parser reads it)."""
        if data and not data.endswith(b"\n"):
            data += b"\n"
        names = _PLAIN_LINE.findall(data.lower())  # lower-cased: A.bin and a.bin are one file somewhere
        if len(names) != data.count(b"\n") or len(set(names)) != len(names):
            return None  # an unusual line, or a collision: the general parser says which
        return cls(data, source)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Job]:
        data = self.data
        start = 0
        find = data.find
        for _ in range(self.count):
            end = find(b"\n", start)
            url = data[start:end].decode("ascii")
            start = end + 1
            yield Job(url, url.rpartition("/")[2])

    def __getitem__(self, index: int) -> Job:
        """The job of line *index* (a fresh Job each time): random access, for what --workers'
        parent hears of by number. The lines' starts are found once, 8 bytes a line."""
        if self._starts is None:
            starts = array.array("q", [0])
            starts.extend(itertools.accumulate(map((1).__add__, map(len, self.data.split(b"\n")))))
            self._starts = starts
        if not -self.count <= index < self.count:
            raise IndexError(index)
        start = self._starts[index % self.count]
        url = self.data[start : self.data.find(b"\n", start)].decode("ascii")
        return Job(url, url.rpartition("/")[2])

    def lines(self, numbers: Iterable[int]) -> Iterator[Job]:
        """The jobs of the lines *numbers* (in increasing order), made as taken; the lines between
        are only skipped."""
        data = self.data
        find = data.find
        position = line = 0
        for number in numbers:
            while line < number:
                position = find(b"\n", position) + 1
                line += 1
            end = find(b"\n", position)
            url = data[position:end].decode("ascii")
            yield Job(url, url.rpartition("/")[2])
            position, line = end + 1, line + 1

    def entries(self) -> list[Entry]:
        """The list as Entries, to be named like any others (beside other sources, or another layout)."""
        return [Entry(job.url) for job in self]


def read_input(path: str) -> list[Entry] | UrlList:
    """Parse the input file at *path* (``-`` for stdin); raise UsageError if it cannot be read.

    A plain list of URLs comes back as a UrlList (lazy); anything else as Entries."""
    import sys

    source = "stdin" if path == "-" else path
    try:
        if path == "-":
            if sys.stdin is None:
                raise UsageError("cannot read input file stdin: it is closed")
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read input file {source}: {exc.strerror or exc}") from None
    fast = UrlList.parse(data, source)
    if fast is None and (b"#" in data or b"\n\n" in data):
        # Comments and blank lines are all that is unusual in many a long list: without them it
        # may still be a plain one (a million lines: a second, not fifteen and half a gigabyte).
        fast = UrlList.parse(_NOTHING_LINES.sub(b"", data), source)
    if fast is not None:
        return fast
    if b"\x00" in data:
        raise UsageError(f"input file {source} is binary, not a list of URLs")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"line {line} of {source} is not UTF-8 text") from None
    return list(parse_input(text.splitlines(), source))


def make_jobs(
    entries: Iterable[Entry | str], naming: Naming | None = None, on_collision: str = "error"
) -> list[Job]:
    """Name every entry safely and return the Jobs; two that would write one file are an input error
    (*on_collision* ``error``), or the later is numbered ``name.1.ext`` in input order (``number``);
    ``query`` keeps each URL's query in its name. The same URL twice (``#fragment``, ``./`` and
    escapes aside) is one download, reported on both lines, checked against every line's sha256 and
    size."""
    naming = naming or Naming()
    if on_collision == "query" and not naming.query:
        naming = dataclasses.replace(naming, query=True)
    jobs: list[Job] = []
    owners: dict[str, int] = {}  # case-folded path -> the job that writes it
    folders: dict[str, str] = {}  # case-folded directory a name needs -> url that needs it
    for item in entries:
        entry = item if isinstance(item, Entry) else Entry(url=check_url(item))
        try:
            name = safe_name(entry.out) if entry.out is not None else naming.name(entry.url)
            if entry.folder:
                name = safe_name(f"{entry.folder}/{name}")
        except ValueError as exc:
            raise UsageError(f"{exc} ({entry.where or redact(entry.url)})") from None
        earlier = owners.get(name.casefold())
        if earlier is not None and _same_resource(jobs[earlier].url, entry.url):
            jobs[earlier] = _merged(jobs[earlier], entry)
            jobs.append(dataclasses.replace(jobs[earlier], duplicate_of=earlier))
            continue
        if on_collision == "number" and entry.out is None:
            base, number = name, 0
            while name.casefold() in owners or name.casefold() in folders:
                number += 1
                name = numbered(base, number)
        _claim(name, entry, owners, folders, jobs, on_collision)
        owners[name.casefold()] = len(jobs)
        jobs.append(Job(url=entry.url, name=name, sha256=entry.sha256, size=entry.size, given=entry.given,
                        mirrors=entry.mirrors, checksums=entry.checksums, headers=entry.headers))  # fmt: skip
    return jobs


def _same_resource(a: str, b: str) -> bool:
    """Whether two URLs name one resource (a fragment, ``./`` and needless escapes aside)."""
    if a == b:
        return True
    import yarl

    try:
        return yarl.URL(a).with_fragment(None) == yarl.URL(b).with_fragment(None)
    except (ValueError, TypeError):
        return False


def _merged(job: Job, entry: Entry) -> Job:
    """The job for a URL asked for again: what each line knows of the file, which must agree."""
    where = entry.where or redact(entry.url)
    for field in ("sha256", "size"):
        mine, theirs = getattr(job, field), getattr(entry, field)
        if mine is not None and theirs is not None and mine != theirs:
            raise UsageError(f"the same URL twice with different {field}: {redact(job.url)} ({where})")
        if mine is None and theirs is not None:
            job = dataclasses.replace(job, **{field: theirs})
    return job


def _claim(
    name: str,
    entry: Entry,
    owners: dict[str, int],
    folders: dict[str, str],
    jobs: list[Job],
    on_collision: str,
) -> None:
    """Check that *entry* may write *name*; raise UsageError if another item writes it (or needs it
    as a folder, or it needs one of theirs as a folder). Case-folded: on a case-insensitive file
    system A.bin and a.bin are one file."""
    url = redact(entry.url)
    folded = name.casefold()
    other = owners.get(folded)
    if other is not None:
        if entry.out is not None:
            hint = " (both lines name it with out=)"
        elif on_collision == "error":
            hint = " (--on-collision number or query tells them apart)"
        else:
            hint = " (--on-collision number tells them apart)"
        raise UsageError(f"two items would write {name!r}: {redact(jobs[other].url)} and {url}{hint}")
    if folded in folders:  # "sub" as a file, when another item needs "sub/" as a directory
        raise UsageError(f"two items would write {name!r}: {folders[folded]} needs it as a directory")
    parts = folded.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        if folder in owners:
            owner = redact(jobs[owners[folder]].url)
            raise UsageError(f"two items would write {folder!r}: {owner}, and {url} as a folder")
        folders.setdefault(folder, url)
