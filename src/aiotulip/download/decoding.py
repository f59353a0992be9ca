"""Content-Encoding, undone on request (``--compressed``): gzip and deflate always (zlib), br with
``brotli`` 1.2 or later, zstd with Python 3.14's ``compression.zstd`` or ``backports.zstd``.

Decoding is pulled, never pushed: a reader asks for at most *n* decoded bytes and the decoder
produces no more, so a bomb (a kilobyte that inflates to gigabytes) costs one piece of memory at a
time and is stopped by the file's size limit long before it fills memory or disk. Only libraries
that can bound their output are used (an older brotli cannot, so br is not offered with it).

A stream that ends before its encoding says it is complete is an error, not a shorter file: the
bytes saved are always the whole of what was compressed.

Nor may a body inflate without bound when no --max-filesize caps it: past *max_ratio* times the
encoded bytes read so far (plus a mebibyte, for small bodies of repeated text) the decoder stops. Real
text and data compress 3 to 50 times, rarely past 200; a bomb, a thousand times from its first bytes.
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = ["MAX_RATIO", "AsyncDecoded", "Decoder", "Inflated", "SyncDecoded", "available"]

_GZIP_MAGIC = b"\x1f\x8b"
MAX_RATIO = 200.0  # --max-ratio's default: decoded bytes per encoded byte
_SLACK = 1 << 20  # decoded bytes always allowed beyond the ratio


class Inflated(ValueError):
    """The decoded body grew past the ratio allowed (a decompression bomb, or --max-ratio too low)."""


def _brotli() -> Any:
    try:
        import brotli
    except ImportError:
        return None
    # 1.2 bounds process()'s output (output_buffer_limit); before it, one call could inflate a bomb.
    return brotli if hasattr(brotli.Decompressor, "can_accept_more_data") else None


def _zstd() -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14
    except ImportError:
        try:
            from backports import zstd
        except ImportError:
            return None
    return zstd


def available() -> tuple[str, ...]:
    """The encodings this installation can decode, in the order an Accept-Encoding offers them."""
    found = ["gzip", "deflate"]
    if _brotli() is not None:
        found.append("br")
    if _zstd() is not None:
        found.append("zstd")
    return tuple(found)


class Decoder:
    """Undoes one Content-Encoding: ``feed`` the encoded bytes, ``take(n)`` decoded ones until it
    gives ``b""`` (it wants more input), and ``finish`` once the input ended (it raises ValueError if
    the encoding was not complete)."""

    def __init__(self, encoding: str, max_ratio: float = MAX_RATIO) -> None:
        self.encoding = encoding
        self.max_ratio = max_ratio  # 0: no bound
        self.fed = 0  # encoded bytes given
        self.given = 0  # decoded bytes returned
        self._input = b""
        self._produced = False  # deflate: raw deflate is tried only before any output
        self._done = False  # one member or frame ended; more may follow (gzip members, zstd frames)
        self._raw = False  # deflate sent without its zlib wrapper
        if encoding in ("gzip", "deflate"):
            self._engine: Any = self._zlib()
        elif encoding == "br" and (brotli := _brotli()) is not None:
            self._engine = brotli.Decompressor()
        elif encoding == "zstd" and (zstd := _zstd()) is not None:
            self._engine = zstd.ZstdDecompressor()
        else:
            raise ValueError(f"cannot decode {encoding!r}")

    def _zlib(self, raw: bool = False) -> Any:
        if raw:
            return zlib.decompressobj(-zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self.encoding == "gzip" else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        self.fed += len(data)
        self._input = self._input + data if self._input else data

    def take(self, n: int) -> bytes:
        """Return about *n* (> 0) decoded bytes (brotli may give up to a block more); ``b""`` when
        more input is needed."""
        if self.encoding == "br":
            out = self._brotli_take(n)
        elif self.encoding == "zstd":
            out = self._zstd_take(n)
        else:
            out = self._zlib_take(n)
        if out:
            self._produced = True
            self.given += len(out)
            if self.max_ratio and self.given > self.max_ratio * self.fed + _SLACK:
                raise Inflated(
                    f"the {self.encoding} body inflates past {self.max_ratio:g} times its size "
                    "(a decompression bomb?); --max-ratio N allows more, 0 any"
                )
        return out

    def _zlib_take(self, n: int) -> bytes:
        engine = self._engine
        while True:
            if engine.eof:
                rest, self._input = engine.unused_data + self._input, b""
                if self.encoding == "gzip" and rest.startswith(_GZIP_MAGIC):
                    engine = self._engine = self._zlib()  # another member (RFC 1952): go on
                    self._input = rest
                    continue
                self._done = True
                return b""  # what follows the end is ignored, as browsers and curl do
            try:
                # Asked even with no input left: zlib may hold output it had no room for.
                out = engine.decompress(self._input, n)
            except zlib.error:
                if self.encoding == "deflate" and not self._produced and not self._raw:
                    # Many servers send raw deflate under that name: read it as such.
                    self._raw = True
                    engine = self._engine = self._zlib(raw=True)
                    continue
                raise
            self._input = engine.unconsumed_tail
            if out or not self._input:
                return out

    def _brotli_take(self, n: int) -> bytes:
        engine = self._engine
        for _ in range(3):  # the last: input handed over once the decoder took what it held
            data = b""
            if self._input and engine.can_accept_more_data():  # else it still holds input of its own
                data, self._input = self._input, b""
            # Output may be pending with no input given: asked until it gives nothing.
            out = engine.process(data, output_buffer_limit=n)
            if out or not self._input:
                return out
        raise ValueError("the br decoder takes no more input")

    def _zstd_take(self, n: int) -> bytes:
        engine = self._engine
        while True:
            if engine.eof:
                rest, self._input = engine.unused_data + self._input, b""
                if not rest:
                    self._done = True
                    return b""
                engine = self._engine = _zstd().ZstdDecompressor()  # another frame
                self._input = rest
                continue
            if engine.needs_input and not self._input:
                return b""
            data, self._input = self._input, b""
            out = engine.decompress(data, n)
            if out or engine.needs_input:
                return out

    def finish(self) -> None:
        """The input ended: raise ValueError unless the encoded stream was complete."""
        engine = self._engine
        complete = engine.is_finished() if self.encoding == "br" else engine.eof or self._done
        if not complete:
            raise ValueError(f"the {self.encoding} stream ends before its end")


class _Decoded:
    """A response whose ``read`` gives decoded bytes (the file), not the encoded ones (the wire)."""

    def __init__(self, response: Any, encoding: str, url: str, max_ratio: float = MAX_RATIO) -> None:
        self.status = response.status
        self.headers = response.headers
        self._response = response
        self._decoder = Decoder(encoding, max_ratio)
        self._ended = False
        self._url = url
        self._left = b""  # decoded past what the last read asked for

    def _take(self, n: int) -> bytes:
        out = self._left
        if not out:
            try:
                out = self._decoder.take(n)
            except Exception as exc:  # zlib.error, brotli.error, ZstdError: the body is not what it says
                raise self._error(exc) from None
        if len(out) > n:
            out, self._left = out[:n], out[n:]
        else:
            self._left = b""
        return out

    def _fed(self, raw: bytes) -> None:
        if raw:
            self._decoder.feed(raw)
            return
        self._ended = True
        try:
            self._decoder.finish()
        except Exception as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> Exception:
        from aiotulip.errors import IntegrityError

        if isinstance(exc, Inflated):  # asking again gets the same bomb
            return IntegrityError(str(exc), url=self._url, transient=False)
        detail = str(exc) or type(exc).__name__
        return IntegrityError(f"cannot decode the {self._decoder.encoding} body: {detail}", url=self._url)


class AsyncDecoded(_Decoded):
    async def read(self, n: int) -> bytes:
        while True:
            out = self._take(n)
            if out or self._ended:
                return out
            self._fed(await self._response.read(max(n, 65536)))


class SyncDecoded(_Decoded):
    def read(self, n: int) -> bytes:
        while True:
            out = self._take(n)
            if out or self._ended:
                return out
            self._fed(self._response.read(max(n, 65536)))
