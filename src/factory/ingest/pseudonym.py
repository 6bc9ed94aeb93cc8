"""Keyed pseudonyms for patients and images, and the local key they use.

A pseudonym is HMAC-SHA256(key, kind, source, identifier) truncated to 64 bits: stable
across runs with the same key, unlinkable to the identifier without it. The key never
goes into git or any published output; only a short fingerprint of it is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from factory.errors import FactoryError

KEY_ENV = "FACTORY_PSEUDONYM_KEY"
DEFAULT_KEY_FILE = Path(".factory/pseudonym.key")
_MIN_KEY_BYTES = 16


def pseudonym(key: bytes, kind: str, source: str, identifier: str) -> str:
    """`<kind>-<16 hex>` for `identifier` of dataset `source` (kind: 'pat' or 'img')."""
    message = "\0".join((kind, source, identifier)).encode("utf-8")
    return f"{kind}-{hmac.new(key, message, hashlib.sha256).hexdigest()[:16]}"


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of the key: tells runs with different keys apart."""
    return hmac.new(key, b"factory-key-fingerprint", hashlib.sha256).hexdigest()[:8]


def _check(key: bytes, where: str) -> bytes:
    if len(key) < _MIN_KEY_BYTES:
        raise FactoryError(
            f"{where}: the pseudonym key is {len(key)} bytes; use at least {_MIN_KEY_BYTES} "
            f"(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    return key


def resolve_key(env_value: str | None, key_file: str | Path) -> tuple[bytes, str | None]:
    """The pseudonym key, and a message to show when a new key file had to be made.

    `env_value` (the caller reads FACTORY_PSEUDONYM_KEY) wins; else `key_file` is read;
    else a new random key is written there (mode 0600). Whoever later ingests the same
    data with another key gets different pseudonyms, so keep the file.
    """
    if env_value:
        return _check(env_value.strip().encode("utf-8"), f"environment variable {KEY_ENV}"), None
    path = Path(key_file)
    if path.exists():
        return _check(path.read_bytes().strip(), str(path)), None
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(token + b"\n")
    message = (
        f"created a new pseudonym key in {path} (keep it private and out of git; "
        f"set {KEY_ENV} or pass --key-file to use another)"
    )
    return token, message
