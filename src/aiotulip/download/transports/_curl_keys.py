"""Which private key libcurl's ssh is given for an sftp login (no I/O beyond reading key files).

pycurl's wheels bundle a libssh2 (1.11.1_DEV, on their OpenSSL 3) that corrupts its heap on any
RSA key: a login with one, or a password login that libcurl first tried ``~/.ssh/id_rsa`` for,
ended the process with "free(): invalid next size" or a segmentation fault (measured with pycurl
alone, without tulip). So a password given without ``--ssh-key`` is offered alone (libcurl would try
``~/.ssh/id_rsa`` first), the default key is the first of ``id_ed25519`` and ``id_ecdsa``, and an RSA
key is refused in words.
"""

from __future__ import annotations

import base64
import binascii
import os

__all__ = ["DEFAULT_KEYS", "is_rsa", "login_key"]

DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")  # under ~/.ssh, in the order tried
_RSA_OID = bytes.fromhex("2a864886f70d010101")  # rsaEncryption, in a PKCS#8 key's algorithm
_RSA_TYPE = b"\x00\x00\x00\x07ssh-rsa"  # an OpenSSH key's public part, in the clear


def login_key(given: str | None, password: bool) -> str | None:
    """The key file to log in with: *given* (``--ssh-key``), else none where a *password* is given,
    else the first default key there is; raise ValueError (its words for the user) for an RSA key."""
    if given is None:
        if password:
            return None
        folder = os.path.expanduser("~/.ssh")
        given = next(
            (path for name in DEFAULT_KEYS if os.path.isfile(path := os.path.join(folder, name))), None
        )
        if given is None:
            return None
    if is_rsa(given):
        raise ValueError(
            f"{given} is an RSA key, which the libssh2 in pycurl's wheels crashes on: "
            "give --ssh-key an ed25519 or ECDSA key (ssh-keygen -t ed25519), or a password"
        )
    return given


def is_rsa(path: str) -> bool:
    """Whether the private key at *path* is an RSA key (by its .pub beside it, else its own text;
    False where it cannot tell: an encrypted PKCS#8 key without a .pub)."""
    try:
        with open(path + ".pub", "rb") as public:
            return public.read(8).startswith(b"ssh-rsa ")
    except OSError:
        pass
    try:
        with open(path, "rb") as key:
            text = key.read(64 * 1024)
    except OSError:
        return False
    if b"-----BEGIN RSA PRIVATE KEY-----" in text:
        return True
    body = b"".join(line.strip() for line in text.splitlines() if line and not line.startswith(b"-----"))
    try:
        blob = base64.b64decode(body)
    except (binascii.Error, ValueError):
        return False
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in text:
        return _RSA_TYPE in blob[:256]
    if b"-----BEGIN PRIVATE KEY-----" in text:
        return _RSA_OID in blob[:32]
    return False
