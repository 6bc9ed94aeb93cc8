"""Tiny real and synthetic sets in the on-disk layouts the gate reads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from factory.io import write_png16
from factory.sample.metadata import metadata_frame, write_metadata

_spec = importlib.util.spec_from_file_location(
    "_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
)
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
make_tiny_manifest = _root.make_tiny_manifest

CLASSES = ("normal", "abnormal")


def breast_like(n: int, label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Fresh images from the same recipe as make_tiny_manifest (values in [0, 1])."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        breast = ((xx / 0.8) ** 2 + ((yy - 0.5) / 0.45) ** 2) < 1
        img = breast * (0.4 + 0.1 * rng.standard_normal((size, size)))
        if label:
            cy, cx = rng.uniform(0.35, 0.65), rng.uniform(0.2, 0.5)
            img += 0.5 * np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / 0.004))
        out.append(np.clip(img, 0, 1))
    return np.stack(out).astype(np.float32)


def write_samples(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """The sample stage's layout: images/<class>/<id>.png (16-bit) and metadata.parquet."""
    rows = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = CLASSES[int(label)]
        rel = f"images/{name}/syn-{i:05d}.png"
        digest = write_png16(root / rel, np.round(np.clip(image, 0, 1) * 65535).astype(np.uint16))
        rows.append(
            {
                "image_id": f"syn-{i:05d}",
                "label": int(label),
                "class_name": name,
                "seed": 1000 + i,
                "scheduler": "ddim",
                "steps": 10,
                "guidance": 1.0,
                "model_hash": "0" * 64,
                "path": rel,
                "sha256": digest,
            }
        )
    write_metadata(root, metadata_frame(rows))
    return root


@pytest.fixture
def gate_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(samples folder with 20 honest synthetic images per class, manifest path), 32 px."""
    manifest = make_tiny_manifest(tmp_path / "ingest", patients=30, size=32)
    rng = np.random.default_rng(7)
    images = np.concatenate([breast_like(20, c, 32, rng) for c in (0, 1)])
    labels = np.repeat([0, 1], 20)
    return write_samples(tmp_path / "sample", images, labels), manifest
