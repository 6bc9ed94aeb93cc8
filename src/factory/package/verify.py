"""Check that every claim a packaged set makes agrees with its data, and say what differs.

A set claims things in three places: the shards (rows, images, hashes), lineage.json
(counts, shard hashes, the model, the gate's and the benchmark's verdicts) and the card
(YAML metadata and the body's verdict sentences). `verify_set` recomputes what can be
recomputed from the shards and checks every other claim against the one it derives from:

- shards: present, with the recorded sha256, row counts and per-image sha256;
- card YAML against the shards: rows, features, download size, size bucket; against
  lineage: licence (as recorded from the source's terms), source data sets;
- card body against lineage: the gate verdict and the benchmark verdict sentences, and
  the card's sha256 that lineage records;
- lineage against itself and the rows: the model hash of every row, counts per class,
  the gate verdict against its own rows, the benchmark verdict against its reasons.

What this cannot tell apart is a set rewritten consistently by someone else (new shards,
lineage and card that all agree): that takes the signature (`factory.package.signing`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.io import sha256_bytes, sha256_file
from factory.package.card import (
    BENCHMARK_CLAIM,
    GATE_CLAIM,
    benchmark_verdict,
    size_category,
    source_datasets,
)
from factory.package.dataset import DATA_DIR, SPLIT
from factory.package.lineage import gate_verdict, read_lineage
from factory.package.signing import Signature, check_signature


@dataclass
class ShardFacts:
    """What the shards themselves say, for the card and lineage checks."""

    rows: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    model_hashes: set[str] = field(default_factory=set)
    features: Any = None
    bytes: int = 0


@dataclass(frozen=True)
class Verification:
    """The outcome of `check_set`: differences, signature state and the gate's verdict."""

    differences: list[str]
    signature: Signature
    gate_passed: bool
    gate_verdict: str

    @property
    def intact(self) -> bool:
        return not self.differences and self.signature.ok


def shard_differences(set_dir: Path, lineage: dict) -> list[str]:
    """Shards missing, extra, resized or with another sha256 than recorded."""
    recorded = {s["path"]: s for s in lineage["shards"]}
    present = {p.relative_to(set_dir).as_posix() for p in (set_dir / DATA_DIR).glob("*.parquet")}
    diffs = [f"{p}: recorded in lineage.json but missing" for p in sorted(set(recorded) - present)]
    diffs += [f"{p}: present but not in lineage.json" for p in sorted(present - set(recorded))]
    for rel in sorted(set(recorded) & present):
        actual = sha256_file(set_dir / rel)
        if actual != recorded[rel]["sha256"]:
            diffs.append(f"{rel}: sha256 {actual[:12]} != recorded {recorded[rel]['sha256'][:12]}")
    return diffs


def _read_shard(path: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["image", "label", "image_id", "image_sha256", "model_hash"])


def row_differences(set_dir: Path, lineage: dict, facts: ShardFacts) -> list[str]:
    """Per-image hashes, row counts, class counts and model hashes inside the shards."""
    import pyarrow.parquet as pq

    import datasets

    diffs: list[str] = []
    classes = lineage["set"]["classes"]
    facts.per_class = dict.fromkeys(classes, 0)
    for shard in lineage["shards"]:
        path = set_dir / shard["path"]
        if not path.exists():
            continue
        try:
            table = _read_shard(path)
            facts.features = datasets.Features.from_arrow_schema(pq.read_schema(path))
        except Exception as exc:  # a damaged file: report it, keep checking the rest
            diffs.append(f"{shard['path']}: unreadable parquet ({type(exc).__name__}: {exc})")
            continue
        if table.num_rows != shard["rows"]:
            diffs.append(f"{shard['path']}: {table.num_rows} rows != recorded {shard['rows']}")
        facts.rows += table.num_rows
        facts.bytes += path.stat().st_size
        columns = table.to_pydict()
        for image, label, image_id, expected, model_hash in zip(*columns.values(), strict=True):
            if sha256_bytes(image["bytes"]) != expected:
                diffs.append(f"{shard['path']}: image {image_id} bytes differ from image_sha256")
            if not 0 <= label < len(classes):
                diffs.append(f"{shard['path']}: image {image_id} has label {label} out of range")
                continue
            facts.per_class[classes[label]] += 1
            facts.model_hashes.add(model_hash)
    return diffs


def lineage_differences(lineage: Mapping[str, Any], facts: ShardFacts) -> list[str]:
    """lineage.json's own claims against the rows and against each other."""
    s, where = lineage["set"], "lineage.json"
    diffs = []
    if facts.rows != s["rows"]:
        diffs.append(f"{where}: set.rows {s['rows']} != {facts.rows} rows in the shards")
    if facts.per_class != s["per_class"]:
        diffs.append(f"{where}: set.per_class {s['per_class']} != shards' {facts.per_class}")
    model_hash = lineage["model"].get("model_hash")
    if facts.model_hashes and facts.model_hashes != {model_hash}:
        diffs.append(
            f"{where}: model.model_hash {str(model_hash)[:12]} but the rows carry "
            f"{sorted(h[:12] for h in facts.model_hashes)}"
        )
    terms = ((lineage["source"].get("record") or {}).get("terms")) or {}
    if terms and s["license"] != terms.get("license"):
        diffs.append(
            f"{where}: set.license {s['license']!r} but the source's recorded terms say "
            f"{terms.get('license')!r}"
        )
    return diffs + gate_differences(lineage["gate"]) + benchmark_differences(lineage)


def gate_differences(gate: Mapping[str, Any]) -> list[str]:
    """The recorded gate verdict against the gate's own rows and metrics document."""
    where, diffs = "lineage.json gate", []
    if gate["metrics"].get("passed") != gate["passed"]:
        diffs.append(f"{where}: passed {gate['passed']} but its metrics say otherwise")
    if gate["verdict"] != gate_verdict(gate["passed"]):
        diffs.append(f"{where}: verdict {gate['verdict']!r} but passed is {gate['passed']}")
    for c in gate["checks"]:
        name = c["metric"] if c["scope"] == "overall" else f"{c['metric']}[{c['scope']}]"
        if gate["passed"] and c["gated"] and not c["passed"]:
            diffs.append(f"{where}: passed, but its row {name} failed")
        value, bound = c["compared_value"], c["threshold"]
        if c["gated"] and c["passed"] and value is not None and bound is not None:
            holds = value <= bound if c["direction"] == "max" else value >= bound
            if not holds:
                diffs.append(
                    f"{where}: row {name} says passed, but {value} is not "
                    f"{'<=' if c['direction'] == 'max' else '>='} its threshold {bound}"
                )
    return diffs


def benchmark_differences(lineage: Mapping[str, Any]) -> list[str]:
    """The benchmark verdict (added at publish) against its own reasons and TSTR result."""
    acceptance = (lineage.get("publication") or {}).get("benchmark")
    if acceptance is None:
        return []
    where = "lineage.json publication.benchmark"
    reasons = acceptance.get("reasons")
    diffs = []
    if isinstance(reasons, list) and bool(reasons) == bool(acceptance["accepted"]):
        state = "accepted" if acceptance["accepted"] else "rejected"
        diffs.append(f"{where}: {state} with {len(reasons)} rejection reason(s)")
    tstr = acceptance.get("tstr") or {}
    if acceptance["accepted"] and tstr.get("required") and tstr.get("passed") is not True:
        diffs.append(f"{where}: accepted, but its required TSTR condition did not pass")
    return diffs


def _card_meta(path: Path) -> tuple[dict[str, Any] | None, str, list[str]]:
    from huggingface_hub import DatasetCard

    if not path.exists():
        return None, "", ["README.md: missing"]
    try:
        card = DatasetCard.load(path)
    except Exception as exc:  # the card's YAML is user-editable text
        return None, "", [f"README.md: metadata does not parse ({exc})"]
    return card.data.to_dict(), card.text, []


def yaml_differences(
    meta: Mapping[str, Any], lineage: Mapping[str, Any], facts: ShardFacts
) -> list[str]:
    """The card's YAML metadata against the shards and lineage.json."""
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    where, diffs = "README.md metadata", []
    files = [f for c in meta.get("configs") or [] for f in c.get("data_files", [])]
    if not any(f.get("split") == SPLIT for f in files):
        diffs.append(f"{where}: configs lists no data_files for split {SPLIT!r}")
    expect = {
        "license": lineage["set"]["license"],
        "source_datasets": source_datasets(lineage),
        "size_categories": [size_category(facts.rows)],
    }
    for key, wanted in expect.items():
        if meta.get(key) != wanted:
            diffs.append(f"{where}: {key} {meta.get(key)!r} != {wanted!r} (from the data)")
    infos = DatasetInfosDict.from_dataset_card_data(DatasetCardData(**meta))
    info = infos.get("default")
    if info is None or info.splits is None or SPLIT not in info.splits:
        return [*diffs, f"{where}: no dataset_info for split {SPLIT!r}"]
    if info.splits[SPLIT].num_examples != facts.rows:
        diffs.append(
            f"{where}: num_examples {info.splits[SPLIT].num_examples} != {facts.rows} rows "
            "in the shards"
        )
    if info.download_size != facts.bytes:
        diffs.append(f"{where}: download_size {info.download_size} != shards' {facts.bytes} bytes")
    if facts.features is not None and info.features != facts.features:
        diffs.append(f"{where}: features differ from the shards' ({_feature_names(info)})")
    return diffs


def _feature_names(info: Any) -> str:
    return ", ".join(info.features) if info.features else "none"


def claim_differences(text: str, lineage: Mapping[str, Any]) -> list[str]:
    """The body's verdict sentences against what lineage.json records."""
    diffs = []
    expected = {
        GATE_CLAIM: lineage["gate"]["verdict"],
        BENCHMARK_CLAIM: benchmark_verdict(lineage),
    }
    for marker, wanted in expected.items():
        found = re.findall(rf"^{re.escape(marker)} (.+?)\s*$", text, flags=re.MULTILINE)
        label = marker.strip("*:")
        if not found:
            diffs.append(f"README.md: no '{label}' sentence (lineage.json records {wanted!r})")
        diffs += [
            f"README.md: says '{label}: {claim}' but lineage.json records {wanted!r}"
            for claim in found
            if claim != wanted
        ]
    return diffs


# Files rendered from lineage.json whose sha256 it records (set after rendering them).
RENDERED = (("README.md", "card_sha256"), ("croissant.json", "croissant_sha256"))


def rendered_differences(set_dir: Path, lineage: Mapping[str, Any]) -> list[str]:
    """The card and croissant.json against the sha256 lineage.json recorded for them."""
    diffs = []
    for name, key in RENDERED:
        recorded, path = lineage.get(key), set_dir / name
        if recorded is None:
            continue
        if not path.exists():
            diffs.append(f"{name}: recorded in lineage.json ({key}) but missing")
        elif sha256_file(path) != recorded:
            diffs.append(
                f"{name}: sha256 {sha256_file(path)[:12]} != recorded {recorded[:12]} "
                "(changed after it was rendered)"
            )
    return diffs


def card_differences(set_dir: Path, lineage: Mapping[str, Any], facts: ShardFacts) -> list[str]:
    meta, text, diffs = _card_meta(set_dir / "README.md")
    if meta is None:
        return diffs
    return diffs + yaml_differences(meta, lineage, facts) + claim_differences(text, lineage)


def verify_set(set_dir: str | Path) -> list[str]:
    """Every difference between the set's files and its claims (empty when consistent)."""
    set_dir = Path(set_dir)
    lineage = read_lineage(set_dir)
    facts = ShardFacts()
    try:
        diffs = shard_differences(set_dir, lineage) + row_differences(set_dir, lineage, facts)
        diffs += lineage_differences(lineage, facts) + rendered_differences(set_dir, lineage)
        return diffs + card_differences(set_dir, lineage, facts)
    except (KeyError, TypeError, AttributeError) as exc:  # an edited lineage.json's shape
        return [f"lineage.json: malformed ({type(exc).__name__}: {exc}); not as factory wrote it"]


def check_set(set_dir: str | Path, trusted: Any = None) -> Verification:
    """`verify_set`, the signature's state (against `trusted`, a public key, if given) and
    the recorded gate verdict."""
    lineage = read_lineage(set_dir)
    return Verification(
        differences=verify_set(set_dir),
        signature=check_signature(set_dir, trusted),
        gate_passed=bool(lineage["gate"]["passed"]),
        gate_verdict=str(lineage["gate"]["verdict"]),
    )


def check_image(set_dir: str | Path, lineage: Mapping[str, Any], shard: str, image_id: str) -> None:
    """Refuse to trace an image whose shard differs from lineage.json, or whose bytes differ
    from its recorded image_sha256: the chain printed for it would not be its own."""
    import pyarrow.compute as pc

    set_dir = Path(set_dir)
    recorded = next((s for s in lineage["shards"] if s["path"] == shard), None)
    if recorded is None:
        raise FactoryError(f"{set_dir / shard}: not listed in lineage.json; run `factory verify`")
    actual = sha256_file(set_dir / shard)
    if actual != recorded["sha256"]:
        raise FactoryError(
            f"{set_dir / shard}: sha256 {actual[:12]} != recorded {recorded['sha256'][:12]}: "
            "the shard is corrupted or was changed, so its rows cannot be traced; pull the "
            "set again (`factory pull`) and run `factory verify`"
        )
    table = _read_shard(set_dir / shard)
    row = table.filter(pc.equal(table["image_id"], image_id)).to_pylist()[0]
    if sha256_bytes(row["image"]["bytes"]) != row["image_sha256"]:
        raise FactoryError(f"{set_dir / shard}: image {image_id} bytes differ from image_sha256")
