"""libcurl's error codes in tulip's words: one table from a code to the FetchError the retry policy
and the Report understand, with the same messages the other transports use (``_errors``).

Codes are libcurl's (``curl/curl.h``); pycurl names some of them, not all.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

import pycurl

from aiotulip.download.http.proxies import Proxy, proxy_refused, sends_credentials
from aiotulip.download.transports._errors import read_timeout, tls_failed
from aiotulip.errors import (
    CertificateError,
    FetchError,
    HTTPStatusError,
    IntegrityError,
    ProtocolError,
    ProxyError,
    ResolveError,
    Timeout,
    TransportError,
)

__all__ = ["Ended", "failure", "timed_out"]


class Ended(Protocol):
    """What the table reads of a transfer that libcurl ended."""

    url: str
    scheme: str
    proxy: Proxy | None
    curl: pycurl.Curl
    status: int
    connected: bool
    error: FetchError | None
    http_answer: bool  # the answer is an HTTP one (not an ftp or sftp server's own)

    @property
    def headers(self) -> Mapping[str, str]: ...


_FIX_TRUST = "use --ca-certificate FILE to trust its issuer, or --insecure to skip the check"
_OS_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
}

UNSUPPORTED_PROTOCOL, URL_MALFORMAT, COULDNT_RESOLVE_PROXY, COULDNT_RESOLVE_HOST = 1, 3, 5, 6
COULDNT_CONNECT, WEIRD_SERVER_REPLY, REMOTE_ACCESS_DENIED, HTTP2, PARTIAL_FILE = 7, 8, 9, 16, 18
WRITE_ERROR, OPERATION_TIMEDOUT, FTP_COULDNT_USE_REST, RANGE_ERROR, SSL_CONNECT_ERROR = 23, 28, 31, 33, 35
BAD_DOWNLOAD_RESUME, ABORTED_BY_CALLBACK, GOT_NOTHING, SEND_ERROR, RECV_ERROR = 36, 42, 52, 55, 56
SSL_CERTPROBLEM, PEER_FAILED_VERIFICATION, USE_SSL_FAILED, LOGIN_DENIED = 58, 60, 64, 67
SSL_CACERT_BADFILE, REMOTE_FILE_NOT_FOUND, SSH, HTTP2_STREAM, HTTP3, QUIC_CONNECT_ERROR = (
    77,
    78,
    79,
    92,
    95,
    96,
)
PROXY, SSL_CLIENTCERT, TOO_LARGE = 97, 98, 100


def timed_out(url: str) -> Timeout:
    return read_timeout(url)


def failure(code: int, message: str, transfer: Ended) -> FetchError | None:
    """Return the error a transfer that libcurl ended with *code* (and *message*) meets; None when the
    end is not one for the Item (a body cut short where its length is known: the Item counts the
    bytes, says so and resumes)."""
    if transfer.error is not None:
        return transfer.error  # refused by our own checks (the framing, the head's size)
    url, proxy = transfer.url, transfer.proxy
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or {"https": 443, "ftp": 21, "ftps": 990, "sftp": 22}.get(transfer.scheme, 80)
    except ValueError:
        port = 0
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    curl = transfer.curl
    if code == PARTIAL_FILE and transfer.status and "content-length" in transfer.headers:
        if transfer.http_answer:
            return None
        # An ftp server's size (SIZE) is what libcurl stops reading at: the count always matches.
        # Its final answer is what tells a whole file (226) from one cut short or grown meanwhile
        # (426, "transfer aborted"), saved as complete and "ok" when this was left to the count.
        return TransportError(f"the server did not finish the transfer ({message.strip()})", url=url)
    if code in (PARTIAL_FILE, GOT_NOTHING):
        return TransportError("server closed the connection", url=url)
    if code == COULDNT_RESOLVE_HOST:
        return ResolveError(f"name not resolved: {host}", url=url, transient=False)
    if code == COULDNT_RESOLVE_PROXY:
        return ProxyError(
            f"cannot reach the proxy: name not resolved: {_host(proxy)}", url=url, transient=False
        )
    if code == OPERATION_TIMEDOUT:
        if not transfer.connected:
            if proxy is not None:
                return ProxyError(f"timed out connecting to the proxy {proxy.address}", url=url)
            return Timeout(f"timed out connecting to {where}", url=url)
        return read_timeout(url)
    if code in (COULDNT_CONNECT, RECV_ERROR, SEND_ERROR) and proxy is not None:
        tunnel = _info(curl, pycurl.HTTP_CONNECTCODE)
        if tunnel and tunnel >= 300:
            return proxy_refused(proxy.address, tunnel, url=url, credentials=sends_credentials(proxy))
        if code == COULDNT_CONNECT and not transfer.connected:
            return ProxyError(f"cannot reach the proxy {proxy.address}: {_os_words(curl, message)}", url=url)
    if code == COULDNT_CONNECT:
        return TransportError(f"{_os_words(curl, message)}: {where}", url=url)
    if code == RECV_ERROR and "chunk" in message.lower():
        return ProtocolError(f"bad response: {message}", url=url)  # a malformed chunk: never retried
    if code in (RECV_ERROR, SEND_ERROR):
        words = _os_words(curl, message)
        return TransportError(f"{words}: {where}" if words == "connection reset" else words, url=url)
    if code == PEER_FAILED_VERIFICATION:
        if transfer.scheme == "sftp":
            said = f": {message}" if message.strip() else ""
            return CertificateError(
                f"host key not trusted{said}: the known_hosts file (--known-hosts; ~/.ssh/known_hosts, with "
                "none there: no key is trusted) holds another key for this host, or none — a new host's is "
                f"added as `ssh-keyscan -p {port} {host}` prints it. A changed key may be somebody in "
                "between: find out why before you trust it (--insecure takes any)",
                url=url,
            )
        reason = message.partition(": ")[2] or message
        if "subject name" in message or "hostname" in message.lower():
            return CertificateError(
                f"certificate not trusted: {reason} (it names another host; --insecure skips the check)",
                url=url,
            )
        return CertificateError(f"certificate not trusted: {reason} ({_FIX_TRUST})", url=url)
    if code in (SSL_CONNECT_ERROR, USE_SSL_FAILED, QUIC_CONNECT_ERROR):
        # An https:// proxy's own TLS failed where no tunnel was made through it (or none was
        # needed: an http:// URL is asked of the proxy itself).
        of_proxy = (
            proxy is not None
            and proxy.scheme == "https"
            and (transfer.scheme == "http" or not _info(curl, pycurl.HTTP_CONNECTCODE))
        )
        return tls_failed(message, url, proxy=proxy.address if of_proxy and proxy is not None else None)
    if code in (SSL_CERTPROBLEM, SSL_CLIENTCERT, SSL_CACERT_BADFILE):
        return FetchError(f"TLS cannot be set up: {message}", url=url)
    if code in (WEIRD_SERVER_REPLY, TOO_LARGE, HTTP2, HTTP2_STREAM, HTTP3):
        return ProtocolError(f"bad response: {message or _PROTOCOL_WORDS.get(code, f'libcurl error {code}')}",
                             url=url)  # fmt: skip
    if code == UNSUPPORTED_PROTOCOL and "HTTP/0.9" in message:
        # Bytes that are no status line: libcurl takes them for HTTP/0.9, which it refuses with this code.
        return ProtocolError(f"bad response: not an HTTP answer ({message})", url=url)
    if code == UNSUPPORTED_PROTOCOL:
        return FetchError(f"unsupported URL scheme: {transfer.scheme}://", url=url)
    if code == URL_MALFORMAT:
        return FetchError(f"invalid URL: {message}", url=url)
    if code == REMOTE_FILE_NOT_FOUND:
        error = HTTPStatusError(404, url=url)
        error.args = (f"not found on the server ({transfer.scheme})",)
        return error
    if code == REMOTE_ACCESS_DENIED:
        return FetchError(f"access denied by the server: {message}", url=url)
    if code == LOGIN_DENIED:
        return FetchError(f"login denied by {host}: check the user and password", url=url)
    if code in (FTP_COULDNT_USE_REST, RANGE_ERROR, BAD_DOWNLOAD_RESUME):
        # The server cannot continue the part: a wrong-bytes failure starts it over on the next try.
        return IntegrityError(f"the server cannot resume this file: {message}", url=url)
    if code == SSH:
        said = message.strip()
        return TransportError(
            f"SSH failed: {said}" if said else "SSH failed (the server gave no reason)", url=url
        )
    if code == PROXY and proxy is not None:
        unreached = _SOCKS_REACH.get(_info(curl, pycurl.PROXY_ERROR))
        if unreached is not None:  # the proxy is fine and could not reach the server: retried, as direct
            return ProxyError(f"the proxy {proxy.address} could not reach {where}: {unreached}", url=url)
        return ProxyError(f"the proxy {proxy.address} refused: {message}", url=url, transient=False)
    if code in (WRITE_ERROR, ABORTED_BY_CALLBACK):
        return TransportError("the transfer was stopped", url=url)
    return TransportError(f"transfer failed: {message} (libcurl error {code})", url=url)


# A SOCKS proxy's replies that say the server is out of its reach for now (CURLINFO_PROXY_ERROR's
# CURLPX_REPLY_*, and a proxy that closed before replying): what a direct connection refused or
# unreachable is, and retried as it is. Refusals of the request itself (not allowed, auth,
# unsupported) are not.
_SOCKS_REACH = {
    3: "the proxy closed the connection",
    19: "connection refused",
    20: "the proxy's general failure",
    21: "host unreachable",
    22: "network unreachable",
    24: "TTL expired",
}

# What libcurl leaves unsaid (its message is often empty after the first failure on a connection).
_PROTOCOL_WORDS = {
    WEIRD_SERVER_REPLY: "not an HTTP answer",
    TOO_LARGE: "the head is too large",
    HTTP2: "HTTP/2 failed (a server that does not speak HTTP/2 answers --http2-prior-knowledge so)",
    HTTP2_STREAM: "the HTTP/2 stream was reset",
    HTTP3: "HTTP/3 failed",
}


def _info(curl: pycurl.Curl, what: int) -> int:
    try:
        return int(curl.getinfo(what))
    except Exception:  # a handle already reset: nothing to tell
        return 0


def _os_words(curl: object, message: str) -> str:
    number = _info(curl, pycurl.OS_ERRNO)
    return _OS_WORDS.get(number) or (message.lower() if message else "connection failed")


def _host(proxy: object) -> str:
    return getattr(proxy, "host", "") or ""
