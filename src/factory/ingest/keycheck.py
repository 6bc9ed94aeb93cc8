"""Which pseudonym key made the outputs, and what replacing them with another key changes.

Two records say which key made an output set: the manifest's parquet metadata (older
manifests: metrics.json beside it), and the tracked `.factory/pseudonym.fingerprint`
that the DVC stage depends on. The second matters under `dvc repro`, which deletes a
stage's outputs before running it: the manifest is gone by then, the record file is not.
Ingest compares both with the running key before doing any work: another key gives every
image and patient a new pseudonym and re-draws the patient split, so every downstream
verdict changes. That needs the user's say-so. The record file is rewritten only after a
successful ingest, so it always names the key of the outputs in place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from factory.errors import FactoryError

FINGERPRINT_META = b"factory.key_fingerprint"
NO_RECORD = "none"  # the record file's content before any ingest (fresh clones)
_HEX = re.compile(r"^[0-9a-f]{8,64}$")
_ALLOW = (
    "allow the change: FACTORY_ALLOW_KEY_CHANGE=1 for the stage / dvc repro, "
    "--allow-key-change for `factory ingest`"
)


class KeyChanged(FactoryError):
    """The existing manifest was made with another pseudonym key."""


@dataclass(frozen=True)
class KeyChange:
    """What replacing `old` (made with key `before`) by `new` (key `after`) changes."""

    before: str
    after: str
    images: int  # images in both (matched by the source file's hash)
    image_ids: int  # of those, how many get a new image_id
    patients: int  # patients of the old manifest whose images get a new patient_id
    moved: int  # images in both that change split
    moves: dict[str, int]  # "train->test": count

    def describe(self) -> str:
        moves = ", ".join(f"{k} {v}" for k, v in sorted(self.moves.items()))
        return (
            f"key fingerprint {self.before} -> {self.after}: {self.image_ids} of "
            f"{self.images} images get a new image_id, {self.patients} patients a new "
            f"patient_id, and {self.moved} of {self.images} images change split"
            + (f" ({moves})" if moves else "")
        )


def manifest_fingerprint(out_dir: Path) -> str | None:
    """The key fingerprint recorded with `out_dir/manifest.parquet`; None when there is no
    manifest or it records none."""
    import pyarrow.parquet as pq

    manifest = out_dir / "manifest.parquet"
    if not manifest.is_file():
        return None
    try:
        meta = pq.read_schema(manifest).metadata or {}
    except (OSError, ValueError):
        meta = {}
    if FINGERPRINT_META in meta:
        return meta[FINGERPRINT_META].decode("ascii")
    try:  # manifests written before the fingerprint went into the parquet metadata
        value = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
        return value.get("key_fingerprint") if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


def compare(old: pd.DataFrame, new: pd.DataFrame, before: str, after: str) -> KeyChange:
    """Match images by source file hash and count what changes between the manifests."""
    cols = ["source_sha256", "image_id", "patient_id", "split"]
    both = old[cols].merge(new[cols], on="source_sha256", suffixes=("_old", "_new"))
    moved = both[both["split_old"] != both["split_new"]]
    moves = (moved["split_old"] + "->" + moved["split_new"]).value_counts()
    renamed = both[both["patient_id_old"] != both["patient_id_new"]]
    return KeyChange(
        before=before,
        after=after,
        images=len(both),
        image_ids=int((both["image_id_old"] != both["image_id_new"]).sum()),
        patients=int(renamed["patient_id_old"].nunique()),
        moved=len(moved),
        moves={str(k): int(v) for k, v in moves.items()},
    )


def recorded_fingerprint(path: Path) -> str | None:
    """The fingerprint in the record file; None when it records none (missing, `none`)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise FactoryError(
            f"{path}: cannot read the pseudonym key record ({exc}); it must be a small "
            f"text file holding the key's fingerprint, or {NO_RECORD!r}"
        ) from None
    if text in ("", NO_RECORD):
        return None
    if not _HEX.match(text):
        raise FactoryError(
            f"{path}: {text[:40]!r} is not a key fingerprint (8 hex digits); restore it "
            f"from git, or write {NO_RECORD!r} if no ingest output exists yet"
        )
    return text


def check_record(record: Path, out_dir: Path, after: str, allow: bool) -> None:
    """Refuse early (before any work) when the record file names another key and the
    manifest that would let `check_key` count the changes is not there (dvc repro
    removed it)."""
    before = recorded_fingerprint(record)
    if allow or before is None or before == after or manifest_fingerprint(out_dir):
        return
    raise KeyChanged(
        f"{record} says the ingest outputs were made with pseudonym key fingerprint "
        f"{before}, this run's key has {after}: another key gives every image and patient "
        "a new pseudonym and re-draws the train/val/test split, so every result downstream "
        "changes. Nothing was written (`dvc checkout` restores outputs that dvc repro "
        f"removed). Use the key that made them, or {_ALLOW}"
    )


def check_key(
    out_dir: Path, new: pd.DataFrame, after: str, allow: bool, recorded: str | None = None
) -> KeyChange | None:
    """None when `out_dir` holds no manifest of another key; else the change, raising
    KeyChanged (nothing replaced) unless `allow`. `recorded`: the record file's
    fingerprint, used when the manifest records none."""
    before = manifest_fingerprint(out_dir) or recorded
    if before is None or before == after or not (out_dir / "manifest.parquet").is_file():
        return None
    try:
        old = pd.read_parquet(out_dir / "manifest.parquet")
    except (OSError, ValueError) as exc:
        raise FactoryError(f"{out_dir / 'manifest.parquet'}: cannot read it ({exc})") from None
    change = compare(old, new, before, after)
    if not allow:
        raise KeyChanged(
            f"{out_dir / 'manifest.parquet'} was made with another pseudonym key; replacing "
            f"it would change the train/val/test split and every result downstream: "
            f"{change.describe()}. Nothing was written. Use the key that made it "
            f"(fingerprint {before}), or {_ALLOW}"
        )
    return change
