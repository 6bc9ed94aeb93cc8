"""The gate's accepted images as a `datasets.Dataset`, written as Hub-layout parquet shards.

The PNG bytes the sampler wrote are stored as they are (the `Image` feature keeps bytes
verbatim), so 16-bit pixels survive the round trip exactly and the shard bytes depend only
on the inputs: the same accepted set always gives the same shard hashes.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import pandas as pd

from factory.errors import FactoryError
from factory.io import sha256_bytes, sha256_file
from factory.sample.metadata import COLUMNS as METADATA_COLUMNS

SAMPLE_COLUMNS = tuple(c for c in METADATA_COLUMNS if c != "sha256")
SPLIT = "train"
DATA_DIR = "data"

# Columns of outputs/gate/accepted.parquet this stage relies on.
ACCEPTED_COLUMNS = (*SAMPLE_COLUMNS, "nearest_real_ncc", "nearest_real_feature_distance")

# Provenance columns of the packaged set, beside `image` and `label`: (name, arrow dtype).
PROVENANCE_COLUMNS = (
    ("image_id", "string"),
    ("seed", "int64"),
    ("scheduler", "string"),
    ("steps", "int64"),
    ("guidance", "float64"),
    ("model_hash", "string"),
    ("nearest_real_ncc", "float64"),
    ("nearest_real_feature_distance", "float64"),
    ("image_sha256", "string"),
)
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L")


def features(classes: tuple[str, ...]) -> Any:
    """The set's `datasets.Features`: 16-bit image, class label, provenance columns."""
    import datasets

    cols: dict[str, Any] = {
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=list(classes)),
    }
    cols.update({name: datasets.Value(dtype) for name, dtype in PROVENANCE_COLUMNS})
    return datasets.Features(cols)


def read_accepted(path: str | Path) -> pd.DataFrame:
    """Read the gate's accepted rows, sorted by image id so the shards are deterministic."""
    path = Path(path)
    if not path.exists():
        raise FactoryError(f"{path}: no accepted images file; run `dvc repro gate` first")
    df = pd.read_parquet(path)
    missing = [c for c in ACCEPTED_COLUMNS if c not in df.columns]
    if missing:
        raise FactoryError(f"{path}: missing column(s) {', '.join(missing)}; re-run the gate")
    if df.empty:
        raise FactoryError(f"{path}: the gate accepted no images; nothing to package")
    if df["image_id"].duplicated().any():
        dup = df.loc[df["image_id"].duplicated(), "image_id"].iloc[0]
        raise FactoryError(f"{path}: image_id {dup!r} appears more than once; re-run the gate")
    return df.sort_values("image_id", kind="stable").reset_index(drop=True)


def check_labels(df: pd.DataFrame, classes: tuple[str, ...], where: str) -> None:
    """Each row's integer label must name its class_name in common.classes."""
    for label, name in df[["label", "class_name"]].drop_duplicates().itertuples(index=False):
        if not 0 <= int(label) < len(classes) or classes[int(label)] != name:
            raise FactoryError(
                f"{where}: label {label} / class_name {name!r} does not match common.classes "
                f"{list(classes)}; sample and package with the same classes"
            )


def _png16(path: Path) -> bytes:
    from PIL import Image

    if not path.exists():
        raise FactoryError(f"{path}: accepted image is missing; re-run `dvc repro sample gate`")
    data = path.read_bytes()
    with Image.open(BytesIO(data)) as im:
        if im.format != "PNG" or im.mode not in SIXTEEN_BIT_MODES:
            raise FactoryError(
                f"{path}: expected a 16-bit grayscale PNG, got {im.format} mode {im.mode}"
            )
    return data


def build_dataset(df: pd.DataFrame, samples_dir: str | Path, classes: tuple[str, ...]) -> Any:
    """The accepted rows and their PNG bytes as a `datasets.Dataset` with `features(classes)`."""
    import datasets

    samples_dir = Path(samples_dir)
    recorded = df["sha256"] if "sha256" in df.columns else [None] * len(df)
    images, hashes = [], []
    for rel, expected in zip(df["path"], recorded, strict=True):
        data = _png16(samples_dir / rel)
        digest = sha256_bytes(data)
        if expected is not None and digest != expected:
            raise FactoryError(
                f"{samples_dir / rel}: bytes differ from the sha256 the sampler recorded; "
                "the sample folder changed after the gate: re-run `dvc repro sample gate`"
            )
        images.append({"bytes": data, "path": Path(rel).name})
        hashes.append(digest)
    columns: dict[str, list] = {"image": images, "label": [int(v) for v in df["label"]]}
    for name, dtype in PROVENANCE_COLUMNS:
        if name == "image_sha256":
            columns[name] = hashes
        else:
            cast = {"string": str, "int64": int, "float64": float}[dtype]
            columns[name] = [cast(v) for v in df[name]]
    return datasets.Dataset.from_dict(columns, features=features(classes))


def shard_name(index: int, count: int) -> str:
    """Hub naming of a shard: data/train-00000-of-00002.parquet."""
    return f"{DATA_DIR}/{SPLIT}-{index:05d}-of-{count:05d}.parquet"


def write_shards(ds: Any, root: str | Path, rows_per_shard: int) -> list[dict[str, Any]]:
    """Write `ds` as contiguous parquet shards under `root`/data; returns path, rows, sha256."""
    root = Path(root)
    count = max(1, -(-len(ds) // rows_per_shard))
    shards = []
    for index in range(count):
        part = ds.shard(num_shards=count, index=index, contiguous=True)
        rel = shard_name(index, count)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(str(root / rel))
        shards.append(
            {
                "path": rel,
                "rows": len(part),
                "bytes": (root / rel).stat().st_size,
                "sha256": sha256_file(root / rel),
            }
        )
    return shards


def read_rows(set_dir: str | Path, with_images: bool = False) -> pd.DataFrame:
    """All rows of a packaged set's shards as a DataFrame (image bytes only when asked)."""
    import pyarrow.parquet as pq

    files = sorted((Path(set_dir) / DATA_DIR).glob(f"{SPLIT}-*.parquet"))
    if not files:
        raise FactoryError(f"{set_dir}: no {DATA_DIR}/{SPLIT}-*.parquet shards; not a packaged set")
    frames = []
    for f in files:
        table = pq.read_table(f)
        if not with_images:
            table = table.drop(["image"])
        frame = table.to_pandas()
        frame["shard"] = f.relative_to(set_dir).as_posix()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
