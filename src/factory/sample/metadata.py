"""The sample metadata table: one row per synthetic image, the contract with gate/package.

pandas only (no torch), so readers of a synthetic set do not pay for the sampler.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from factory.errors import FactoryError
from factory.io import atomic_write_bytes

METADATA_FILE = "metadata.parquet"

COLUMNS: dict[str, str] = {
    "image_id": "string",  # syn-<class>-<index>, also the PNG's file stem
    "label": "int64",  # index into common.classes
    "class_name": "string",
    "seed": "int64",  # this image's own generator seed (from set seed, class, index)
    "scheduler": "string",
    "steps": "int64",
    "guidance": "float64",
    "model_hash": "string",  # sha256 over the weights sampled from
    "path": "string",  # the PNG, relative to the sample folder
    "sha256": "string",  # of the PNG bytes
}


def metadata_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts with the COLUMNS keys) as a typed table in COLUMNS order."""
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)


def write_metadata(sample_dir: str | Path, df: pd.DataFrame) -> Path:
    """Write `metadata.parquet` atomically: its presence marks a complete set."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return atomic_write_bytes(Path(sample_dir) / METADATA_FILE, buf.getvalue())


def read_metadata(sample_dir: str | Path) -> pd.DataFrame:
    """Read a finished synthetic set's table (the PNGs are under `sample_dir`)."""
    path = Path(sample_dir) / METADATA_FILE
    if not path.exists():
        raise FactoryError(
            f"{path}: no sample metadata (no finished synthetic set here); run `dvc repro sample`"
        )
    df = pd.read_parquet(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise FactoryError(f"{path}: missing column(s) {', '.join(missing)}; re-run sample")
    return df
