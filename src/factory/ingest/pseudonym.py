"""Keyed pseudonyms for patients and images, and the local key they use.

A pseudonym is HMAC-SHA256(key, kind, source, identifier) truncated to 64 bits: stable
across runs with the same key, unlinkable to the identifier without it. The key never
goes into git or any published output; only a short fingerprint of it is recorded (a
keyed hash of a fixed string): in the manifest, in metrics.json, and in
`.factory/pseudonym.fingerprint`, a small tracked file that the DVC ingest stage depends
on and that ingest rewrites after each successful run. It names the key of the outputs
in place, so dvc.lock records which key made them, DVC's run cache never hands back
outputs of another key, and a run with a new key (a deleted key file, another
$FACTORY_PSEUDONYM_KEY) is refused unless allowed (factory.ingest.keycheck).
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
# Tracked in git (see .gitignore) and a dep of the ingest stage in dvc.yaml.
FINGERPRINT_FILE = Path(".factory/pseudonym.fingerprint")
# Set to 1 to let the ingest stage replace a manifest made with another key.
ALLOW_CHANGE_ENV = "FACTORY_ALLOW_KEY_CHANGE"
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

    `env_value` (the caller reads FACTORY_PSEUDONYM_KEY; None = unset) wins, and must not
    be empty; else `key_file` is read; else a new random key is written there (mode 0600).
    Whoever later ingests the same data with another key gets different pseudonyms and
    splits (ingest refuses to replace such a manifest unless told to), so keep the file.
    """
    if env_value is not None:
        if not env_value.strip():
            raise FactoryError(
                f"environment variable {KEY_ENV} is set but empty: unset it to use "
                f"{key_file}, or set it to the key (at least {_MIN_KEY_BYTES} bytes)"
            )
        return _check(env_value.strip().encode("utf-8"), f"environment variable {KEY_ENV}"), None
    path = Path(key_file)
    if path.is_dir():
        raise FactoryError(
            f"{path}: the pseudonym key path is a folder; it must be a file holding the key "
            f"(remove the folder, point --key-file at the key file, or set {KEY_ENV})"
        )
    if path.exists():
        try:
            return _check(path.read_bytes().strip(), str(path)), None
        except OSError as exc:
            raise FactoryError(
                f"{path}: cannot read the pseudonym key ({exc.strerror}); fix its "
                f"permissions or set {KEY_ENV}"
            ) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise FactoryError(
            f"{path}: cannot create the pseudonym key ({exc.strerror}); choose a writable "
            f"--key-file or set {KEY_ENV}"
        ) from None
    token = secrets.token_hex(32).encode("ascii")
    with os.fdopen(fd, "wb") as fh:
        fh.write(token + b"\n")
    message = (
        f"created a new pseudonym key in {path} (keep it private and out of git; "
        f"set {KEY_ENV} or pass --key-file to use another)"
    )
    return token, message


def write_fingerprint(key: bytes, path: str | Path) -> bool:
    """Record the key's fingerprint in `path` (the file DVC's ingest stage depends on);
    True when it changed. Only rewritten when different, so DVC sees no false change."""
    from factory.io import atomic_write_text

    path, text = Path(path), key_fingerprint(key) + "\n"
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        if path.is_dir():
            raise FactoryError(
                f"{path}: is a folder; it must be the key fingerprint file (remove the folder)"
            ) from None
        raise FactoryError(f"{path}: cannot read the key fingerprint ({exc})") from None
    atomic_write_text(path, text)
    return True


def env_flag(value: str | None, name: str) -> bool:
    """A yes/no environment switch: unset, '', 0, false, no -> False; 1, true, yes -> True."""
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise FactoryError(f"environment variable {name}={value!r}: expected 1 or 0")
