"""Recompute every hash of a packaged set and say what differs from its lineage.json."""

from __future__ import annotations

from pathlib import Path

from factory.io import sha256_bytes, sha256_file
from factory.package.dataset import DATA_DIR, SPLIT
from factory.package.lineage import read_lineage


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


def row_differences(set_dir: Path, lineage: dict) -> list[str]:
    """Per-image hashes, row counts and class counts inside the (readable) shards."""
    import pyarrow.parquet as pq

    diffs: list[str] = []
    per_class = dict.fromkeys(lineage["set"]["classes"], 0)
    total = 0
    for shard in lineage["shards"]:
        path = set_dir / shard["path"]
        if not path.exists():
            continue
        try:
            table = pq.read_table(path, columns=["image", "label", "image_id", "image_sha256"])
        except Exception as exc:  # a damaged file: report it, keep checking the rest
            diffs.append(f"{shard['path']}: unreadable parquet ({type(exc).__name__}: {exc})")
            continue
        if table.num_rows != shard["rows"]:
            diffs.append(f"{shard['path']}: {table.num_rows} rows != recorded {shard['rows']}")
        total += table.num_rows
        for image, label, image_id, expected in zip(*table.to_pydict().values(), strict=True):
            if sha256_bytes(image["bytes"]) != expected:
                diffs.append(f"{shard['path']}: image {image_id} bytes differ from image_sha256")
            name = lineage["set"]["classes"][label]
            per_class[name] += 1
    if total != lineage["set"]["rows"] and not diffs:
        diffs.append(f"{total} rows in shards != recorded {lineage['set']['rows']}")
    if per_class != lineage["set"]["per_class"] and not diffs:
        diffs.append(f"images per class {per_class} != recorded {lineage['set']['per_class']}")
    return diffs


def card_differences(set_dir: Path) -> list[str]:
    from huggingface_hub import DatasetCard

    path = set_dir / "README.md"
    if not path.exists():
        return ["README.md: missing"]
    try:
        data = DatasetCard.load(path).data.to_dict()
    except Exception as exc:  # the card's YAML is user-editable text
        return [f"README.md: metadata does not parse ({exc})"]
    files = [f for c in data.get("configs", []) for f in c.get("data_files", [])]
    if not any(f.get("split") == SPLIT for f in files):
        return [f"README.md: configs lists no data_files for split {SPLIT!r}"]
    return []


def verify_set(set_dir: str | Path) -> list[str]:
    """Every difference between the set's files and its lineage.json (empty when intact)."""
    set_dir = Path(set_dir)
    lineage = read_lineage(set_dir)
    return (
        shard_differences(set_dir, lineage)
        + row_differences(set_dir, lineage)
        + card_differences(set_dir)
    )
