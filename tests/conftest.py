"""Shared fixtures: a tiny ingested dataset in the manifest layout, fast to make."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory.io import png16_bytes, sha256_bytes
from factory.manifest import COLUMNS


def make_tiny_manifest(
    root: Path,
    *,
    patients: int = 12,
    images_per_patient: int = 2,
    size: int = 32,
    classes: tuple[str, ...] = ("normal", "abnormal"),
    seed: int = 0,
) -> Path:
    """Write breast-like 16-bit PNGs and a valid manifest.parquet under `root`.

    Class 1 images carry a bright blob, so a model can tell the classes apart. Patients
    are split train/val/test 60/20/20 by patient, each class present in each split.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rows = []
    for p in range(patients):
        label = classes[p % len(classes)]
        split = ("train", "train", "train", "val", "test")[(p // len(classes)) % 5]
        if p >= patients - 2 * len(classes):  # make sure val and test hold every class
            split = "val" if p < patients - len(classes) else "test"
        for v in range(images_per_patient):
            breast = ((xx / 0.8) ** 2 + ((yy - 0.5) / 0.45) ** 2) < 1
            img = breast * (0.4 + 0.1 * rng.standard_normal((size, size)))
            if label != classes[0]:
                cy, cx = rng.uniform(0.35, 0.65), rng.uniform(0.2, 0.5)
                img += 0.5 * np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / 0.004))
            pixels = (np.clip(img, 0, 1) * 65535).astype(np.uint16)
            data = png16_bytes(pixels)
            image_id = f"img-{p:03d}{v}"
            (root / "images" / f"{image_id}.png").write_bytes(data)
            rows.append(
                {
                    "image_id": image_id,
                    "patient_id": f"pat-{p:03d}",
                    "label": label,
                    "source_label": "1" if label == classes[0] else "4a",
                    "view": ("CC", "MLO")[v % 2],
                    "laterality": "L",
                    "split": split,
                    "fold": p % 5,
                    "sha256": sha256_bytes(data),
                    "source_sha256": sha256_bytes(f"source-{image_id}".encode()),
                    "source": "tiny",
                    "path": f"images/{image_id}.png",
                }
            )
    df = pd.DataFrame(rows).astype(COLUMNS)
    path = root / "manifest.parquet"
    df.to_parquet(path, index=False)
    return path


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> Path:
    """Path to a tiny manifest.parquet (images beside it under images/)."""
    return make_tiny_manifest(tmp_path / "ingest")


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """accelerate keeps one process-wide state and refuses a second Accelerator with other
    settings (bf16 after "no"): cleared after every test that used it, so that tests do
    not depend on their order (a bf16 gpu_check test once broke a later train test)."""
    import sys

    yield
    if "accelerate.state" in sys.modules:
        state = sys.modules["accelerate.state"]
        state.AcceleratorState._reset_state(reset_partial_state=True)
        state.GradientState._reset_state()
