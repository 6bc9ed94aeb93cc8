"""The ingest manifest: one row per stored real image, the contract between stages.

Written by `ingest`, read by `train`, `gate` and `benchmark`. Identifiers are keyed-hash
pseudonyms; no source file name, patient ID or date is ever in it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from factory.errors import FactoryError
from factory.io import read_png16

COLUMNS: dict[str, str] = {
    "image_id": "string",  # pseudonym of the image, also its file stem under images/
    "patient_id": "string",  # pseudonym of the patient (keyed hash)
    "label": "string",  # the project's class name (common.classes)
    "source_label": "string",  # the dataset's own label, e.g. BI-RADS "4a"
    "view": "string",  # CC | MLO | other
    "laterality": "string",  # L | R
    "split": "string",  # train | val | test, by patient
    "fold": "int64",  # k-fold index, by patient, stratified by label
    "sha256": "string",  # of the stored PNG
    "source_sha256": "string",  # of the original file
    "source": "string",  # dataset kind, e.g. inbreast
    "path": "string",  # stored image, relative to the manifest's folder
}
SPLITS = ("train", "val", "test")


def validate_manifest(df: pd.DataFrame, where: str = "manifest") -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise FactoryError(
            f"{where}: missing column(s) {', '.join(missing)}; re-run the ingest stage"
        )
    bad = sorted(set(df["split"]) - set(SPLITS))
    if bad:
        raise FactoryError(f"{where}: column 'split' has {bad}; expected one of {SPLITS}")
    shared = (df.groupby("patient_id")["split"].nunique() > 1).sum()
    if shared:
        raise FactoryError(f"{where}: {shared} patient(s) appear in more than one split")
    return df


def read_manifest(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FactoryError(f"{path}: no manifest here; run `dvc repro ingest` first")
    return validate_manifest(pd.read_parquet(path), str(path))


def class_index(labels: pd.Series, classes: tuple[str, ...], where: str = "manifest") -> np.ndarray:
    """Map class names to indices of `classes`; unknown names are an error."""
    lookup = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(labels) - set(lookup))
    if unknown:
        raise FactoryError(
            f"{where}: label(s) {unknown} are not in common.classes {list(classes)}; "
            "fix the label map or common.classes in params.yaml"
        )
    return labels.map(lookup).to_numpy(dtype=np.int64)


def load_images(df: pd.DataFrame, root: str | Path) -> np.ndarray:
    """Decode the rows' PNGs into one uint16 array [N, H, W] (all the same size)."""
    root = Path(root)
    arrays = [read_png16(root / p) for p in df["path"]]
    if not arrays:
        return np.zeros((0, 0, 0), dtype=np.uint16)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise FactoryError(f"{root}: stored images differ in size {sorted(shapes)}")
    return np.stack(arrays)
