"""TLS trust, built once: one ``ssl.SSLContext`` for the whole run, shared by every connection.

The system's trust store by default; ``--ca-certificate FILE`` adds to it (a private CA, a test
CA from ``trustme``); ``--insecure`` turns checking off (the run says so on stderr, once); a client
certificate (``--client-cert``, ``--client-key``) is offered to servers that ask. The context is made
when the first https URL needs it: loading the system's trust store costs milliseconds that an
http-only run need not pay.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiotulip.errors import UsageError

if TYPE_CHECKING:
    import ssl

__all__ = ["Tls"]


@dataclass(frozen=True)
class Tls:
    """What TLS trusts and offers; ``context()`` makes (once) the SSLContext every connection uses."""

    ca_certificate: str | None = None
    insecure: bool = False
    client_cert: str | None = None
    client_key: str | None = None
    # Made once, on first use: a frozen value can still hold the one context of a run.
    _made: list[ssl.SSLContext] = field(default_factory=list, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def context(self) -> ssl.SSLContext:
        with self._lock:
            if not self._made:
                self._made.append(self._make())
            return self._made[0]

    def check(self) -> None:
        """Build the context now, so that a missing or bad file is a usage error before any download."""
        if self.ca_certificate or self.client_cert or self.client_key:
            self.context()

    def _make(self) -> ssl.SSLContext:
        import ssl

        context = ssl.create_default_context()
        context.set_alpn_protocols(["http/1.1"])
        if self.ca_certificate:
            try:
                context.load_verify_locations(cafile=self.ca_certificate)
            except OSError as exc:  # ssl.SSLError is one
                raise UsageError(f"cannot use --ca-certificate {self.ca_certificate}: {_why(exc)}") from None
        if self.client_cert:

            def no_passphrase() -> str:
                raise UsageError(f"--client-key {self.client_key or self.client_cert}: the key is encrypted; "
                                 "give an unencrypted key (openssl pkey -in KEY -out PLAIN)")  # fmt: skip

            try:
                context.load_cert_chain(self.client_cert, self.client_key, password=no_passphrase)
            except OSError as exc:
                raise UsageError(f"cannot use --client-cert {self.client_cert}: {_why(exc)}") from None
        elif self.client_key:
            raise UsageError("--client-key needs --client-cert")
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Sent to cluster workers as its settings; each builds its own context.
        return (Tls, (self.ca_certificate, self.insecure, self.client_cert, self.client_key))


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
