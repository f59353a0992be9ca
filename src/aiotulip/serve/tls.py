"""HTTPS for tulip serve: a certificate the user has, or a throwaway one made at start-up.

``--tls self-signed`` makes a CA and a certificate for localhost, 127.0.0.1, ::1 and the host being
served (trustme, the ``tls`` extra), writes the CA where the user can hand it to a client
(``tulip fetch --ca-certificate``, ``curl --cacert``) and removes it when the server stops: the key
never outlives the server that used it.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiotulip.errors import UsageError

__all__ = ["ServerTls", "server_tls"]


@dataclass
class ServerTls:
    """The server's SSL context, and the CA a client must trust (None for a user's certificate)."""

    context: ssl.SSLContext
    ca_file: Path | None = None
    _made: Path | None = None  # the folder of a throwaway certificate, removed by close()

    def close(self) -> None:
        if self._made is not None:
            shutil.rmtree(self._made, ignore_errors=True)
            self._made = None


def server_tls(
    cert: Path | None, key: Path | None, self_signed: bool, host: str, folder: Path | None = None
) -> ServerTls | None:
    """Return the TLS settings for a server on *host*, or None for plain HTTP."""
    if self_signed:
        return _self_signed(host, folder)
    if cert is None:
        return None
    for option, path in (("--cert", cert), ("--key", key)):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"cannot read {option} {path}")
    context = _context()

    def encrypted() -> str:
        raise UsageError(f"the key in {key or cert} is encrypted: give one without a passphrase")

    try:
        context.load_cert_chain(str(cert), None if key is None else str(key), password=encrypted)
    except ssl.SSLError as exc:
        if key is None:
            raise UsageError(f"{cert} does not hold a certificate and its key (give --key FILE)") from None
        for option, path, marker in (
            ("--cert", cert, "CERTIFICATE-----"),
            ("--key", key, "PRIVATE KEY-----"),
        ):
            if marker not in Path(path).read_text(errors="replace"):
                raise UsageError(f"{option} {path} holds no PEM {marker.rstrip('-').lower()}") from None
        raise UsageError(f"--cert {cert} and --key {key} do not make a pair: {exc.reason or exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot use --cert {cert}: {exc.strerror or exc}") from None
    return ServerTls(context)


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


def _self_signed(host: str, folder: Path | None) -> ServerTls:
    try:
        import trustme
    except ImportError:
        raise UsageError("--tls self-signed needs trustme: pip install 'aiotulip[tls]'") from None
    names = ["localhost", "127.0.0.1", "::1"]
    if host and host not in names and not _wildcard(host):
        names.append(host)
    ca = trustme.CA(organization_name="tulip serve (throwaway)")
    issued = ca.issue_cert(*names)
    made = None
    if folder is None:
        folder = made = Path(tempfile.mkdtemp(prefix="tulip-serve-tls-"))
    folder.mkdir(parents=True, exist_ok=True)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = _context()
    issued.configure_cert(context)
    return ServerTls(context, ca_file, made)


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
