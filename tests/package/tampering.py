"""Ways to tamper with a set, as functions over its files (name -> bytes).

Each returns the changed files and the words `verify`/`pull` must use to refuse it. The
same functions change a folder (`apply_to_folder`) and a repo on the test Hub, so both
`factory verify` and `factory pull` are tried on every kind. Where a kind edits the card
or lineage.json, `consistent` also rewrites the sha256 that lineage.json records for the
card, so that the claim checks themselves, not only the hash, must catch it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

Files = dict[str, bytes]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lineage(files: Files) -> dict:
    return json.loads(files["lineage.json"])


def _put_lineage(files: Files, lineage: dict) -> None:
    files["lineage.json"] = json.dumps(lineage, indent=2).encode()


def _edit_card(files: Files, old: str, new: str) -> None:
    text = files["README.md"].decode()
    assert old in text, f"card has no {old!r}"
    files["README.md"] = text.replace(old, new).encode()
    lineage = _lineage(files)
    lineage["card_sha256"] = _sha(files["README.md"])  # the forger updates the hash too
    _put_lineage(files, lineage)


def card_gate_verdict(files: Files) -> str:
    _edit_card(files, "**Gate verdict:** passed", "**Gate verdict:** passed with honours")
    return "says 'Gate verdict: passed with honours'"


def card_num_examples(files: Files) -> str:
    rows = _lineage(files)["set"]["rows"]
    _edit_card(files, f"num_examples: {rows}\n", "num_examples: 5000\n")
    return "num_examples 5000"


def card_license(files: Files) -> str:
    lic = _lineage(files)["set"]["license"]
    _edit_card(files, f"license: {lic}\n", "license: mit\n")
    return "license 'mit'"


def card_features(files: Files) -> str:
    _edit_card(files, "- name: seed\n    dtype: int64", "- name: seed\n    dtype: string")
    return "features differ"


def card_edited_elsewhere(files: Files) -> str:
    text = files["README.md"].decode()
    files["README.md"] = text.replace("Not for clinical", "Fine for clinical").encode()
    return "README.md: sha256"


def lineage_gate_failed(files: Files) -> str:
    lineage = _lineage(files)
    lineage["gate"].update(passed=False, verdict="gate FAILED: not for publication")
    _put_lineage(files, lineage)
    return "lineage.json records 'gate FAILED: not for publication'"


def lineage_model_hash(files: Files) -> str:
    lineage = _lineage(files)
    lineage["model"]["model_hash"] = "0" * 64
    _put_lineage(files, lineage)
    return "model.model_hash 000000000000 but the rows carry"


def lineage_per_class(files: Files) -> str:
    lineage = _lineage(files)
    first = next(iter(lineage["set"]["per_class"]))
    lineage["set"]["per_class"][first] += 1
    _put_lineage(files, lineage)
    return "set.per_class"


def shard_bytes(files: Files) -> str:
    shard = sorted(k for k in files if k.startswith("data/"))[0]
    data = bytearray(files[shard])
    data[len(data) // 2] ^= 0xFF
    files[shard] = bytes(data)
    return f"{shard}: sha256"


def croissant_edited(files: Files) -> str:
    doc = json.loads(files["croissant.json"])
    doc["name"] = "something else"
    files["croissant.json"] = json.dumps(doc).encode()
    return "croissant.json: sha256"


TAMPERINGS: list[Callable[[Files], str]] = [
    card_gate_verdict,
    card_num_examples,
    card_license,
    card_features,
    card_edited_elsewhere,
    lineage_gate_failed,
    lineage_model_hash,
    lineage_per_class,
    shard_bytes,
    croissant_edited,
]


def read_folder(folder: Path) -> Files:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def apply_to_folder(folder: Path, tamper: Callable[[Files], str]) -> str:
    files = read_folder(folder)
    before = dict(files)
    expected = tamper(files)
    for name, data in files.items():
        if before.get(name) != data:
            (folder / name).write_bytes(data)
    return expected
