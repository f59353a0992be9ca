"""Content-Encoding, undone on request (``--compressed``): gzip and deflate always (zlib), br and zstd
when their libraries are installed. Output comes in bounded pieces, so a bomb (a kilobyte that
inflates to gigabytes) is stopped by the file's size limit long before it fills memory or disk."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

__all__ = ["AsyncDecoded", "Decoder", "SyncDecoded", "available"]

_PIECE = 1024 * 1024


def available() -> tuple[str, ...]:
    """The encodings this installation can decode, in the order an Accept-Encoding offers them."""
    found = ["gzip", "deflate"]
    try:
        import brotli  # noqa: F401
    except ImportError:
        pass
    else:
        found.append("br")
    try:
        import zstandard  # noqa: F401
    except ImportError:
        pass
    else:
        found.append("zstd")
    return tuple(found)


class Decoder:
    """Undoes one Content-Encoding, a chunk at a time."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib: Any = None
        self._other: Any = None
        self._raw_deflate = False
        if encoding == "gzip":
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()  # zlib-wrapped, as RFC 9110 says; raw tried if not
        elif encoding == "br":
            import brotli

            self._other = brotli.Decompressor()
        elif encoding == "zstd":
            import zstandard

            self._other = zstandard.ZstdDecompressor().decompressobj()
        else:
            raise ValueError(f"cannot decode {encoding!r}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield the decoded bytes of *data*, in pieces of at most a megabyte."""
        if self._other is not None:
            out = self._other.process(data) if self.encoding == "br" else self._other.decompress(data)
            for start in range(0, len(out), _PIECE):
                yield out[start : start + _PIECE]
            return
        pending = data
        while pending:
            try:
                piece = self._zlib.decompress(pending, _PIECE)
            except zlib.error:
                if self.encoding == "deflate" and not self._raw_deflate:
                    # Many servers send raw deflate under that name: read it as such.
                    self._raw_deflate = True
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise
            if piece:
                yield piece
            pending = self._zlib.unconsumed_tail
            if not piece and not pending:
                break

    def end(self) -> bytes:
        if self._zlib is not None:
            return self._zlib.flush()  # type: ignore[no-any-return]
        return b""


class _Decoded:
    """A response whose ``read`` gives decoded bytes (the file), not the encoded ones (the wire)."""

    def __init__(self, response: Any, encoding: str, url: str) -> None:
        self.status = response.status
        self.headers = response.headers
        self._response = response
        self._decoder = Decoder(encoding)
        self._ready: list[bytes] = []
        self._ended = False
        self._url = url

    def _take(self, raw: bytes, n: int) -> None:
        from tulip.errors import IntegrityError

        try:
            if raw:
                self._ready.extend(self._decoder.feed(raw))
            else:
                self._ended = True
                tail = self._decoder.end()
                if tail:
                    self._ready.append(tail)
        except (zlib.error, OSError, ValueError, EOFError) as exc:  # brotli and zstd raise their own
            message = f"cannot decode the {self._decoder.encoding} body: {exc}"
            raise IntegrityError(message, url=self._url) from None
        except Exception as exc:  # an optional decoder's own error class
            message = f"cannot decode the {self._decoder.encoding} body: {type(exc).__name__}"
            raise IntegrityError(message, url=self._url) from None

    def _pop(self, n: int) -> bytes:
        if not self._ready:
            return b""
        chunk = self._ready.pop(0)
        if len(chunk) > n:
            self._ready.insert(0, chunk[n:])
            chunk = chunk[:n]
        return chunk


class AsyncDecoded(_Decoded):
    async def read(self, n: int) -> bytes:
        while not self._ready and not self._ended:
            self._take(await self._response.read(max(n, 65536)), n)
        return self._pop(n)


class SyncDecoded(_Decoded):
    def read(self, n: int) -> bytes:
        while not self._ready and not self._ended:
            self._take(self._response.read(max(n, 65536)), n)
        return self._pop(n)
