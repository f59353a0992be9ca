"""nginx as a reference server: a static root on loopback, configured as PEERS.md says."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from aiotulip.shared.lifecycle import Service

__all__ = ["Nginx", "nginx_available"]

_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log crit;
worker_rlimit_nofile 40000;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    types {{ application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port} backlog=65535{tls};
        root {root};
        {limit}
        location /files/ {{ alias {root}/; }}
    }}
}}
"""


def nginx_available() -> str | None:
    """Return the path of nginx if installed (Debian puts it in /usr/sbin, often off PATH)."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nginx(Service):
    """Serve *root* with nginx on 127.0.0.1; files at ``/NAME`` and ``/files/NAME``, each response
    at most *rate* bytes a second when given."""

    def __init__(
        self, root: Path, rate: int | None = None, mirrors: tuple[int, ...] = (), tls: str = ""
    ) -> None:
        binary = nginx_available()
        if binary is None:
            raise FileNotFoundError("nginx is not installed (apt-get install nginx)")
        self.binary = binary
        self.root = Path(root).resolve()
        self.rate = rate  # bytes a second per connection (limit_rate), None for none
        self.mirrors = mirrors  # /mN/NAME: the same files at these rates (mirrors of the root)
        self.tls = tls  # "": plain HTTP; "h1": TLS with HTTP/1.1; "h2": TLS offering HTTP/2 by ALPN
        self.ca_file: Path | None = None  # the throwaway CA that signed the TLS certificate
        self.url = ""
        self._prefix: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self._prefix = tempfile.TemporaryDirectory(prefix="tulip-nginx-")
        prefix = self._prefix.name
        os.makedirs(f"{prefix}/tmp")
        port = _free_port()
        # As root, nginx's workers drop to "nobody", who may not read a private temporary root.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = Path(prefix) / "nginx.conf"
        limit = f"limit_rate {self.rate};" if self.rate else ""
        for number, rate in enumerate(self.mirrors, 1):
            limit += f"\n        location /m{number}/ {{ alias {self.root}/; limit_rate {rate}; }}"
        tls = ""
        if self.tls:
            tls = self._certificate(Path(prefix))
            limit += (f"\n        ssl_certificate {prefix}/server.pem;"
                      f"\n        ssl_certificate_key {prefix}/server.key;"
                      "\n        ssl_session_cache shared:tulip:10m;"
                      "\n        http2_max_concurrent_streams 256;")  # fmt: skip
        conf.write_text(
            _CONF.format(user=user, prefix=prefix, port=port, root=self.root, limit=limit, tls=tls)
        )
        self._proc = subprocess.Popen(
            [self.binary, "-p", prefix, "-c", str(conf), "-e", f"{prefix}/error.log"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"nginx exited: {Path(prefix, 'error.log').read_text()}") from None
                time.sleep(0.05)
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self.url

    def _certificate(self, prefix: Path) -> str:
        """Write a throwaway CA and a certificate for 127.0.0.1 (PEERS.md: subjectAltName IP); return
        the listen directive's TLS words."""
        try:
            import trustme
        except ImportError:
            raise RuntimeError("the TLS rows need trustme: pip install 'aiotulip[tls]'") from None
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(prefix / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(prefix / "server.pem"))
        for extra in cert.cert_chain_pems[1:]:
            with open(prefix / "server.pem", "ab") as chain:
                chain.write(extra.bytes())
        self.ca_file = prefix / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        return " ssl http2" if self.tls == "h2" else " ssl"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._prefix is not None:
            self._prefix.cleanup()
            self._prefix = None
