"""Fakes in the real on-disk layouts: a tiny packaged synthetic set beside a tiny manifest."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from factory.config import CommonConfig
from factory.io import png16_bytes, sha256_file

# importlib import mode cannot import another conftest by name: load the root one by path.
_spec = importlib.util.spec_from_file_location(
    "_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
)
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
make_tiny_manifest = _root.make_tiny_manifest


def synthetic_image(rng: np.random.Generator, positive: bool, size: int) -> np.ndarray:
    """Breast-like image; positives carry a bright blob (like make_tiny_manifest's)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    breast = ((xx / 0.8) ** 2 + ((yy - 0.5) / 0.45) ** 2) < 1
    img = breast * (0.4 + 0.1 * rng.standard_normal((size, size)))
    if positive:
        cy, cx = rng.uniform(0.35, 0.65), rng.uniform(0.2, 0.5)
        img += 0.5 * np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / 0.004))
    return (np.clip(img, 0, 1) * 65535).astype(np.uint16)


def make_synthetic_set(
    root: Path,
    *,
    manifest_sha256: str | None,
    classes: tuple[str, ...] = ("normal", "abnormal"),
    per_class: int = 10,
    size: int = 32,
    seed: int = 1,
    extra_images: list[tuple[np.ndarray, int]] = (),
) -> Path:
    """A packaged set in the Hub dataset-repo layout, written with `datasets`."""
    from datasets import ClassLabel, Dataset, Image

    rng = np.random.default_rng(seed)
    pictures = [
        (synthetic_image(rng, c == 1, size), c)
        for c in range(len(classes))
        for _ in range(per_class)
    ]
    pictures += list(extra_images)
    ds = Dataset.from_dict(
        {
            "image": [{"bytes": png16_bytes(a), "path": None} for a, _ in pictures],
            "label": [c for _, c in pictures],
            "image_id": [f"syn-{i:04d}" for i in range(len(pictures))],
            "seed": list(range(len(pictures))),
        }
    )
    ds = ds.cast_column("image", Image()).cast_column("label", ClassLabel(names=list(classes)))
    (root / "data").mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
    (root / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# tiny synthetic set\n")
    lineage = {"schema": "factory.lineage/1", "model": {"split": "train"}}
    if manifest_sha256 is not None:
        lineage["model"]["manifest_sha256"] = manifest_sha256
    (root / "lineage.json").write_text(json.dumps(lineage))
    return root


@pytest.fixture
def tiny_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """(synthetic set folder, manifest path) that agree on the generator's manifest."""
    manifest = make_tiny_manifest(tmp_path / "ingest", patients=20, size=32)
    dataset = make_synthetic_set(tmp_path / "synthetic", manifest_sha256=sha256_file(manifest))
    return dataset, manifest


@pytest.fixture
def common() -> CommonConfig:
    return CommonConfig(seed=0, classes=("normal", "abnormal"), image_size=32)


@pytest.fixture
def synthetic_set() -> Callable[..., Path]:
    """`make_synthetic_set`, for test modules (they cannot import conftest)."""
    return make_synthetic_set


@pytest.fixture
def tiny_manifest_maker() -> Callable[..., Path]:
    return make_tiny_manifest
