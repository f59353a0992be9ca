"""A file named by its server: the Content-Disposition header read (``filename*`` preferred, RFC
6266/5987, made safe as one name, never hidden nor a path), and the run's names consulted so that the
name is the item's alone (``--on-collision number`` numbers it). The .part keeps the URL's name;
only the final name changes, settled before the rename.
"""

from __future__ import annotations

from aiotulip.download.names import Names, numbered, safe_name

__all__ = ["Disposition", "disposition_name"]


class Disposition:
    """The final name of one item whose server may name it (``--content-disposition``), or whose
    own name is a stranger's file (*names* None without ``--content-disposition``)."""

    __slots__ = ("_job_name", "_names", "_number", "_url", "_wanted", "beside", "name", "path")

    def __init__(self, names: Names | None, job_name: str, path: str, url: str | None = None) -> None:
        self._names = names
        self._url = url  # the item's: the file it wrote in an earlier run is its name again
        self._job_name = job_name  # the name from the URL (the .part's, and the one claimed first)
        self.name = job_name  # the final name now
        self.path = path  # ... and its path, as the Report shows it
        self._wanted: str | None = None  # the name the server asked for
        self._number = 0  # ... numbered this far (0: as asked)
        self.beside: str | None = None  # the name a file not from this URL held: kept, and this beside it

    def suggested(self, header: str | None) -> bool:
        """Take the name a Content-Disposition *header* gives; False if it gives none. Raise
        ValueError if the name cannot be this item's."""
        suggested = disposition_name(header) if header else None
        if suggested is None:
            return False
        folder, slash, _base = self._job_name.rpartition("/")
        self._wanted = f"{folder}{slash}{suggested}"
        self._take(0)
        return True

    def taken(self) -> None:
        """The name is a file already there, not from this URL: move to the next free one. It is
        numbered whatever ``--on-collision`` says, which is about two URLs of this run, the server's
        name as the URL's own: wget2 and aria2c keep a stranger's file so, and so does tulip (a
        refusal failed the item after its whole body had come)."""
        if self._wanted is None:
            self._wanted = self._job_name
        if self.beside is None:
            self.beside = self.name
        self._take(self._number + 1)

    @property
    def renamed(self) -> bool:
        return self.name != self._job_name

    def _take(self, first: int) -> None:
        assert self._wanted is not None
        if self._names is None:
            chosen, self._number = numbered(self._wanted, first), first
        else:
            chosen, self._number = self._names.take(self._wanted, self._job_name, first, self._url)
        if chosen != self.name:
            base = self.name.rpartition("/")[2]
            self.name = chosen
            self.path = self.path[: len(self.path) - len(base)] + chosen.rpartition("/")[2]


def disposition_name(header: str) -> str | None:
    """Return the file name a Content-Disposition gives (``filename*`` preferred, RFC 6266/5987),
    made safe as one name; None if it gives none."""
    from email.message import Message
    from email.utils import collapse_rfc2231_value

    message = Message()
    try:
        message["content-disposition"] = _as_utf8(header)
        params = message.get_params(header="content-disposition") or []
        encoded = [v for k, v in params if k.lower() == "filename" and isinstance(v, tuple)]
        # filename* (RFC 5987, decoded by the email package into a tuple) wins over filename.
        name = collapse_rfc2231_value(encoded[0]) if encoded else message.get_filename()
    except (ValueError, TypeError, LookupError):
        return None
    if not name:
        return None
    name = _as_utf8(str(name)).lstrip(".")  # never a hidden file (.bashrc) from a server
    try:
        return safe_name(name, allow_dirs=False)
    except ValueError:
        return None


def _as_utf8(text: str) -> str:
    """Read a header's raw bytes as UTF-8 where they are (browsers do): transports hand them over as
    Latin-1 (tulip's) or UTF-8 with surrogate escapes (as aiohttp's client does, for a factory's
    transport built on it), and both must give one name."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
