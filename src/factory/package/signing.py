"""An optional Ed25519 signature of a set's lineage.json (`lineage.json.sig` beside it).

`factory verify` and `factory pull` check that every claim of a set agrees with its data;
a consistent rewrite (new shards, lineage and card that all agree) passes those checks.
The signature is what tells the owner's set from such a rewrite: lineage.json holds the
sha256 of every shard and of the card, so a valid signature by a key the consumer trusts
covers every byte of the set. Keys are made by `factory sign-key new` and live outside
git; publish signs with FACTORY_SIGNING_KEY (or --signing-key), consumers check against
FACTORY_TRUSTED_KEY (or --trusted-key).

The `cryptography` package (pyca, the reference Python wrapper of OpenSSL) does the
Ed25519 work; only the small JSON envelope below is ours.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.errors import FactoryError

SIGNATURE_FILE = "lineage.json.sig"
ALGORITHM = "ed25519"
SIGNING_KEY_ENV = "FACTORY_SIGNING_KEY"  # path of the private key (publish)
TRUSTED_KEY_ENV = "FACTORY_TRUSTED_KEY"  # path of the trusted public key (pull, verify)
DEFAULT_KEY = Path("~/.config/factory/signing-key.pem")


@dataclass(frozen=True)
class Signature:
    """What a set's signature says: state is 'signed', 'unsigned' or 'bad'."""

    state: str
    key_id: str | None = None
    trusted: bool = False  # checked against a key the consumer gave
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state != "bad"

    def describe(self) -> str:
        if self.state == "unsigned":
            return "unsigned: " + (self.detail or "no lineage.json.sig")
        if self.state == "bad":
            return f"BAD SIGNATURE: {self.detail}"
        if self.trusted:
            return f"signed by the trusted key {self.key_id}"
        return (
            f"signed by key {self.key_id}, not checked against a trusted key (give "
            f"--trusted-key or {TRUSTED_KEY_ENV} to know who signed it)"
        )


def _raw_public(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Any) -> str:
    """A short, stable name of a public key: the first 16 hex of sha256 of its raw bytes."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def _inside_git_tree(path: Path) -> bool:
    """True when `path` would sit in a git work tree without being ignored there."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    try:
        inside = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
        )
        ignored = subprocess.run(
            ["git", "-C", str(folder), "check-ignore", "-q", str(path)], capture_output=True
        )
    except OSError:  # no git on this machine: nothing to keep the key out of
        return False
    return inside.stdout.strip() == "true" and ignored.returncode != 0


def new_key(path: str | Path) -> tuple[Path, Path]:
    """Write a new private key (PEM, mode 0600) at `path` and its public key at `path`.pub."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path).expanduser()
    public = path.with_name(path.name + ".pub")
    for p in (path, public):
        if p.exists():
            raise FactoryError(f"{p}: exists; a signing key is never overwritten (pick --out)")
    if _inside_git_tree(path):
        raise FactoryError(
            f"{path}: inside a git work tree and not ignored there; keep signing keys out "
            "of git (e.g. the default ~/.config/factory/signing-key.pem)"
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path, public


def _load(path: str | Path, kind: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    path = Path(path).expanduser()
    if not path.is_file():
        raise FactoryError(f"{path}: no {kind} key file here; make one with `factory sign-key new`")
    data = path.read_bytes()
    try:
        if kind == "private":
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise FactoryError(f"{path}: not a PEM {kind} key ({exc})") from None
    wanted = Ed25519PrivateKey if kind == "private" else Ed25519PublicKey
    if not isinstance(key, wanted):
        raise FactoryError(f"{path}: not an Ed25519 {kind} key; use `factory sign-key new`")
    return key


def load_private_key(path: str | Path) -> Any:
    return _load(path, "private")


def load_public_key(path: str | Path) -> Any:
    """A trusted public key (the .pub file); a private key file is accepted too."""
    path = Path(path).expanduser()
    if path.is_file() and b"PRIVATE KEY" in path.read_bytes()[:64]:
        return _load(path, "private").public_key()
    return _load(path, "public")


def sign_file(lineage_path: Path, private_key: Any) -> Path:
    """Sign the bytes of `lineage_path`; write the envelope beside it; return its path."""
    public = private_key.public_key()
    envelope = {
        "algorithm": ALGORITHM,
        "signed_file": lineage_path.name,
        "key_id": key_id(public),
        "public_key": base64.b64encode(_raw_public(public)).decode("ascii"),
        "signature": base64.b64encode(private_key.sign(lineage_path.read_bytes())).decode(),
    }
    out = lineage_path.with_name(SIGNATURE_FILE)
    out.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
    return out


def _envelope(path: Path) -> dict[str, Any] | str:
    """The parsed envelope, or why it cannot be read."""
    try:
        env = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{SIGNATURE_FILE} does not parse ({exc})"
    keys = ("algorithm", "key_id", "public_key", "signature")
    if not isinstance(env, dict) or any(not isinstance(env.get(k), str) for k in keys):
        return f"{SIGNATURE_FILE} lacks one of {', '.join(keys)}"
    if env["algorithm"] != ALGORITHM:
        return f"{SIGNATURE_FILE}: algorithm {env['algorithm']!r}, expected {ALGORITHM!r}"
    return env


def check_signature(set_dir: str | Path, trusted: Any = None) -> Signature:
    """The state of a set's signature; with `trusted` (a public key) also who signed it.

    A consumer who gives a trusted key expects the owner's signature: an unsigned set, or
    one signed by another key, is then 'bad' too.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    set_dir = Path(set_dir)
    path = set_dir / SIGNATURE_FILE
    want = key_id(trusted) if trusted is not None else None
    if not path.exists():
        if want:
            return Signature("bad", detail=f"no {SIGNATURE_FILE}, but trusted key {want} given")
        return Signature("unsigned")
    env = _envelope(path)
    if isinstance(env, str):
        return Signature("bad", detail=env)
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(env["public_key"]))
        signature = base64.b64decode(env["signature"], validate=True)
    except ValueError as exc:
        return Signature("bad", detail=f"{SIGNATURE_FILE}: key or signature not base64 ({exc})")
    if key_id(embedded) != env["key_id"]:
        return Signature("bad", env["key_id"], detail="key_id does not match the public key")
    if want and env["key_id"] != want:
        return Signature(
            "bad", env["key_id"], detail=f"signed by key {env['key_id']}, not the trusted {want}"
        )
    try:
        (trusted or embedded).verify(signature, (set_dir / "lineage.json").read_bytes())
    except InvalidSignature:
        return Signature("bad", env["key_id"], detail="lineage.json changed after it was signed")
    return Signature("signed", env["key_id"], trusted=trusted is not None)
