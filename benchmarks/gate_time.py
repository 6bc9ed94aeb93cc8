"""Gate wall time: N synthetic against M real training images with the weight-free metrics.

    python benchmarks/gate_time.py [--synthetic 500] [--real 300] [--val 60] [--size 64]

The issue's target: 500 synthetic against 300 real images at 64 px in under 3 minutes on
2 CPU cores, with the weight-free extractor (random_cnn) and FRD. Breast-like images with
smooth random texture are written in the sample and ingest on-disk layouts, then
`run_gate` runs end to end (loading, features, FID/KID/PRDC/FRD/MS-SSIM, copy search,
sanity, report). The machine's load average is printed beside the figure: on a shared
machine the figure is pessimistic.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from factory.config import CommonConfig
from factory.gate.config import GateConfig
from factory.gate.run import run_gate
from factory.io import png16_bytes, sha256_bytes, write_png16
from factory.manifest import COLUMNS
from factory.sample.metadata import metadata_frame, write_metadata

CLASSES = ("normal", "abnormal")


def breast_images(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint16 images [n, size, size] with a breast outline, texture and (class 1) a mass."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    labels = np.arange(n) % 2
    out = np.zeros((n, size, size), dtype=np.uint16)
    for i in range(n):
        width = rng.uniform(0.6, 0.9)
        breast = ((xx / width) ** 2 + ((yy - 0.5) / rng.uniform(0.35, 0.5)) ** 2) < 1
        texture = gaussian_filter(rng.standard_normal((size, size)), sigma=size / 32)
        img = breast * (0.45 + 0.8 * texture + 0.05 * rng.standard_normal((size, size)))
        if labels[i]:
            cy, cx = rng.uniform(0.35, 0.65), rng.uniform(0.2, 0.5)
            img += 0.4 * np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / 0.004))
        out[i] = np.round(np.clip(img, 0, 1) * 65535).astype(np.uint16)
    return out, labels


def write_real(root: Path, train: int, val: int, size: int, rng: np.random.Generator) -> Path:
    images, labels = breast_images(train + val, size, rng)
    rows = []
    (root / "images").mkdir(parents=True)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        data = png16_bytes(image)
        (root / "images" / f"r{i:05d}.png").write_bytes(data)
        rows.append(
            {
                "image_id": f"r{i:05d}",
                "patient_id": f"p{i:05d}",
                "label": CLASSES[label],
                "source_label": "-",
                "view": "CC",
                "laterality": "L",
                "split": "train" if i < train else "val",
                "fold": i % 5,
                "sha256": sha256_bytes(data),
                "source_sha256": "-",
                "source": "bench",
                "path": f"images/r{i:05d}.png",
            }
        )
    pd.DataFrame(rows).astype(COLUMNS).to_parquet(root / "manifest.parquet", index=False)
    return root / "manifest.parquet"


def write_synthetic(root: Path, n: int, size: int, rng: np.random.Generator) -> Path:
    images, labels = breast_images(n, size, rng)
    rows = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        rel = f"images/{CLASSES[label]}/s{i:05d}.png"
        digest = write_png16(root / rel, image)
        rows.append(
            {
                "image_id": f"s{i:05d}",
                "label": int(label),
                "class_name": CLASSES[label],
                "seed": i,
                "scheduler": "bench",
                "steps": 0,
                "guidance": 1.0,
                "model_hash": "-",
                "path": rel,
                "sha256": digest,
            }
        )
    write_metadata(root, metadata_frame(rows))
    return root


def _cpu_seconds() -> float:
    """User + system time of this process and its finished children (the FRD pool)."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=500, help="synthetic images")
    parser.add_argument("--real", type=int, default=300, help="real training images")
    parser.add_argument("--val", type=int, default=60, help="real val images (calibration)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--no-frd", action="store_true", help="skip FRD (radiomics)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        manifest = write_real(Path(tmp) / "ingest", args.real, args.val, args.size, rng)
        samples = write_synthetic(Path(tmp) / "sample", args.synthetic, args.size, rng)
        config = GateConfig(extractor="random_cnn", frd=not args.no_frd, frd_workers=2)
        load_before = os.getloadavg()[0]
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        result = run_gate(
            samples, manifest, Path(tmp) / "gate", CommonConfig(image_size=args.size), config
        )
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
    print(
        f"gate: {args.synthetic} synthetic vs {args.real} real (+{args.val} val) at "
        f"{args.size} px, random_cnn{'' if args.no_frd else ' + FRD'}: {seconds:.1f} s "
        f"(target < 180 s; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores: shared machine, "
        "so pessimistic)"
    )
    print(
        f"CPU time {cpu:.1f} s (this process and its FRD workers): on 2 idle cores the "
        f"wall time would be about {cpu / 2:.0f}-{cpu:.0f} s"
    )
    print({k: v for k, v in result.overall.items() if v is not None})


if __name__ == "__main__":
    main()
