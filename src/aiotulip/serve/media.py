"""What a file is, for its headers: Content-Type from its name, and whether gzip is worth sending."""

from __future__ import annotations

import mimetypes
from functools import lru_cache

__all__ = ["accepts_gzip", "compressible", "content_type"]

# A compressed file is served as what it is, never with a Content-Encoding a client would undo
# (``x.tar.gz`` is application/gzip, as nginx and Apache serve it, not a gzipped tar).
_ENCODED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
            "br": "application/x-brotli", "compress": "application/x-compress"}  # fmt: skip
_TEXTUAL = ("application/json", "application/javascript", "application/xml", "image/svg+xml")


@lru_cache(maxsize=4096)
def content_type(name: str) -> str:
    """Return the Content-Type for file *name* (``application/octet-stream`` when unknown)."""
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return _ENCODED.get(encoding, "application/octet-stream")
    return guessed or "application/octet-stream"


def compressible(media_type: str) -> bool:
    """Whether gzip pays for this type (text); images, archives and video are compressed already."""
    return media_type.startswith("text/") or media_type in _TEXTUAL or media_type.endswith(("+json", "+xml"))


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value takes gzip (``gzip;q=0`` and ``*;q=0`` refuse it)."""
    if not header:
        return False
    star = False
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding in ("gzip", "x-gzip"):
            return quality > 0
        if coding == "*":
            star = quality > 0
    return star
