"""Real servers a user would run, started by the tests on free loopback ports with configs they write:
nginx (static files, gzip, redirects, TLS, IPv6), tinyproxy (a forward proxy, with Basic auth) and
redis-server (a TCP service to put behind tulip proxy).

CI installs them all (``.ci/run``); elsewhere a test whose server is missing is skipped
(``tests.needs``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.needs import binary

__all__ = ["free_port", "nginx", "redis_server", "tinyproxy"]


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _binary(name: str) -> str:
    return binary(name)


def _wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"exited: {log.read_text() if log.exists() else ''}") from None
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {host}:{port}")


@contextmanager
def _daemon(command: list[str], host: str, port: int, log: Path) -> Iterator[None]:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(host, port, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def nginx(work: Path, servers: str, *, wait: tuple[str, int]) -> Iterator[None]:
    """Run nginx with the ``server { ... }`` blocks *servers*; *wait* is an address it listens on."""
    prefix = work / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the test's private files
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process on;
worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    types {{ text/plain txt; application/octet-stream bin; }}
    {servers}
}}
"""
    )
    command = [_binary("nginx"), "-p", str(prefix), "-c", str(conf), "-e", f"{prefix}/error.log"]
    with _daemon(command, *wait, prefix / "error.log"):
        yield


@contextmanager
def tinyproxy(work: Path, *, auth: tuple[str, str] | None = None) -> Iterator[str]:
    """Run tinyproxy on 127.0.0.1; give its URL (without credentials)."""
    prefix = work / "tinyproxy"
    prefix.mkdir(parents=True)
    port = free_port()
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "MaxClients 200",
        "Allow 127.0.0.1",
        "LogLevel Info",
        f'LogFile "{prefix}/tinyproxy.log"',
        f'PidFile "{prefix}/tinyproxy.pid"',
    ]
    if auth is not None:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    conf = prefix / "tinyproxy.conf"
    conf.write_text("\n".join(lines) + "\n")
    with _daemon([_binary("tinyproxy"), "-d", "-c", str(conf)], "127.0.0.1", port, prefix / "tinyproxy.log"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def redis_server(work: Path) -> Iterator[str]:
    """Run redis-server on 127.0.0.1, nothing saved to disk; give its address ``127.0.0.1:PORT``."""
    prefix = work / "redis"
    prefix.mkdir(parents=True)
    port = free_port()
    log = prefix / "redis.log"
    command = [binary("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", str(prefix), "--logfile", str(log)]  # fmt: skip
    with _daemon(command, "127.0.0.1", port, log):
        yield f"127.0.0.1:{port}"
