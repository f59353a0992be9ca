"""Connection failures in the same words whatever the transport: refused, name not resolved,
certificate not trusted, proxy unreachable — each as the FetchError the retry policy understands."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

from aiotulip.errors import (
    CertificateError,
    FetchError,
    ProtocolError,
    ProxyError,
    ResolveError,
    Timeout,
    TransportError,
)

if TYPE_CHECKING:
    import ssl

__all__ = ["builtin_only", "connect_error", "read_timeout", "tls_error"]

_FIX_TRUST = "use --ca-certificate FILE to trust its issuer, or --insecure to skip the check"
_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH


def connect_error(exc: BaseException, host: str, port: int, *, url: str, proxy: bool = False) -> FetchError:
    """Return the FetchError for a failure to open a connection to *host*:*port*."""
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    if isinstance(exc, FetchError):
        return exc
    import ssl  # only on a failure: a run that never meets https need not load it

    if isinstance(exc, ssl.SSLError):
        return tls_error(exc, url=url)
    if isinstance(exc, socket.gaierror):
        transient = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", -11))
        error: FetchError = ResolveError(f"name not resolved: {host}", url=url, transient=transient)
        if proxy:
            error = ProxyError(f"cannot reach the proxy: name not resolved: {host}", url=url, transient=False)
        return error
    if isinstance(exc, TimeoutError | socket.timeout):
        if proxy:
            return ProxyError(f"timed out connecting to the proxy {where}", url=url)
        return Timeout(f"timed out connecting to {where}", url=url)
    if isinstance(exc, OSError):
        what = _WORDS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower() or "connection failed"
        if proxy:
            return ProxyError(f"cannot reach the proxy {where}: {what}", url=url)
        return TransportError(f"{what}: {where}", url=url)
    return TransportError(f"cannot connect to {where}: {exc}", url=url)


def tls_error(exc: ssl.SSLError, *, url: str) -> FetchError:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "verification failed"
        if exc.verify_code == _HOSTNAME_MISMATCH:
            return CertificateError(f"certificate not trusted: {reason} (it names another host; "
                                    "--insecure skips the check)", url=url)  # fmt: skip
        return CertificateError(f"certificate not trusted: {reason} ({_FIX_TRUST})", url=url)
    return tls_failed(str(exc.reason or exc), url)


def tls_failed(reason: str, url: str, proxy: str | None = None) -> FetchError:
    """A TLS handshake that failed: worth another try (a server overloaded, a connection cut),
    except where the server answered in plain text — an http:// server on the port an https:// URL
    names, which would answer every retry so (OpenSSL: "wrong version number"). *proxy*: the
    address of an https:// proxy whose own handshake it was."""
    if "wrong version number" in reason.lower().replace("_", " "):
        if proxy is not None:
            return ProxyError(f"TLS failed: the proxy {proxy} does not speak TLS ({reason}); is the proxy "
                              "URL http://?", url=url, transient=False)  # fmt: skip
        return ProtocolError(
            f"TLS failed: the server does not speak TLS on this port ({reason}); is the URL http://?", url=url
        )
    if proxy is not None:
        return ProxyError(f"TLS with the proxy {proxy} failed: {reason}", url=url)
    return TransportError(f"TLS failed: {reason}", url=url)


def read_timeout(url: str) -> Timeout:
    return Timeout("timed out waiting for the server", url=url)


_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
}


def builtin_only(url: str, proxy: object, transport: str) -> None:
    """Raise unless *url* and *proxy* are what the built-in transports speak: http(s) URLs through
    no proxy or an http:// one (the curl transport speaks the rest)."""
    scheme = url.partition(":")[0].lower()
    if scheme not in ("http", "https"):
        why = f"--transport {transport} speaks http and https"
        raise FetchError(f"{scheme}:// needs the curl transport ({why})", url=url)
    kind = getattr(proxy, "scheme", "http")
    if proxy is not None and kind != "http":
        raise ProxyError(f"a {kind}:// proxy needs the curl transport (--transport {transport} speaks to "
                         "http:// proxies)", url=url, transient=False)  # fmt: skip
