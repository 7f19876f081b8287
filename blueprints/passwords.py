"""Typed passwords become crypt(3) hashes on the server; only the hash is ever stored."""

from __future__ import annotations

import subprocess


def password_crypt_hash(password: str) -> str:
    """SHA-512 crypt ($6$), which every Debian image's PAM verifies.

    openssl reads the password on stdin, so it never appears in a process list or a log.
    (Python's crypt module is gone from 3.13.)
    """
    if not password or "\n" in password:
        raise ValueError("A password must be one line of text.")
    result = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return result.stdout.strip()
