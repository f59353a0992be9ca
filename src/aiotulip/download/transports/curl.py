"""The curl transport: libcurl (through pycurl) moves the bytes, the Item still decides.

libcurl sends exactly the request the Item asks for — no redirects of its own (the Item follows
them), no cookie engine, no decoding (Accept-Encoding is the policy's), the headers, range and proxy
as given — and hands back the status, the headers and the body, a chunk at a time. What the Item
cannot see is libcurl's: connection reuse, HTTP/2 multiplexing, ALPN, happy eyeballs, TLS.

Two shells around one core (``_Transfer``: one request on one easy handle, filled by libcurl's
callbacks):

- ``CurlTransport`` (asyncio): one multi handle driven by the event loop, as tornado's
  ``curl_httpclient`` does — libcurl says which sockets to watch (``M_SOCKETFUNCTION``, kept in an
  epoll set of the transport's own: ``_curl_sockets``, whose one descriptor the loop watches) and
  when to call it back (``M_TIMERFUNCTION`` -> ``call_later``), and the loop calls
  ``socket_action``; never ``select()`` and its 1,024-descriptor limit.
- ``CurlSyncTransport`` (threads, sequential): one multi handle for every calling thread (connections
  reused and limited across them), driven the same way from the same kind of epoll set — on a
  driver thread of its own, or, with one caller at a time (the sequential engine), by the caller
  while it waits.

Flow: a body chunk libcurl delivers waits in the transfer until the engine reads it; past 1 MiB
unread the transfer pauses (``WRITEFUNC_PAUSE``) and resumes once the reader catches up, so a slow
disk slows the server through TCP. A silence longer than the read timeout fails the wait. At most
256 connection attempts are in flight at once (ten thousand SYNs at one listener overflow its
accept queue; each dropped one costs a second).

ftp://, ftps:// and sftp:// answers are given the shape of HTTP ones for the Item: 200, or 206 with a
Content-Range for a resume (``RESUME_FROM``), Content-Length from the size the server gave and
Last-Modified from its file time (the validator a resume is checked against); a missing file is a
404. libcurl's error codes become tulip's errors in one table (``_curl_errors``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping

import pycurl

from aiotulip.download.http.headers import MAX_HEADER_BYTES, Headers, from_lines
from aiotulip.download.http.proxies import Proxy
from aiotulip.download.transports import TransportOptions
from aiotulip.download.transports._curl_errors import failure, timed_out
from aiotulip.download.transports._curl_keys import login_key
from aiotulip.download.transports._curl_sockets import Sockets
from aiotulip.errors import FetchError, ProtocolError, TransportError, UsageError

__all__ = ["CurlSyncTransport", "CurlTransport", "check_built_in"]

# A transfer pauses (libcurl stops reading its socket) when its reader falls behind: once more body
# waits unread than two of the reader's reads (_AHEAD), or _HIGH_WATER before its first read (a
# thousand transfers at a megabyte each before their readers came were 600 MB at -c 1000), and goes
# on below a quarter of that. Measured by the read, memory stays bounded by the engine's buffer budget
# however many transfers run; a fixed megabyte paused a bulk download at every megabyte its writer
# was busy with (each pause copies what libcurl had read into a buffer of its own), and let a
# thousand transfers hold a megabyte each.
_HIGH_WATER = 256 * 1024
_AHEAD = 2
_CONNECTING = 256
# Sockets handled in one turn of the event loop at most (the others are still ready at the next):
# on c10k's burst of ten thousand answers a second, a thousand at once (what epoll gives) made the
# loop's worst lag 95-215 ms; 64 at once, 34-51 ms, in the same time.
_READY_AT_ONCE = 64
# A Ctrl-C (KeyboardInterrupt) raised inside one of libcurl's callbacks would be printed and
# swallowed by pycurl, the transfer merely failed: each callback keeps it here instead (a try block
# of its own, not a wrapper: a wrapper was six more Python calls for every small file) and
# _socket_action raises it again as soon as libcurl returns. Only the main thread ever gets one —
# the one that drives libcurl in the asyncio engine and, with one caller, in the blocking ones.
_caught: list[BaseException] = []
_HTTP = ("http", "https")
_SSH = ("sftp", "scp")
_FTP = ("ftp", "ftps")
_FTP_UNSAFE = re.compile(rb"[\r\n\x00]")  # (a name that cannot go on a command line of its own)
_PROTOCOLS = pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS | pycurl.PROTO_FTP | pycurl.PROTO_FTPS | pycurl.PROTO_SFTP
_NO_HEADERS = Headers()  # a transfer's until its response's head is read (never changed)
_ORIGIN = re.compile(r"[^:/?#]*://[^/?#]*")  # a URL's scheme://host:port (it ends at / ? or #)
_SUPPRESS_CONNECT_HEADERS = 265  # CURLOPT_SUPPRESS_CONNECT_HEADERS (pycurl names no constant for it)
_VERSIONS = {
    "1.1": pycurl.CURL_HTTP_VERSION_1_1,
    "2": pycurl.CURL_HTTP_VERSION_2TLS,  # HTTP/2 over TLS where ALPN agrees, 1.1 in the clear
    "2-prior-knowledge": pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
    "3": pycurl.CURL_HTTP_VERSION_3,
    "3-only": pycurl.CURL_HTTP_VERSION_3ONLY,
}
_AUTH = {"basic": pycurl.HTTPAUTH_BASIC, "digest": pycurl.HTTPAUTH_DIGEST, "any": pycurl.HTTPAUTH_ANY,
         "ntlm": pycurl.HTTPAUTH_NTLM}  # fmt: skip


def _socket_action(multi: pycurl.CurlMulti, fd: int, what: int) -> None:
    """Let libcurl act on *fd* (or on its timers), then raise a Ctrl-C its callbacks kept."""
    while True:
        try:
            code, _running = multi.socket_action(fd, what)
        except pycurl.error as exc:
            code = exc.args[0]
        if code != pycurl.E_CALL_MULTI_PERFORM:
            break
    if _caught:
        raise _caught.pop()


def _read_info(multi: pycurl.CurlMulti, ended: Callable[[pycurl.Curl, tuple[int, str] | None], None]) -> None:
    """Hand each transfer libcurl has finished to *ended*: with None, or with its error's code and
    message."""
    while True:
        queued, ok, failed = multi.info_read()
        for curl in ok:
            ended(curl, None)
        for curl, code, message in failed:
            ended(curl, (code, message))
        if not queued:
            break


class _Transfer:
    """One easy handle and its current request: what libcurl's callbacks report, waiting for the
    reader."""

    __slots__ = (
        "chunks",
        "connected",
        "curl",
        "done",
        "error",
        "fresh",
        "future",
        "headers",
        "heads",
        "held",
        "high",
        "http_answer",
        "lines",
        "lock",
        "on_connected",
        "origin",
        "paused",
        "proxy",
        "resumed",
        "scheme",
        "sent",
        "stalled",
        "started",
        "status",
        "touched",
        "unless",
        "url",
        "version",
        "waiter",
    )  # fmt: skip

    def __init__(self, curl: pycurl.Curl, lock: threading.Lock | None = None) -> None:
        # One transfer object for each easy handle, for the handle's life: its callbacks are set
        # once (setting three callbacks, and freeing a transfer, for every request was 3% of a
        # small-files run), and each request begins it afresh (begin).
        self.curl = curl
        self.lock = lock  # shared with a reader in another thread (the blocking engines), else None
        self.lines: list[bytes] = []  # the header lines of every response so far (interim ones too)
        # (a list, not a deque: a deque is 600 bytes more, for each of ten thousand handles at c10k)
        self.chunks: list[bytes] = []
        self.wire()
        self.begin("", None)

    def wire(self) -> None:
        """Give the handle this transfer's callbacks (again after a ``reset``, which drops them)."""
        curl = self.curl
        curl.setopt(pycurl.HEADERFUNCTION, self.lines.append)
        curl.setopt(pycurl.WRITEFUNCTION, self.on_body)
        curl.setopt(pycurl.PREREQFUNCTION, self.on_prereq)
        self.sent: Mapping[str, str] | None = None  # the request headers the handle holds (HTTPHEADER)
        self.fresh: bool | None = None  # the handle's FRESH_CONNECT

    def begin(self, url: str, proxy: Proxy | None) -> None:
        """Make this the transfer of a new request."""
        self.url = url
        self.proxy = proxy
        self.scheme = url.partition(":")[0].lower()
        # An HTTP answer, to read as one: an http(s) URL's, and an ftp:// URL's through an HTTP
        # proxy (libcurl asks the proxy for it with a GET: the status is the proxy's, and an error
        # page taken for the file was saved as it, "ok").
        self.http_answer = self.scheme in _HTTP or (
            self.scheme == "ftp" and proxy is not None and proxy.scheme in _HTTP
        )
        self.origin = ""  # scheme://host:port, once _Reuse has asked
        self.resumed = 0  # a non-HTTP resume: the offset asked for (REST / SFTP seek; see _files)
        self.unless: str | None = None  # ftp/sftp -N: the If-None-Match the Item sent (see _unchanged)
        self.status = 0  # 0 until the final response's head is complete
        self.version = ""  # "1.1", "2", "3" (or the scheme, for ftp and sftp)
        self.headers = _NO_HEADERS
        self.lines.clear()
        self.chunks.clear()
        self.held = 0  # bytes in chunks
        self.high = _HIGH_WATER  # held past this, the transfer pauses (see _AHEAD)
        self.paused = False  # the next chunk is refused (WRITEFUNC_PAUSE) until the reader catches up
        self.stalled = False  # one was: libcurl holds the transfer paused (PAUSE_CONT lets it go)
        self.done = False
        self.error: FetchError | None = None
        self.connected = False
        self.on_connected: Callable[[], None] | None = None  # told once the connection is made
        self.heads: list[_Transfer] | None = None  # where an ftp or sftp transfer asks for its head
        self.started = self.touched = 0.0  # set as libcurl takes it; touched: the last sign of life
        self.waiter: Callable[[], None] | None = None  # a blocking reader's wake-up (its Event's set)
        self.future: asyncio.Future[None] | None = None  # an asyncio reader's, while it waits

    # -- libcurl's callbacks (inside socket_action: they must not raise) --------------------------

    def on_prereq(self, *_args: object) -> int:
        try:
            self.touched = time.monotonic()
            self.connected = True
            told, self.on_connected = self.on_connected, None
            if told is not None:  # (once: the slot it held while connecting is free)
                told()
            return 0  # CURL_PREREQFUNC_OK
        except (KeyboardInterrupt, SystemExit) as exc:  # (kept for _socket_action: see _caught)
            _caught.append(exc)
            return 1

    def read_head(self) -> int | None:
        """Make the final response's status and headers of the lines libcurl gave (HEADERFUNCTION is
        the lines' ``append``: a Python call per header line cost more than the rest of a small
        file's handling). Called once the body begins, or the transfer ends."""
        lines = self.lines.copy()  # (the list stays: it is the handle's HEADERFUNCTION)
        self.lines.clear()
        if not self.http_answer:
            self._make_head()  # (outside libcurl's callbacks: it asks libcurl what it learnt)
            return None
        if sum(map(len, lines)) > MAX_HEADER_BYTES:
            return self._refuse(f"response headers larger than {MAX_HEADER_BYTES} bytes")
        # The final response's block: the last that begins with a status line (interim 1xx answers,
        # and a proxy's answer to CONNECT, come before it).
        begin = len(lines) - 1
        while begin > 0 and lines[begin][:5] != b"HTTP/":
            begin -= 1
        first = lines[begin].decode("latin-1")
        number, _, rest = first[5:].partition(" ")
        code = rest[:3]
        if not first.startswith("HTTP/") or not code.isdigit():
            return self._refuse("bad response: a status line without a status")
        status, version = int(code), number
        headers, why = from_lines(lines[begin + 1 :])
        if status == 101:
            return self._refuse("unexpected protocol upgrade")
        if not 200 <= status < 600:  # (an interim response is followed by the final one)
            return self._refuse("bad response: no final status")
        if why is not None:
            return self._refuse(why)
        self.headers, self.version, self.status = headers, version, status
        return None

    def on_body(self, data: bytes) -> int | None:
        try:
            self.touched = time.monotonic()
            if not self.status:
                if not self.http_answer:
                    # An ftp or sftp answer's head is made of what libcurl learnt (the size, the time),
                    # which may not be asked inside a callback: after this socket_action, by its driver.
                    if self.heads is not None and not self.chunks:
                        self.heads.append(self)
                    self.chunks.append(data)
                    self.held += len(data)
                    return None
                if self.read_head() is not None:
                    return -1
            lock = self.lock
            if lock is not None:
                lock.acquire()
            try:
                if self.paused:
                    self.stalled = True
                    return pycurl.WRITEFUNC_PAUSE  # (delivered again once the reader resumes the transfer)
                self.chunks.append(data)
                self.held += len(data)
                if self.held > self.high:
                    self.paused = True  # the next chunk waits in libcurl until the reader has caught up
            finally:
                if lock is not None:
                    lock.release()
            self._wake()
            return None
        except (KeyboardInterrupt, SystemExit) as exc:  # (kept for _socket_action: see _caught)
            _caught.append(exc)
            return -1

    def _refuse(self, why: str) -> int:
        if self.error is None:
            self.error = ProtocolError(why, url=self.url)
        return -1  # not what libcurl gave: it aborts the transfer (CURLE_WRITE_ERROR), our error stands

    def make_head(self) -> None:
        """An ftp or sftp answer's body has begun: its head, then the reader (outside callbacks)."""
        if not self.status and not self.done:
            self._make_head()
            self._wake()

    def _make_head(self) -> None:
        """Give an ftp or sftp answer the shape of an HTTP one, from what libcurl learnt."""
        curl = self.curl
        size = curl.getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T)
        if size < 0 and self.scheme in _FTP:
            size = _ftp_size(self.lines)  # (asked by tulip: see _files)
        headers = Headers()
        if size >= 0:
            dict.__setitem__(headers, "content-length", str(size))
        stamp = curl.getinfo(pycurl.INFO_FILETIME)
        if stamp is not None and stamp >= 0:
            from email.utils import formatdate  # (ftp and sftp only: not a cost every start pays)

            dict.__setitem__(headers, "last-modified", formatdate(stamp, usegmt=True))
            if size >= 0:
                # The file's whole size and time as its version, the validator a resume keeps: a
                # time alone (to the second) let a file replaced within its second, or with its
                # old time kept (touch -r, rsync -t), be spliced onto the old part.
                dict.__setitem__(headers, "etag", f'"{self.resumed + size}-{stamp}"')
        if self.unless is not None and _unchanged(self.unless, headers):
            self.headers, self.version, self.status = headers, self.scheme, 304
            return
        if self.resumed:
            total = f"{self.resumed + size}" if size >= 0 else "*"
            last = self.resumed + size - 1 if size > 0 else self.resumed
            dict.__setitem__(headers, "content-range", f"bytes {self.resumed}-{last}/{total}")
        self.headers = headers
        self.version = self.scheme
        self.status = 206 if self.resumed else 200

    # -- for the reader ---------------------------------------------------------------------------

    def take(self, n: int) -> bytes:
        """At most *n* bytes of what waits, in one piece (see ``take_chunks``)."""
        taken = self.take_chunks(n)
        return taken[0] if len(taken) == 1 else b"".join(taken)

    def take_chunks(self, n: int) -> list[bytes]:
        """At most *n* bytes of what waits: every whole chunk that fits (at least one, cut to *n*).
        libcurl hands a body over 16 KB at a time (CURL_MAX_WRITE_SIZE, whatever its buffer): a
        reader given one chunk a read made 64 reads, and 64 hashing and writing steps, of each of a
        bulk download's megabytes. A reader that writes them at once takes them as they are; joining
        them here, on the event loop, was a tenth of a bulk download's time there."""
        chunks = self.chunks
        chunk = chunks[0]
        size = len(chunk)
        if size > n:
            chunks[0] = chunk[n:]
            self.held -= n
            return [chunk[:n]]
        count = 1
        while count < len(chunks) and size + len(chunks[count]) <= n:
            size += len(chunks[count])
            count += 1
        taken = chunks[:count]
        del chunks[:count]
        self.held -= size
        return taken

    def ended(self, error: FetchError | None, reuse: _Reuse | None = None) -> None:
        """libcurl is done with this transfer (*error*: why it failed); *reuse* hears of a good end
        before the reader wakes (its next request may count on the connection)."""
        self.done = True
        if self.error is None and error is not None:
            self.error = error
        if self.error is None and not self.status:
            self.read_head()  # an answer without a body
        if reuse is not None and self.error is None:
            reuse.returned(self)
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            waiter()
        future = self.future
        if future is not None:
            self.future = None
            if not future.done():  # (cancelled: its reader has gone)
                future.set_result(None)


class _Reuse:
    """Whether a new transfer may find an idle connection in libcurl's pool, per origin.

    libcurl looks for a reusable connection through every connection it holds to the same host
    (``url_match_conn``): with ten thousand connections busy at once (c10k) that search, made for
    each new transfer, was a quarter of the run's time. Where no connection to the origin can be
    idle (none came back since the last ones were taken) the transfer asks for a fresh one
    (``FRESH_CONNECT``), and libcurl skips the search. Only for HTTP/1.1, where a connection serves
    one transfer at a time: an http:// origin (unless HTTP/2 is prior knowledge), or an https://
    one that answered in 1.x — HTTP/2 and HTTP/3 share a busy connection, and one connection to an
    HTTP proxy serves every origin, so those are always searched. A wrong guess costs one search or
    one connection, never a byte.
    """

    __slots__ = ("_idle", "_plain")

    def __init__(self, options: TransportOptions) -> None:
        self._idle: dict[str, int] = {}  # origin -> connections that came back, less those taken since
        # https:// origins known to answer in HTTP/1 (every http:// one does: in the clear, "2" means 1.1)
        self._plain: set[str] | None = None if options.http_version == "2-prior-knowledge" else set()

    def fresh(self, transfer: _Transfer) -> bool:
        plain = self._plain
        if plain is None or transfer.proxy is not None:
            return False  # (one connection to an HTTP proxy serves every origin: always searched)
        key = _origin(transfer)
        idle = self._idle.get(key, 0)
        if idle > 0:
            self._idle[key] = idle - 1
            return False
        return transfer.scheme == "http" or key in plain

    def returned(self, transfer: _Transfer) -> None:
        """*transfer* ended well: its connection is back in the pool (unless the server closed it)."""
        if self._plain is None or transfer.scheme not in _HTTP:
            return
        key = _origin(transfer)
        if transfer.version in ("1.1", "1.0"):  # (a 1.0 server may keep the connection alive too)
            self._plain.add(key)
            self._idle[key] = self._idle.get(key, 0) + 1


def _origin(transfer: _Transfer) -> str:
    origin = transfer.origin
    if not origin:
        match = _ORIGIN.match(transfer.url)
        origin = transfer.origin = match.group() if match is not None else transfer.url
    return origin


def _constant(curl: pycurl.Curl, options: TransportOptions) -> None:
    """What every request of a run shares: set once on each handle, not again for each request."""
    curl.setopt(pycurl.PROTOCOLS, _PROTOCOLS)
    curl.setopt(pycurl.FOLLOWLOCATION, 0)
    curl.setopt(pycurl.NOSIGNAL, 1)
    curl.setopt(pycurl.NOPROGRESS, 1)
    curl.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(options.connect_timeout * 1000)))
    curl.setopt(pycurl.BUFFERSIZE, options.buffer_size)
    curl.setopt(pycurl.TCP_NODELAY, 1)
    curl.setopt(pycurl.PATH_AS_IS, 1)  # the policy made the path what it must be
    curl.setopt(pycurl.HTTP_TRANSFER_DECODING, 1)  # chunked is framing: undone here
    curl.setopt(pycurl.HTTP_CONTENT_DECODING, 0)  # Content-Encoding is the Item's to undo, or keep
    curl.setopt(pycurl.HTTP_VERSION, _VERSIONS[options.http_version])
    # Transfers that may share a connection (HTTP/2, HTTP/3) wait for the first one to the origin
    # to say whether it multiplexes, as curl's --parallel and wget2 do: without it, a hundred
    # transfers begun at once opened a hundred TLS connections to one HTTP/2 server. (No effect on
    # a transfer that cannot multiplex: HTTP/1.1 goes on at once.)
    curl.setopt(pycurl.PIPEWAIT, 1)
    curl.setopt(pycurl.PROXY, "")  # never the environment's: the policy decides (no_proxy included)
    _tls(curl, options)


def _configure(transfer: _Transfer, headers: Mapping[str, str], options: TransportOptions) -> bool:
    """Set up *transfer*'s handle to send exactly the request the Item asked for. Return whether
    options beyond the usual ones were set (the handle is then reset before reuse)."""
    curl, url, proxy = transfer.curl, transfer.url, transfer.proxy
    curl.setopt(pycurl.URL, url.encode("utf-8", "surrogateescape"))
    if transfer.scheme not in _HTTP:
        special = _files(curl, transfer, headers, options)
    elif headers == transfer.sent:
        special = False  # the handle holds these headers already (most requests of a run: all but Range)
    else:
        special = _http(curl, headers, options)
        transfer.sent = None if special else dict(headers)  # (a copy: the caller's may change)
    if options.http_version == "2-prior-knowledge":
        # Prior knowledge is of a cleartext server: over TLS the protocol is agreed by ALPN, as
        # curl does (libcurl's own prior knowledge over TLS fails a server of HTTP/1.1 only).
        wanted = "2" if transfer.scheme == "https" else "2-prior-knowledge"
        curl.setopt(pycurl.HTTP_VERSION, _VERSIONS[wanted])
    if proxy is None:
        return special  # (no proxy: as _constant left the handle)
    curl.setopt(pycurl.PROXY, proxy.url)
    curl.setopt(_SUPPRESS_CONNECT_HEADERS, 1)
    for name, value in proxy.headers:
        credentials = _basic_credentials(value) if name.lower() == "proxy-authorization" else None
        if credentials is not None:  # for a SOCKS proxy as for an HTTP one (sent only to the proxy)
            curl.setopt(pycurl.PROXYUSERNAME, credentials[0])
            curl.setopt(pycurl.PROXYPASSWORD, credentials[1])
    return True


def _http(curl: pycurl.Curl, headers: Mapping[str, str], options: TransportOptions) -> bool:
    special = False
    lines = [b"Accept:", b"Expect:", b"Pragma:"]  # none of libcurl's own: the policy's headers only
    for name, value in headers.items():
        if options.http_auth != "basic" and name.lower() == "authorization":
            credentials = _basic_credentials(value)
            if credentials is not None:
                # --digest, --anyauth, --ntlm: the Item chose these credentials for this origin;
                # libcurl answers the server's challenge with them.
                curl.setopt(pycurl.USERNAME, credentials[0])
                curl.setopt(pycurl.PASSWORD, credentials[1])
                curl.setopt(pycurl.HTTPAUTH, _AUTH[options.http_auth])
                special = True
                continue
        lines.append(f"{name}: {value}".encode("utf-8", "surrogateescape") if value else f"{name};".encode())
    curl.setopt(pycurl.HTTPHEADER, lines)
    return special


def _prepare(
    transfer: _Transfer, headers: Mapping[str, str], options: TransportOptions, reuse: _Reuse
) -> bool:
    """_configure and _fresh, a request libcurl refuses (or _configure does) as tulip's error;
    return whether the handle must be reset before its next request."""
    try:
        special = _configure(transfer, headers, options)
        _fresh(transfer, reuse.fresh(transfer))
    except (pycurl.error, UnicodeEncodeError, ValueError) as exc:
        raise FetchError(f"invalid URL: {exc}", url=transfer.url) from None
    return special


def _basic_credentials(value: str) -> tuple[str, str] | None:
    """The user and password of a Basic Authorization value (the policy's way of giving them)."""
    import base64
    import binascii

    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


def _ftp_size(lines: list[bytes]) -> int:
    """The size of an ftp file read to its end (never a resume: see _files), from the reply to the
    SIZE tulip sent just before RETR: the reply before RETR's. -1 where it gave none."""
    replies = [line for line in lines if line[:3].isdigit()]
    for at, line in enumerate(replies):
        if line[:3] in (b"125", b"150"):  # RETR's: the data comes
            before = replies[at - 1] if at else b""
            size = before[4:].strip()
            return int(size) if before[:4] == b"213 " and size.isdigit() else -1
    return -1


def _files(
    curl: pycurl.Curl, transfer: _Transfer, headers: Mapping[str, str], options: TransportOptions
) -> bool:
    """ftp://, ftps://, sftp://: the range asked for is a resume from an offset."""
    curl.setopt(pycurl.OPT_FILETIME, 1)
    # libcurl waits for an ftp server's last reply (226), and an sftp server's answer to closing the
    # file, inside socket_action, with no limit of tulip's: a server silent there froze the event
    # loop for a minute (ftp) or for ever (sftp). Both waits end within the read timeout now: ftp's
    # by libcurl's own option, ssh's by a progress callback (the one thing its wait still calls).
    curl.setopt(pycurl.FTP_RESPONSE_TIMEOUT, max(1, round(options.read_timeout)))
    if transfer.scheme in _SSH:
        # (later than the progress callback's: one libcurl times out says goodbye on a connection
        # not yet shut, and libssh2 waits its second for the stalled server; see silent_too_long)
        curl.setopt(pycurl.FTP_RESPONSE_TIMEOUT, max(1, round(options.read_timeout)) + 2)
        limit = options.read_timeout
        # The sockets this transfer made (not one of a connection reused): each with its inode, since
        # a number libcurl closed (happy eyeballs' loser) may be another connection's by now.
        opened: list[tuple[int, int]] = []

        def silent_too_long(*_counts: int) -> int:
            if time.monotonic() - transfer.touched <= limit:
                return 0
            if transfer.error is None:
                transfer.error = timed_out(transfer.url)
            # libssh2 then closes the remote file and says goodbye, waiting a second of its own for
            # the stalled server, in the event loop's thread: six transfers given up on were six
            # seconds of a frozen run. On a connection shut first there is nothing to wait for (it
            # was no use for another transfer anyway). (libcurl's getinfo may not be asked here.)
            for fd, inode in opened:
                _shut(fd, inode)
            return 1  # (CURLE_ABORTED_BY_CALLBACK: the error set here is the one that stands)

        def note_socket(fd: int, _purpose: int) -> int:
            with contextlib.suppress(OSError):
                opened.append((fd, os.fstat(fd).st_ino))
            return 0  # CURL_SOCKOPT_OK

        curl.setopt(pycurl.NOPROGRESS, 0)
        curl.setopt(pycurl.XFERINFOFUNCTION, silent_too_long)
        curl.setopt(pycurl.SOCKOPTFUNCTION, note_socket)
    transfer.resumed = _resume_offset(headers)
    transfer.unless = headers.get("If-None-Match")
    if transfer.scheme in _FTP and not transfer.http_answer and not transfer.resumed:
        # libcurl reads an ftp file up to the size SIZE gave and no further: the rest of a file that
        # grew meanwhile (or of a server wrong about its size) was never read, the server said 226
        # and the head was saved as the file, "ok". Read to the end of the data instead, as
        # wget does, the size asked just before (its answer read in _ftp_size; "*": a server
        # without SIZE is no error): a body longer than its size is then the Item's to refuse.
        # (Not on a resume: libcurl then sends no REST.)
        curl.setopt(pycurl.IGNORE_CONTENT_LENGTH, 1)
        # (the name as libcurl sends it to RETR: its bytes, whatever their encoding, without a
        # ;type= suffix)
        segment = urllib.parse.urlsplit(transfer.url).path.rpartition("/")[2].partition(";type=")[0]
        name = urllib.parse.unquote_to_bytes(segment)
        if name and not _FTP_UNSAFE.search(name):
            curl.setopt(pycurl.PREQUOTE, [b"*SIZE " + name])
    if transfer.resumed:
        curl.setopt(pycurl.RESUME_FROM_LARGE, transfer.resumed)
    # Credentials come as the policy gives them for this origin (a Basic Authorization); without
    # any, libcurl logs in to FTP as anonymous.
    credentials = _basic_credentials(headers.get("Authorization", "")) if "Authorization" in headers else None
    if credentials is not None:
        curl.setopt(pycurl.USERNAME, credentials[0])
        curl.setopt(pycurl.PASSWORD, credentials[1])
    if transfer.scheme == "ftps":
        curl.setopt(pycurl.USE_SSL, pycurl.USESSL_ALL)
    if transfer.scheme == "sftp":
        try:
            key = login_key(options.ssh_key, password=bool(credentials and credentials[1]))
        except ValueError as exc:  # (an RSA key: see _curl_keys)
            raise FetchError(f"cannot log in: {exc}", url=transfer.url) from None
        if key is not None:
            curl.setopt(pycurl.SSH_PRIVATE_KEYFILE, key)
        elif options.ssh_key is None and credentials and credentials[1]:
            curl.setopt(pycurl.SSH_AUTH_TYPES, pycurl.SSH_AUTH_PASSWORD | pycurl.SSH_AUTH_KEYBOARD)
        if options.key_passphrase is not None:
            curl.setopt(pycurl.KEYPASSWD, options.key_passphrase)
        if not options.tls.insecure:
            # An unknown or changed host key is refused, as curl does; with no known_hosts file at
            # all, every one (as ssh's StrictHostKeyChecking): left unset, libcurl took any key and
            # sent the password to it.
            curl.setopt(pycurl.SSH_KNOWNHOSTS, options.known_hosts or os.devnull)
    return True


def _unchanged(match: str, head: Mapping[str, str]) -> bool:
    """Whether an ftp or sftp file is the copy a -N request has: the Item's If-None-Match (*match*)
    holds the ETag made of the file's size and time, judged once the body begins (libcurl has asked
    both by then) and the transfer stopped there. A time alone never says so (If-Modified-Since
    with no ETag kept, where the server gave no size): a file grown with its old time kept
    (touch -r, rsync -t) would be taken for the copy — the reason libcurl's own TIMECONDITION is
    not used."""
    etag = head.get("etag")
    return etag is not None and any(tag.strip().removeprefix("W/") == etag for tag in match.split(","))


def _tls(curl: pycurl.Curl, options: TransportOptions) -> None:
    tls = options.tls
    if tls.insecure:
        curl.setopt(pycurl.SSL_VERIFYPEER, 0)
        curl.setopt(pycurl.SSL_VERIFYHOST, 0)
        return
    if tls.ca_certificate:
        curl.setopt(pycurl.CAINFO, tls.ca_certificate)
        capath = ssl.get_default_verify_paths().capath
        if capath and os.path.isdir(capath):
            curl.setopt(pycurl.CAPATH, capath)  # (the CA is added to the system's, not put in their place)
    if tls.client_cert:
        curl.setopt(pycurl.SSLCERT, tls.client_cert)
        if tls.client_key:
            curl.setopt(pycurl.SSLKEY, tls.client_key)


def _fresh(transfer: _Transfer, fresh: bool) -> None:
    """Ask libcurl for a new connection for *transfer*, or let it look for an idle one (set only
    where it changes: most requests of a run ask as the last one on the handle did)."""
    if transfer.fresh is not fresh:
        transfer.curl.setopt(pycurl.FRESH_CONNECT, fresh)
        transfer.fresh = fresh


def _silent(transfers: Iterable[_Transfer], now: float, limit: float) -> list[_Transfer]:
    """The transfers silent for longer than *limit* seconds since their connection was made (a
    connection still being made is libcurl's CONNECTTIMEOUT's)."""
    return [
        t for t in transfers
        if t.connected and not t.paused and not t.done and now - t.touched > limit
    ]  # fmt: skip


def _resume_offset(headers: Mapping[str, str]) -> int:
    """A non-HTTP request's Range (``bytes=N-``) is a resume from N."""
    wanted = headers.get("Range", "")
    if wanted.startswith("bytes=") and wanted.endswith("-") and wanted[6:-1].isdigit():
        return int(wanted[6:-1])
    return 0


def _break_off(multi: pycurl.CurlMulti, transfer: _Transfer) -> None:
    """Take an unfinished transfer out of libcurl. An ssh one is first given a timeout already past:
    libcurl closes the remote file before it lets go, and waits for the server's answer with no
    limit of its own. A server that stopped answering held the whole run — every other download,
    ``--timeout``, Ctrl-C and SIGTERM — until it was killed. (An ssh handle is reset before its
    next request, as every non-HTTP one is: see ``_configure``.)"""
    if transfer.scheme in _SSH:
        transfer.curl.setopt(pycurl.TIMEOUT_MS, 1)
        with contextlib.suppress(pycurl.error):  # (libssh2's own wait to say goodbye: see _files)
            fd = transfer.curl.getinfo(pycurl.ACTIVESOCKET)
            if fd >= 0:
                _shut(fd)
    multi.remove_handle(transfer.curl)


def _shut(fd: int, inode: int | None = None) -> None:
    """Shut down the connection of socket *fd*, libcurl's (which stays libcurl's to close); given
    its *inode*, only if *fd* is that socket still."""
    with contextlib.suppress(OSError):
        if inode is not None and os.fstat(fd).st_ino != inode:
            return
        with socket.socket(fileno=os.dup(fd)) as mine:
            mine.shutdown(socket.SHUT_RDWR)


class _Pool:
    """Easy handles to reuse (each keeps its DNS and TLS session caches warm), each with its
    transfer, the options every request shares set once; a handle that carried a request with
    options of its own is reset."""

    def __init__(self, options: TransportOptions, lock: threading.Lock | None = None) -> None:
        self._options = options
        self._lock = lock  # the transfers' (see _Transfer.lock)
        self._free: list[_Transfer] = []
        self._all: list[_Transfer] = []
        self._special: set[_Transfer] = set()

    @property
    def made(self) -> int:
        """Handles made so far: the most transfers the run has had at once."""
        return len(self._all)

    def take(self, url: str, proxy: Proxy | None) -> _Transfer:
        """A handle's transfer, begun for a request of *url*."""
        if self._free:
            transfer = self._free.pop()
            if transfer in self._special:
                self._special.discard(transfer)
                transfer.curl.reset()
                _constant(transfer.curl, self._options)
                transfer.wire()
        else:
            curl = pycurl.Curl()
            _constant(curl, self._options)
            transfer = _Transfer(curl, self._lock)
            self._all.append(transfer)
        transfer.begin(url, proxy)
        return transfer

    def mark(self, transfer: _Transfer) -> None:
        """*transfer*'s handle carries options beyond the run's: reset it before its next request."""
        self._special.add(transfer)

    def give(self, transfer: _Transfer) -> None:
        transfer.future = transfer.waiter = None
        self._free.append(transfer)

    def close(self) -> None:
        for transfer in self._all:
            transfer.curl.close()
        self._all.clear()
        self._free.clear()


# Idle connections libcurl may keep however few transfers the run has: enough for a run that
# goes round several origins (redirect chains, mirrors, a list over many hosts) one transfer at a
# time, few enough for the usual limit of 1,024 open files.
_POOL_FLOOR = 256


def _hold(multi: pycurl.CurlMulti, made: int) -> None:
    """Keep libcurl's connection pool at four connections for each of the *made* handles the run
    has made (the most transfers it has had at once; libcurl's documented default), and never
    below _POOL_FLOOR. Called as the run makes a handle more.

    Left to itself libcurl now guesses a limit of two connections for each transfer attached at the
    moment, closing only connections idle for a second. As a run's last transfers end that guess
    falls below the connections open, and every transfer that ends then has libcurl search each
    connection for one to close (c10k: the last 2,500 ends each searched 10,000 connections, a sixth
    of the run's CPU; the threads engine's c10k took 29 s, 10 s with a limit set). A limit set is
    enforced at once, whatever a connection's age: four per handle alone made a run at -c 1 over
    five origins open a connection for every request, hence the floor.
    """
    multi.setopt(pycurl.M_MAXCONNECTS, max(_POOL_FLOOR, 4 * made))


def check_built_in(http_auth: str) -> None:
    """Refuse, before any request, what this libcurl was built without (pycurl's wheels have no
    NTLM: every request with credentials failed as "invalid URL", one by one, and exited 1)."""
    if http_auth == "ntlm" and not pycurl.version_info()[4] & pycurl.VERSION_NTLM:
        raise UsageError("--ntlm: this libcurl was built without NTLM (pycurl's wheels are); "
                         "--anyauth or --digest may do, or a pycurl built on a libcurl with it")  # fmt: skip


def _multi(options: TransportOptions) -> pycurl.CurlMulti:
    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX)
    if options.per_host:
        multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, options.per_host)
    return multi


# -- asyncio ------------------------------------------------------------------------------------------


class CurlTransport:
    """libcurl's multi interface on the running event loop (the asyncio engine's transport)."""

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._multi: pycurl.CurlMulti | None = None
        self._pool = _Pool(options)
        self._reuse = _Reuse(options)
        self._by_curl: dict[pycurl.Curl, _Transfer] = {}
        self._sockets: Sockets | None = None
        # libcurl's timer: when it wants SOCKET_TIMEOUT (loop time), and the loop's calls that
        # will look: one at the next turn, one later (at _later_at). See _on_timer.
        self._due: float | None = None
        self._soon: asyncio.Handle | None = None
        self._later: asyncio.TimerHandle | None = None
        self._later_at = 0.0
        self._sweeper: asyncio.TimerHandle | None = None
        self._connecting = 0  # transfers added and not yet connected (or ended)
        self._queue: collections.deque[tuple[_Transfer, asyncio.Future[None]]] = collections.deque()
        self._draining = False
        self._heads: list[_Transfer] = []  # ftp and sftp transfers whose head is to be made
        self._held = 0  # handles libcurl's connection pool is kept for (see _hold)

    async def __aenter__(self) -> CurlTransport:
        loop = self._loop = asyncio.get_running_loop()
        multi = self._multi = _multi(self.options)
        sockets = self._sockets = Sockets()
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        loop.add_reader(sockets.fileno(), self._on_ready)
        return self

    async def __aexit__(self, *exc: object) -> None:
        multi, self._multi = self._multi, None
        for transfer in list(self._by_curl.values()):
            transfer.ended(TransportError("the run ended", url=transfer.url))
            if multi is not None:
                _break_off(multi, transfer)
        self._by_curl.clear()
        sockets, self._sockets = self._sockets, None
        if sockets is not None:
            if self._loop is not None:
                self._loop.remove_reader(sockets.fileno())
            sockets.close()
        for handle in (self._soon, self._later, self._sweeper):
            if handle is not None:
                handle.cancel()
        self._soon = self._later = self._sweeper = None
        if multi is not None:
            multi.close()
        self._pool.close()

    def get(self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None) -> _Get:
        return _Get(self, url, headers, proxy)

    # -- a transfer's life ----------------------------------------------------------------------

    def _start(
        self, url: str, headers: Mapping[str, str], proxy: Proxy | None
    ) -> tuple[_Transfer, asyncio.Future[None] | None]:
        """Set up a transfer and give it to libcurl — or, where _CONNECTING connection attempts are
        under way, queue it: then with the future that says when it went (``_Get`` awaits it)."""
        assert self._multi is not None and self._loop is not None
        transfer = self._pool.take(url, proxy)
        curl = transfer.curl
        try:
            if _prepare(transfer, headers, self.options, self._reuse):
                self._pool.mark(transfer)
        except FetchError:
            self._pool.mark(transfer)
            self._pool.give(transfer)
            raise
        self._by_curl[curl] = transfer
        if self._connecting >= _CONNECTING:
            ready: asyncio.Future[None] = self._loop.create_future()
            self._queue.append((transfer, ready))
            return transfer, ready
        self._add(transfer)
        return transfer, None

    def _add(self, transfer: _Transfer) -> None:
        assert self._multi is not None
        self._connecting += 1
        transfer.on_connected = self._connected
        transfer.heads = self._heads
        transfer.started = transfer.touched = time.monotonic()
        if (made := self._pool.made) > self._held:
            self._held = made
            _hold(self._multi, made)
        self._multi.add_handle(transfer.curl)
        if self._sweeper is None:
            self._sweep_later()

    def _release(self, transfer: _Transfer, added: bool = True) -> None:
        """The engine is done with *transfer*: stop it if it is still going; its handle goes back.
        *added*: whether libcurl was given it (not, where it was given up while queued)."""
        curl = transfer.curl
        if self._by_curl.pop(curl, None) is not None and added and self._multi is not None:
            _break_off(self._multi, transfer)  # (libcurl closes the connection)
            self._settle(transfer)
        self._pool.give(transfer)

    def _settle(self, transfer: _Transfer) -> None:
        """A transfer left the multi handle: if it never connected, its slot goes to a waiting one."""
        if transfer.on_connected is not None:
            transfer.on_connected = None
            self._connected()

    def _connected(self) -> None:
        """A connection attempt is over (made, or given up): a waiting transfer may start. (Called
        from libcurl's callbacks too, where no handle may be added: the start waits a loop turn.)"""
        self._connecting -= 1
        if self._queue and not self._draining and self._loop is not None:
            self._draining = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._draining = False
        while self._queue and self._connecting < _CONNECTING and self._multi is not None:
            waiting, ready = self._queue.popleft()
            if not ready.done():
                self._add(waiting)
                ready.set_result(None)

    def _wait(self, transfer: _Transfer) -> asyncio.Future[None]:
        """What the reader of *transfer* awaits: done at libcurl's next word on it."""
        assert self._loop is not None
        future = transfer.future = self._loop.create_future()
        return future

    def _resume(self, transfer: _Transfer) -> None:
        transfer.paused = False
        transfer.touched = time.monotonic()
        if not transfer.stalled or transfer.done:
            # Nothing was refused yet (the body may even have ended since): libcurl is not paused,
            # and curl_easy_pause on a finished transfer fails (error 43: it has no connection).
            return
        transfer.stalled = False
        try:
            transfer.curl.pause(pycurl.PAUSE_CONT)
        except pycurl.error as exc:
            transfer.ended(failure(exc.args[0], str(exc.args[1]), transfer))
        self._on_timer(0)

    # -- libcurl <-> the loop ------------------------------------------------------------------------

    def _on_socket(self, what: int, fd: int, multi: object, data: object) -> None:
        try:
            if self._sockets is not None:
                self._sockets.watch(what, fd)
        except (KeyboardInterrupt, SystemExit) as exc:  # (kept for _socket_action: see _caught)
            _caught.append(exc)

    def _on_timer(self, ms: int) -> None:
        """libcurl's word on when to call it back (-1: never mind). Said twice a request (a call at
        once as a transfer is added, then its timeout, later each time), so the loop's calls are
        not remade for each word: one at the next turn serves every "now" said before it runs, and
        one that is due no later than what libcurl asks looks then, and again at the time asked
        if libcurl's word has moved on. A look too early costs a turn; libcurl's time is never
        missed."""
        try:
            loop = self._loop
            if loop is None:
                return
            if ms < 0:
                self._due = None
                return
            if ms == 0:
                self._due = 0.0  # (at once: earlier than any time of the loop's clock)
                if self._soon is None:
                    self._soon = loop.call_soon(self._look_soon)
                return
            self._due = loop.time() + ms / 1000
            self._call_by(loop, self._due)
        except (KeyboardInterrupt, SystemExit) as exc:  # (kept for _socket_action: see _caught)
            _caught.append(exc)

    def _call_by(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        """Have the loop look at *due* at the latest (a later call due sooner is kept)."""
        if self._later is not None:
            if self._later_at <= due:
                return
            self._later.cancel()
        self._later = loop.call_at(due, self._look_later)
        self._later_at = due

    def _look_soon(self) -> None:
        self._soon = None
        self._look()

    def _look_later(self) -> None:
        self._later = None
        self._look()

    def _look(self) -> None:
        due, loop = self._due, self._loop
        if due is None or loop is None:
            return
        if due > loop.time() + 0.001:  # not yet: libcurl asked for later since
            self._call_by(loop, due)
            return
        self._due = None
        self._act(pycurl.SOCKET_TIMEOUT, 0)

    def _on_ready(self) -> None:
        multi, sockets = self._multi, self._sockets
        if multi is None or sockets is None:
            return
        for fd, what in sockets.ready(0.0, _READY_AT_ONCE):
            _socket_action(multi, fd, what)
        self._after()

    def _act(self, fd: int, what: int) -> None:
        multi = self._multi
        if multi is None:
            return
        _socket_action(multi, fd, what)
        self._after()

    def _after(self) -> None:
        """What follows libcurl's work: ftp and sftp heads made, ended transfers collected."""
        heads = self._heads
        while heads:
            heads.pop().make_head()
        self._collect()

    def _collect(self) -> None:
        assert self._multi is not None
        _read_info(self._multi, self._ended)

    def _ended(self, curl: pycurl.Curl, problem: tuple[int, str] | None) -> None:
        transfer = self._by_curl.pop(curl, None)
        if transfer is None:
            return
        assert self._multi is not None
        self._multi.remove_handle(curl)
        self._settle(transfer)
        transfer.ended(
            failure(problem[0], problem[1], transfer) if problem is not None else None, self._reuse
        )

    # -- the read timeout: one sweep for every transfer, not a timer each ----------------------------

    def _sweep_later(self) -> None:
        assert self._loop is not None
        tick = max(0.005, min(1.0, self.options.read_timeout / 8))
        self._sweeper = self._loop.call_later(tick, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        for transfer in _silent(self._by_curl.values(), now, self.options.read_timeout):
            self._by_curl.pop(transfer.curl, None)
            if self._multi is not None:
                _break_off(self._multi, transfer)
            transfer.ended(timed_out(transfer.url))
        if self._by_curl:
            self._sweep_later()


class _Get:
    """``async with transport.get(...) as response`` (the _Get is the response too: one object a
    request): the request out and its head in on the way in; the transfer stopped (if unfinished)
    and its handle back in the pool on the way out — or at once, where no head came (the exit of
    an ``async with`` whose enter raised is never called)."""

    __slots__ = ("_headers", "_proxy", "_transfer", "_transport", "_url", "headers", "http_version", "status")

    def __init__(self, transport: CurlTransport, url: str, headers: Mapping[str, str], proxy: Proxy | None):
        self._transport = transport
        self._url = url
        self._headers = headers
        self._proxy = proxy
        self._transfer: _Transfer | None = None
        self.status = 0
        self.headers: Mapping[str, str] = {}
        self.http_version = ""

    async def __aenter__(self) -> _Get:
        transport = self._transport
        transfer, queued = transport._start(self._url, self._headers, self._proxy)
        try:
            if queued is not None:
                await queued
            while not transfer.status and not transfer.done:
                await transport._wait(transfer)
            if not transfer.status:
                raise transfer.error or TransportError("server closed the connection", url=self._url)
        except BaseException:
            transport._release(transfer, added=queued is None or not queued.cancelled())
            raise
        self._transfer = transfer
        self.status, self.headers, self.http_version = transfer.status, transfer.headers, transfer.version
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transfer is not None:
            self._transport._release(self._transfer)

    async def read(self, n: int) -> bytes:
        taken = await self.read_chunks(n)
        return taken[0] if len(taken) == 1 else b"".join(taken)

    async def read_chunks(self, n: int) -> list[bytes]:
        """As ``read``, in the pieces libcurl gave (none at the end): see ``chunk_reader``."""
        transfer = self._transfer
        assert transfer is not None
        transfer.high = n * _AHEAD
        while not transfer.chunks:
            if transfer.error is not None:
                raise transfer.error
            if transfer.done:
                return []
            await self._transport._wait(transfer)
        taken = transfer.take_chunks(n)
        if transfer.paused and transfer.held <= transfer.high >> 2:
            self._transport._resume(transfer)
        return taken


# -- threads -------------------------------------------------------------------------------------------


class _Driver(threading.Thread):
    """One thread that drives libcurl for every blocking caller: a multi handle (so connections are
    reused and limited across threads, as in the asyncio engine), its sockets in an epoll set.
    Callers hand it work through a queue and a wake-up pipe and wait on their transfer's event."""

    def __init__(self, options: TransportOptions, inline: bool = False) -> None:
        super().__init__(name="tulip-curl", daemon=True)
        self.options = options
        # inline: no thread of its own — the callers drive it while they wait, one at a time
        # (whoever takes _driving; the others wait on their events and are woken to take over).
        # One caller (the sequential engine) then never waits for a hand-off between threads:
        # three thread switches per file were most of its time.
        self.inline = inline
        self._driving = threading.Lock()
        self._waiters: set[threading.Event] = set()
        self.multi = _multi(options)
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.sockets = Sockets(wake=self._wake_r)
        self.due: float | None = None  # when libcurl wants SOCKET_TIMEOUT
        self.lock = threading.Lock()  # a transfer's chunks, between this thread and its reader
        self.pool = _Pool(options, self.lock)
        self.reuse = _Reuse(options)  # (read in callers' threads, kept here: a guess, see _Reuse)
        self._pool_lock = threading.Lock()
        self._inbox: collections.deque[tuple[str, _Transfer | None]] = collections.deque()
        self._woken = False  # a byte is on the wake-up pipe for what waits in _inbox
        self._heads: list[_Transfer] = []
        self._by_curl: dict[pycurl.Curl, _Transfer] = {}
        # As in the asyncio transport: at most _CONNECTING connection attempts at once, the rest
        # wait their turn here (ten thousand SYNs at once overflow the server's backlog, and the
        # attempts then wait out the kernel's retransmission timers: c10k took minutes).
        self._connecting = 0
        self._waiting: collections.deque[_Transfer] = collections.deque()
        self._stopping = False
        self._last_sweep = time.monotonic()
        self._held = 0  # handles libcurl's connection pool is kept for (see _hold)

    # -- from the callers' threads ----------------------------------------------------------------

    def take(self, url: str, proxy: Proxy | None) -> _Transfer:
        with self._pool_lock:
            return self.pool.take(url, proxy)

    def submit(self, what: str, transfer: _Transfer | None) -> None:
        self._inbox.append((what, transfer))
        # One byte on the pipe until the driver next empties the inbox (it clears _woken first, so
        # nothing appended after is missed): a hundred threads handing work over each wrote one.
        # (Inline with nobody driving: taken at the next turn, no byte needed.)
        if not self._woken and (not self.inline or self._driving.locked()):
            self._woken = True
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"x")

    def stop(self) -> None:
        self._stopping = True
        if self.inline:
            with self._driving:
                self._close()
            return
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self.join(10)

    def wait(
        self, event: threading.Event, ready: Callable[[], bool], deadline: float | None, url: str
    ) -> None:
        """Return once *ready* says so: the event set by the transfer, or (inline) driving libcurl
        until then. No periodic wake-up: the driver sets the event for every change, and ends every
        transfer (waking its reader) when it stops — ten thousand readers polling once a second kept
        the GIL so busy that starting the pool's threads took minutes."""
        if not self.inline:
            _wait_for(event, ready, deadline, url)
            return
        waiters = self._waiters
        waiters.add(event)
        try:
            while True:
                event.clear()
                if ready():
                    return
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise _late(url)
                if self._driving.acquire(blocking=False):
                    try:
                        self._turn(1.0 if left is None else left)
                    finally:
                        self._driving.release()
                        for other in list(waiters):  # somebody else may need the wheel now
                            other.set()
                else:
                    event.wait(left)
        finally:
            waiters.discard(event)

    # -- this thread --------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self._stopping:
                self._turn(1.0)
        finally:
            self._close()

    def _turn(self, limit: float) -> None:
        """One round: start what was handed over, wait (at most *limit* s) for sockets or libcurl's
        timer, let libcurl act, time out the silent."""
        self._take_work()
        now = time.monotonic()
        wait = 1.0 if self.due is None else max(0.0, self.due - now)
        ready = self.sockets.ready(max(0.0, min(wait, self._tick(), limit)))
        if ready:
            for fd, what in ready:
                _socket_action(self.multi, fd, what)
            self._after()
        self._take_work()
        if self.due is not None and time.monotonic() >= self.due:
            self.due = None
            self._act(pycurl.SOCKET_TIMEOUT, 0)
        self._sweep()

    def _close(self) -> None:
        for transfer in list(self._by_curl.values()):
            self._drop(transfer)
            transfer.ended(TransportError("the run ended", url=transfer.url))
        self.multi.close()
        self.sockets.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        with self._pool_lock:
            self.pool.close()

    def _tick(self) -> float:
        return max(0.005, min(1.0, self.options.read_timeout / 8))

    def _take_work(self) -> None:
        self._woken = False
        inbox = self._inbox
        if inbox:
            self.due = time.monotonic()  # libcurl starts what was added at its next timeout call
        while inbox:
            what, transfer = inbox.popleft()
            if transfer is None:  # "interrupt": every transfer ends, its reader woken
                for going in list(self._by_curl.values()):
                    self._drop(going)
                    going.ended(TransportError("interrupted", url=going.url))
                self._waiting.clear()
                continue
            curl = transfer.curl
            if what == "add":
                self._by_curl[curl] = transfer
                if self._connecting < _CONNECTING:
                    self._add(transfer)
                else:
                    self._waiting.append(transfer)
            elif what == "resume":
                if curl in self._by_curl:
                    transfer.touched = time.monotonic()
                    try:
                        curl.pause(pycurl.PAUSE_CONT)
                    except pycurl.error as exc:
                        self._drop(transfer)
                        transfer.ended(failure(exc.args[0], str(exc.args[1]), transfer))
            elif what == "release":
                self._drop(transfer)
                with self._pool_lock:
                    self.pool.give(transfer)
        self._start_waiting()

    def _add(self, transfer: _Transfer) -> None:
        self._connecting += 1
        transfer.on_connected = self._connected
        transfer.heads = self._heads
        transfer.started = transfer.touched = time.monotonic()
        if (made := self.pool.made) > self._held:  # (made counts under the pool's lock; read whole here)
            self._held = made
            _hold(self.multi, made)
        self.multi.add_handle(transfer.curl)

    def _connected(self) -> None:
        """A connection attempt is over (made, or given up): a waiting transfer may start (after
        this socket_action: no handle may be added inside libcurl's callbacks)."""
        self._connecting -= 1

    def _start_waiting(self) -> None:
        waiting = self._waiting
        while waiting and self._connecting < _CONNECTING:
            transfer = waiting.popleft()
            # Not released while it waited, nor added already: a transfer is its handle's for
            # every request, so one released here and taken again may have two places in line.
            if self._by_curl.get(transfer.curl) is transfer and transfer.heads is None:
                self._add(transfer)
                self.due = time.monotonic()

    def _on_socket(self, what: int, fd: int, multi: object, data: object) -> None:
        try:
            self.sockets.watch(what, fd)
        except (KeyboardInterrupt, SystemExit) as exc:  # (kept for _socket_action: see _caught)
            _caught.append(exc)

    def _on_timer(self, ms: int) -> None:
        try:
            self.due = None if ms < 0 else time.monotonic() + ms / 1000
        except (KeyboardInterrupt, SystemExit) as exc:  # (kept for _socket_action: see _caught)
            _caught.append(exc)

    def _act(self, fd: int, what: int) -> None:
        _socket_action(self.multi, fd, what)
        self._after()

    def _after(self) -> None:
        heads = self._heads
        while heads:
            heads.pop().make_head()
        _read_info(self.multi, self._ended)

    def _ended(self, curl: pycurl.Curl, problem: tuple[int, str] | None) -> None:
        transfer = self._by_curl.pop(curl, None)
        if transfer is None:
            return
        self.multi.remove_handle(curl)
        self._settle(transfer)
        error = failure(problem[0], problem[1], transfer) if problem is not None else None
        transfer.ended(error, self.reuse)

    def _drop(self, transfer: _Transfer) -> None:
        if self._by_curl.pop(transfer.curl, None) is not None:
            if transfer.heads is not None:  # (added: one that still waited never reached libcurl)
                _break_off(self.multi, transfer)
            self._settle(transfer)

    def _settle(self, transfer: _Transfer) -> None:
        """A transfer left: if it never connected, its attempt's slot is free."""
        if transfer.on_connected is not None:
            transfer.on_connected = None
            self._connecting -= 1

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < self._tick():
            return
        self._last_sweep = now
        for transfer in _silent(self._by_curl.values(), now, self.options.read_timeout):
            self._drop(transfer)
            transfer.ended(timed_out(transfer.url))


class CurlSyncTransport:
    """libcurl for the threads and sequential engines: one driver thread runs a multi handle for
    every caller (connections reused and limited across threads); a caller waits on its transfer."""

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self._driver: _Driver | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> CurlSyncTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            driver, self._driver = self._driver, None
        if driver is not None:
            driver.stop()

    def interrupt(self) -> None:
        """End every transfer under way, waking its reader (the run is interrupted): a reader of a
        server that had stopped sending waited out the read timeout before Ctrl-C could end the run."""
        with self._lock:
            driver = self._driver
        if driver is not None:
            driver.submit("interrupt", None)

    def _started(self) -> _Driver:
        with self._lock:
            if self._driver is None:
                # One caller at a time (the sequential engine, or -c 1): it drives libcurl itself.
                self._driver = _Driver(self.options, inline=self.options.concurrency <= 1)
                if not self._driver.inline:
                    self._driver.start()
            return self._driver

    def get(
        self, url: str, headers: Mapping[str, str], proxy: Proxy | None = None, deadline: float | None = None
    ) -> _SyncGet:
        return _SyncGet(self._started(), url, headers, proxy, deadline)


class _SyncGet:
    __slots__ = ("_deadline", "_driver", "_event", "_headers", "_proxy", "_transfer", "_url")

    def __init__(
        self,
        driver: _Driver,
        url: str,
        headers: Mapping[str, str],
        proxy: Proxy | None,
        deadline: float | None,
    ) -> None:
        self._driver = driver
        self._url = url
        self._headers = headers
        self._proxy = proxy
        self._deadline = deadline
        self._transfer: _Transfer | None = None
        self._event = threading.Event()

    def __enter__(self) -> _SyncResponse:
        driver = self._driver
        transfer = driver.take(self._url, self._proxy)
        try:
            special = _prepare(transfer, self._headers, driver.options, driver.reuse)
        except FetchError:
            with driver._pool_lock:
                driver.pool.mark(transfer)
                driver.pool.give(transfer)
            raise
        if special:
            with driver._pool_lock:
                driver.pool.mark(transfer)
        event = self._event
        transfer.waiter = event.set
        driver.submit("add", transfer)
        try:
            driver.wait(event, lambda: bool(transfer.status or transfer.done), self._deadline, transfer.url)
            if not transfer.status:
                raise transfer.error or TransportError("server closed the connection", url=self._url)
        except BaseException:  # (a with statement never calls the exit of an enter that raised)
            transfer.waiter = None
            driver.submit("release", transfer)
            raise
        self._transfer = transfer
        return _SyncResponse(driver, transfer, event, self._deadline)

    def __exit__(self, *exc: object) -> None:
        transfer = self._transfer
        if transfer is not None:
            transfer.waiter = None
            self._driver.submit("release", transfer)


def _wait_for(event: threading.Event, ready: Callable[[], bool], deadline: float | None, url: str) -> None:
    while True:
        event.clear()
        if ready():
            return
        if deadline is None:
            event.wait()
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            raise _late(url)
        event.wait(left)


class _SyncResponse:
    __slots__ = ("_deadline", "_driver", "_event", "_transfer", "headers", "http_version", "status")

    def __init__(self, driver: _Driver, transfer: _Transfer, event: threading.Event, deadline: float | None):
        self._driver = driver
        self._transfer = transfer
        self._event = event
        self._deadline = deadline
        self.status = transfer.status
        self.headers = transfer.headers
        self.http_version = transfer.version

    def read(self, n: int) -> bytes:
        transfer = self._transfer
        transfer.high = n * _AHEAD
        while True:
            if transfer.chunks:
                with self._driver.lock:
                    data = transfer.take(n)
                    resume = transfer.paused and transfer.held <= transfer.high >> 2
                    if resume:
                        transfer.paused = False
                        resume = transfer.stalled and not transfer.done  # (see CurlTransport._resume)
                        transfer.stalled = False
                if resume:
                    self._driver.submit("resume", transfer)
                return data
            if transfer.error is not None:
                raise transfer.error
            if transfer.done:
                return b""
            self._driver.wait(
                self._event, lambda: bool(transfer.chunks or transfer.done), self._deadline, transfer.url
            )


def _late(url: str) -> FetchError:
    from aiotulip.errors import Timeout

    return Timeout("item took longer than its total timeout", url=url)
