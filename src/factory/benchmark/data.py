"""The benchmark's image pool: real images from the ingest manifest plus a packaged synthetic set.

The synthetic set is read the way a consumer reads it, through `datasets.load_dataset` on
the packaged folder (Hub dataset-repo layout). Every image, real or synthetic, gets a
pixel hash so the leakage guard can recognise a synthetic image even if it were copied
into the real data under another name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.errors import FactoryError
from factory.io import sha256_file
from factory.manifest import class_index, load_images, read_manifest

LINEAGE_FILE = "lineage.json"
REAL, SYNTHETIC = "real", "synthetic"


@dataclass(frozen=True)
class Pool:
    """All images a benchmark may use, one row each, real rows first.

    `rows` columns: image_id, patient_id, y (class index), origin (real|synthetic), split
    (the manifest's; 'synthetic' for synthetic rows), fold (-1 for synthetic), pixel_sha256.
    """

    rows: pd.DataFrame
    real_images: np.ndarray  # uint16 [n_real, H, W]
    synthetic_images: np.ndarray  # uint16 [n_synthetic, h, w]
    classes: tuple[str, ...]
    manifest_sha256: str
    lineage: dict[str, Any]

    def tensor(self, size: int) -> Any:
        """All images as one float tensor [N, 1, size, size] in [0, 1], in `rows` order."""
        import torch

        parts = [to_tensor(a, size) for a in (self.real_images, self.synthetic_images) if len(a)]
        return torch.cat(parts) if parts else torch.zeros((0, 1, size, size))


def to_tensor(images: np.ndarray, size: int) -> Any:
    """uint16 [N, H, W] -> float [N, 1, size, size] in [0, 1] (antialiased bilinear resize)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images.astype(np.float32) / 65535.0).unsqueeze(1)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return x.clamp_(0.0, 1.0)


def pixel_hash(image: np.ndarray) -> str:
    """sha256 over shape and uint16 pixels: the same picture gives the same hash whatever
    the file encoding."""
    a = np.ascontiguousarray(image, dtype=np.uint16)
    return hashlib.sha256(f"{a.shape}".encode() + a.tobytes()).hexdigest()


def decode_png16(data: bytes) -> np.ndarray:
    """PNG bytes -> uint16 [H, W]; 8-bit images are scaled to the 16-bit range."""
    from PIL import Image

    with Image.open(BytesIO(data)) as im:
        arr = np.asarray(im)
    if arr.ndim == 3:
        raise ValueError(f"expected a grayscale image, got {arr.shape[2]} channels")
    return arr.astype(np.uint16) * 257 if arr.dtype == np.uint8 else arr.astype(np.uint16)


def load_real(
    manifest_path: str | Path, classes: tuple[str, ...]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The manifest's rows (with class indices and pixel hashes) and their images."""
    manifest_path = Path(manifest_path)
    df = read_manifest(manifest_path).reset_index(drop=True)
    images = load_images(df, manifest_path.parent)
    rows = pd.DataFrame(
        {
            "image_id": df["image_id"].astype(str),
            "patient_id": df["patient_id"].astype(str),
            "y": class_index(df["label"], classes, str(manifest_path)),
            "origin": REAL,
            "split": df["split"].astype(str),
            "fold": df["fold"].astype(np.int64),
            "pixel_sha256": [pixel_hash(a) for a in images],
        }
    )
    return rows, images


def load_synthetic(
    dataset_dir: str | Path, classes: tuple[str, ...]
) -> tuple[pd.DataFrame, np.ndarray]:
    """A packaged synthetic set, read with `datasets.load_dataset` as a consumer would."""
    import datasets

    dataset_dir = Path(dataset_dir)
    if not (dataset_dir / "data").is_dir():
        raise FactoryError(
            f"{dataset_dir}: not a packaged synthetic set (no data/ folder); "
            "run `dvc repro package`"
        )
    ds = datasets.load_dataset(str(dataset_dir), split="train")
    label = ds.features.get("label")
    names = tuple(getattr(label, "names", ()) or ())
    if names != tuple(classes):
        raise FactoryError(
            f"{dataset_dir}: synthetic classes {list(names)} differ from common.classes "
            f"{list(classes)}; package the set with the same classes or fix params.yaml"
        )
    # Undecoded bytes: we decode to uint16 ourselves so 16-bit pixels are kept exactly.
    ds = ds.cast_column("image", datasets.Image(decode=False))
    records = ds.select_columns(
        ["image", "label"] + (["image_id"] if "image_id" in ds.column_names else [])
    ).to_list()
    images = [decode_png16(r["image"]["bytes"]) for r in records]
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise FactoryError(f"{dataset_dir}: synthetic images differ in size {sorted(shapes)}")
    ids = [str(r.get("image_id") or f"synthetic-{i:06d}") for i, r in enumerate(records)]
    rows = pd.DataFrame(
        {
            "image_id": ids,
            "patient_id": [f"synthetic:{i}" for i in ids],  # each image its own "patient"
            "y": np.asarray([int(r["label"]) for r in records], dtype=np.int64),
            "origin": SYNTHETIC,
            "split": SYNTHETIC,
            "fold": -1,
            "pixel_sha256": [pixel_hash(a) for a in images],
        }
    )
    stack = np.stack(images) if images else np.zeros((0, 1, 1), dtype=np.uint16)
    return rows, stack


def read_lineage(dataset_dir: str | Path) -> dict[str, Any]:
    path = Path(dataset_dir) / LINEAGE_FILE
    if not path.exists():
        raise FactoryError(
            f"{path}: missing; without the generator's lineage the benchmark cannot prove the "
            "test patients were unseen (re-run `dvc repro package`)"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FactoryError(
            f"{path}: not valid JSON ({exc.msg}); re-run `dvc repro package`"
        ) from None


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def generator_training(lineage: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """(sha256 of the manifest the generator was trained on, the splits it trained on).

    The package stage records the model link under `model` (manifest_sha256, split); older
    or hand-made files may use `train.*`. The source manifest's hash is only a fallback.
    """
    sha = None
    for key in ("model.manifest_sha256", "train.manifest_sha256", "source.manifest_sha256"):
        sha = _lookup(lineage, key)
        if sha:
            break
    split = _lookup(lineage, "model.split") or _lookup(lineage, "train.split") or "train"
    if isinstance(split, str):
        split = split.replace("+", ",").split(",")
    return (str(sha) if sha else None), tuple(s.strip() for s in split if s.strip())


def load_pool(dataset_dir: str | Path, manifest_path: str | Path, classes: tuple[str, ...]) -> Pool:
    """Read the real manifest, the synthetic set and its lineage into one Pool."""
    if len(classes) != 2:
        raise FactoryError(
            f"common.classes has {len(classes)} classes {list(classes)}; the benchmark is a "
            "binary classifier (negative, positive): use two classes"
        )
    real_rows, real_images = load_real(manifest_path, classes)
    synth_rows, synth_images = load_synthetic(dataset_dir, classes)
    rows = pd.concat([real_rows, synth_rows], ignore_index=True)
    return Pool(
        rows=rows,
        real_images=real_images,
        synthetic_images=synth_images,
        classes=tuple(classes),
        manifest_sha256=sha256_file(manifest_path),
        lineage=read_lineage(dataset_dir),
    )
