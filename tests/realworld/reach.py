"""Servers nobody here wrote, for what the curl transport reaches: nginx speaking HTTP/2 (over TLS by
ALPN, and an h2c-only listener), hypercorn serving an HTTP/2-only app, pyftpdlib (FTP), asyncssh
(SFTP), pproxy (SOCKS5) and Apache with mod_auth_digest. Each is started on a free loopback port by
the test that needs it and stopped after.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.needs import binary
from tests.realworld.services import _daemon, _wait_listening, free_port, nginx

__all__ = ["apache_digest", "ftp_server", "h2_nginx", "hypercorn_h2", "sftp_server", "socks5"]


@contextmanager
def h2_nginx(work: Path, root: Path, cert: Path, key: Path) -> Iterator[tuple[str, str]]:
    """nginx with HTTP/2 over TLS (ALPN offers h2 and http/1.1; its connections counted at
    /_status) and an h2c-only cleartext listener; give (https base, h2c base)."""
    tls, clear = free_port(), free_port()
    servers = f"""
    server {{ listen 127.0.0.1:{tls} ssl http2; ssl_certificate {cert}; ssl_certificate_key {key};
             root {root}; location = /_status {{ stub_status; }} }}
    server {{ listen 127.0.0.1:{clear} http2; root {root}; }}
    """
    with nginx(work, servers, wait=("127.0.0.1", clear)):
        yield f"https://127.0.0.1:{tls}", f"http://127.0.0.1:{clear}"


_APP = """
import os
ROOT = os.environ["TULIP_H2_ROOT"]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    name = scope["path"].lstrip("/")
    path = os.path.join(ROOT, name)
    if "/" in name or not os.path.isfile(path):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})
        return
    data = open(path, "rb").read()
    headers = [(b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})
"""


@contextmanager
def hypercorn_h2(work: Path, root: Path, cert: Path, key: Path) -> Iterator[tuple[str, str]]:
    """hypercorn serving *root* with HTTP/2 only: over TLS (ALPN h2 and nothing else) and in the
    clear (h2c by prior knowledge); give (https base, h2c base)."""
    app = work / "h2app.py"
    app.write_text(_APP)
    tls, clear = free_port(), free_port()
    config = work / "hypercorn.toml"
    config.write_text(f'alpn_protocols = ["h2"]\ncertfile = "{cert}"\nkeyfile = "{key}"\n'
                      f'bind = ["127.0.0.1:{tls}"]\ninsecure_bind = ["127.0.0.1:{clear}"]\n')  # fmt: skip
    env = {**os.environ, "TULIP_H2_ROOT": str(root), "PYTHONPATH": str(work)}
    command = [sys.executable, "-m", "hypercorn", "--config", str(config), "h2app:app"]
    log = work / "hypercorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
    try:
        _wait_listening("127.0.0.1", clear, proc, log)
        _wait_listening("127.0.0.1", tls, proc, log)
        yield f"https://127.0.0.1:{tls}", f"http://127.0.0.1:{clear}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def ftp_server(
    root: Path, user: str, password: str, rate: int = 0, without: tuple[str, ...] = (), size_off: int = 0
) -> Iterator[tuple[int, list[str]]]:
    """pyftpdlib on 127.0.0.1 serving *root* to anonymous readers and to *user* (at *rate* bytes a
    second, if given; *without* the commands named, as an older server; SIZE answered *size_off*
    bytes off, as for a file that grows meanwhile); give its port and the commands it received
    (to see REST)."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, ThrottledDTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    commands: list[str] = []
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(root), perm="elr")
    authorizer.add_anonymous(str(root))

    class Handler(FTPHandler):
        def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
            commands.append(line if cmd != "PASS" else "PASS ***")
            super().pre_process_command(line, cmd, arg)

        # (one send a buffer, so a client that stops reading before the end meets a 426; with
        # sendfile the whole file is in the socket's buffers at once and the server says 226)
        use_sendfile = not size_off

        def ftp_SIZE(self, path: str) -> None:
            if not size_off:
                super().ftp_SIZE(path)
            else:
                self.respond(f"213 {os.path.getsize(path) + size_off}")

    Handler.authorizer = authorizer
    Handler.passive_ports = None
    Handler.proto_cmds = {name: spec for name, spec in FTPHandler.proto_cmds.items() if name not in without}
    if rate:

        class Throttled(ThrottledDTPHandler):
            write_limit = rate  # (the server's sending)

        Handler.dtp_handler = Throttled
    import logging

    logging.getLogger("pyftpdlib").setLevel(logging.ERROR)
    server = ThreadedFTPServer(("127.0.0.1", 0), Handler)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    try:
        yield port, commands
    finally:
        server.close_all()
        thread.join(10)


@contextmanager
def sftp_server(
    work: Path,
    root: Path,
    user: str,
    password: str,
    stall_after: int | None = None,
    key_type: str = "ssh-ed25519",
    stall_close: bool = False,
) -> Iterator[tuple[int, str, Path]]:
    """asyncssh's SFTP server on 127.0.0.1, files under *root*, *user* logging in by password or by
    the client key it makes; give (port, the host key's known_hosts line, the client's private key).
    With *stall_after*, no read past that offset is ever answered; with *stall_close*, no close."""
    import asyncssh

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key(key_type)
    client_file = work / "id_ed25519"
    client_file.write_bytes(client_key.export_private_key())
    client_file.chmod(0o600)
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, given: str) -> bool:
            return username == user and given == password

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            return username == user and authorized.validate(key, "127.0.0.1", "127.0.0.1") is not None

    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, object] = {}

    opened: list[Any] = []

    class Stalling(asyncssh.SFTPServer):  # (stall_after: a server that stops answering mid-file)
        def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
            file_obj = super().open(path, pflags, attrs)
            opened.append(file_obj)  # (closed at the end: asyncssh leaves a stalled read's file open)
            return file_obj

        async def close(self, file_obj: object) -> None:
            if stall_close:
                await asyncio.sleep(3600)
            super().close(file_obj)

        async def read(self, file_obj: object, offset: int, size: int) -> bytes:
            if stall_after is not None and offset >= stall_after:
                await asyncio.sleep(3600)
            return super().read(file_obj, offset, size)  # type: ignore[no-any-return]

    def sftp(chan: object) -> asyncssh.SFTPServer:
        return Stalling(chan, chroot=str(root))

    async def main() -> None:
        server = await asyncssh.listen("127.0.0.1", 0, server_factory=Server, server_host_keys=[host_key],
                                       sftp_factory=sftp)  # fmt: skip
        box["server"] = server
        box["port"] = server.sockets[0].getsockname()[1]
        started.set()

    def serve() -> None:
        loop.run_until_complete(main())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not started.wait(20):
        raise RuntimeError("the SFTP server did not start")
    port = int(box["port"])  # type: ignore[call-overload]
    line = f"[127.0.0.1]:{port} {host_key.export_public_key().decode().strip()}"
    try:
        yield port, line, client_file
    finally:
        server = box["server"]

        async def stop() -> None:
            server.close()  # type: ignore[attr-defined]
            await server.wait_closed()  # type: ignore[attr-defined]
            stalled = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in stalled:  # (a read that never answers: its file is closed as it ends)
                task.cancel()
            await asyncio.gather(*stalled, return_exceptions=True)
            for file_obj in opened:
                file_obj.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def socks5(work: Path, auth: tuple[str, str] | None = None) -> Iterator[str]:
    """pproxy as a SOCKS5 proxy on 127.0.0.1 (with *auth*, it asks for those credentials); give its
    address (host:port)."""
    port = free_port()
    listen = f"socks5://127.0.0.1:{port}" + (f"#{auth[0]}:{auth[1]}" if auth else "")
    log = work / "pproxy.log"
    # pproxy asks uvloop for a loop the way uvloop no longer gives one: plain asyncio instead.
    start = "import sys; sys.modules['uvloop'] = None; from pproxy.server import main; sys.exit(main())"
    command = [sys.executable, "-c", start, "-l", listen, "--auth", "0", "-v"]  # (--auth 0: ask every time)
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_listening("127.0.0.1", port, proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def dante(work: Path) -> Iterator[str]:
    """Debian's dante-server (danted) as a SOCKS5 proxy on 127.0.0.1, open to loopback clients; give
    its address (host:port). It answers a CONNECT it could not make with the SOCKS reply that says
    why (5: connection refused), where pproxy only closes."""
    danted = binary("danted", "dante-server")
    port = free_port()
    conf = work / "danted.conf"
    conf.write_text(
        f"logoutput: {work / 'danted.log'}\n"
        f"internal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n"
        "clientmethod: none\nsocksmethod: none\n"
        "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\nsocks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
    )
    with _daemon([danted, "-f", str(conf), "-N", "1", "-p", str(work / "danted.pid")], "127.0.0.1", port,
                 work / "danted.log"):  # fmt: skip
        yield f"127.0.0.1:{port}"


@contextmanager
def apache_digest(
    work: Path, root: Path, user: str, password: str, *, deflate: bool = False
) -> Iterator[str]:
    """Apache (Debian's apache2) serving *root*, and under /private/ behind Digest authentication
    for *user*; with *deflate*, text compressed by mod_deflate for clients that accept it (which
    suffixes its ETags with -gzip); give its base URL."""
    import shutil
    import tempfile

    apache = binary("apache2", "apache2")
    modules = Path("/usr/lib/apache2/modules")
    # Apache's workers run as www-data, who may not enter pytest's private folders: a readable copy.
    prefix = Path(tempfile.mkdtemp(prefix="tulip-apache-"))
    prefix.chmod(0o755)
    shutil.copytree(root, prefix / "root")
    root = prefix / "root"
    realm = "tulip"
    digest = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    (prefix / "htdigest").write_text(f"{user}:{realm}:{digest}\n")
    port = free_port()
    names = ("mpm_event", "authn_core", "authn_file", "auth_digest", "authz_core", "authz_user", "alias",
             "mime", "filter", "deflate")  # fmt: skip
    loads = "\n".join(f"LoadModule {name}_module {modules}/mod_{name}.so" for name in names)
    running_as = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
    conf = prefix / "apache2.conf"
    conf.write_text(f"""
ServerRoot {prefix}
{loads}
{running_as}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {prefix}/apache2.pid
ErrorLog {prefix}/error.log
DocumentRoot {root}
TypesConfig /etc/mime.types
{"AddOutputFilterByType DEFLATE text/plain" if deflate else ""}
Alias /private/ {root}/
<Directory {root}>
    Require all granted
</Directory>
<Location /private/>
    AuthType Digest
    AuthName "{realm}"
    AuthDigestProvider file
    AuthUserFile {prefix}/htdigest
    Require valid-user
</Location>
""")
    for path in (prefix, prefix / "htdigest", root, *root.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        with _daemon([apache, "-X", "-f", str(conf)], "127.0.0.1", port, prefix / "error.log"):
            yield f"http://127.0.0.1:{port}"
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
