"""Gate wall time: N synthetic against M real training images with the weight-free metrics.

    python benchmarks/gate_time.py [--synthetic 500] [--real 300] [--val 60] [--size 64]

The issue's targets: 500 synthetic against 300 real images at 64 px in under 3 minutes on
2 CPU cores, with the weight-free extractor (random_cnn) and FRD; and (issue 11) the new
tests (real-vs-real references over subsets, detectability two-sample tests, class
fidelity) add at most 60 s. `--compare` runs the gate twice: once without the new tests
(detectability off, class fidelity off, the minimum of 2 reference subsets) and once with
the defaults, and prints both times and their difference, wall and CPU. Breast-like images with
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


def timed(samples: Path, manifest: Path, out: Path, size: int, config: GateConfig):
    """(result, wall seconds, CPU seconds, load average before) of one run_gate."""
    load = os.getloadavg()[0]
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    result = run_gate(samples, manifest, out, CommonConfig(image_size=size), config)
    return result, time.perf_counter() - start, _cpu_seconds() - cpu_before, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=500, help="synthetic images")
    parser.add_argument("--real", type=int, default=300, help="real training images")
    parser.add_argument("--val", type=int, default=60, help="real val images (calibration)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--no-frd", action="store_true", help="skip FRD (radiomics)")
    parser.add_argument(
        "--compare", action="store_true", help="also time the gate without the new tests"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    frd = not args.no_frd
    full = GateConfig(extractor="random_cnn", frd=frd, frd_workers=2)
    runs = {"with the new tests (defaults)": full}
    if args.compare:
        bare = full.model_copy(
            update={"detectability": (), "class_fidelity": False, "reference_subsets": 2}
        )
        runs = {"without the new tests": bare, **runs}
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        manifest = write_real(Path(tmp) / "ingest", args.real, args.val, args.size, rng)
        samples = write_synthetic(Path(tmp) / "sample", args.synthetic, args.size, rng)
        times = {}
        for i, (name, config) in enumerate(runs.items()):
            result, wall, cpu, load = timed(
                samples, manifest, Path(tmp) / f"gate{i}", args.size, config
            )
            times[name] = (wall, cpu)
            print(
                f"gate {name}: {args.synthetic} synthetic vs {args.real} real (+{args.val} val) "
                f"at {args.size} px, random_cnn{' + FRD' if frd else ''}: {wall:.1f} s wall, "
                f"{cpu:.1f} s CPU (this process and its FRD workers); load average {load:.1f} "
                f"before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores",
                flush=True,
            )
    if args.compare:
        (w0, c0), (w1, c1) = times.values()
        print(
            f"the new tests add {w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU (target <= 60 s on 2 "
            f"idle cores; CPU seconds / 2 is the idle 2-core lower bound: {(c1 - c0) / 2:.0f} s)"
        )
    print({c.name: c.compared_value for c in result.checks if c.gated})


if __name__ == "__main__":
    main()
