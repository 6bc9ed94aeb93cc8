"""Ingest speed and memory on full-size phantom DICOMs.

Measures, each run in a fresh subprocess so imports and memory do not carry over:
  1. throughput with 1 worker and with 2 workers (target: 2 workers >= 1.7x one);
  2. one worker vs a plain sequential pydicom + Pillow loop doing the same steps
     (target: one worker no slower);
  3. peak RSS (the whole process tree, sampled) for N images and for 4N images
     (target: 4N within 1.2x of N: memory bounded by workers, not by dataset size).

    .venv/bin/python benchmarks/ingest_speed.py [--images 4] [--height 4084]

The phantom set (4N images) is written once and cached under --data. On a shared machine
the figures are noisy: run it when the machine is quiet, and read the load average that
the script prints beside them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

CHILD = r"""
import json, sys, time
from pathlib import Path
mode, src, out, workers = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
from factory.config import CommonConfig
from factory.ingest import ingest
from factory.ingest.config import IngestConfig
import benchmarks_ingest_plain as plain
common = CommonConfig(image_size=256)
config = IngestConfig(workers=workers, max_bad_fraction=1.0, split=(1.0, 0.0, 0.0))
start = time.perf_counter()
if mode == "ingest":
    n = len(ingest(src, out, common=common, config=config, key=b"b" * 32, progress=False).manifest)
else:
    n = plain.run(src, out, 256)
print(json.dumps({"seconds": time.perf_counter() - start, "images": n}))
"""

PLAIN = r'''
"""The same steps as factory.ingest, written as the plain loop one would write first."""
import numpy as np, pydicom
from pathlib import Path
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from scipy import ndimage
from skimage.filters import threshold_otsu


def one(path, out, size):
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array
    pad = None
    if "PixelPaddingValue" in ds:
        pad = stored == int(ds.PixelPaddingValue)
    m = apply_modality_lut(stored, ds)
    if ds.get("VOILUTSequence"):
        m = np.rint(m).astype(np.int64)
    v = apply_voi_lut(m, ds).astype(np.float64)
    ok = v if pad is None else v[~pad]
    v = (v - ok.min()) / max(ok.max() - ok.min(), 1e-9)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        v = 1 - v
    if pad is not None:
        v[pad] = 0
    fg = v > 0.5 * threshold_otsu(v)
    fg = ndimage.binary_opening(fg, np.ones((5, 5), bool))
    lab, n = ndimage.label(fg)
    big = np.argmax(np.bincount(lab.ravel())[1:]) + 1
    mask = ndimage.binary_fill_holes(lab == big)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = np.where(mask, v, 0)[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    half = crop.shape[1] // 2
    if crop[:, -half:].sum() > crop[:, :half].sum():
        crop = crop[:, ::-1]
    side = max(crop.shape)
    sq = np.zeros((side, side), np.float32)
    top = (side - crop.shape[0]) // 2
    sq[top:top + crop.shape[0], :crop.shape[1]] = crop
    im = Image.fromarray(sq).resize((size, size), Image.Resampling.BILINEAR)
    px = np.rint(np.clip(np.asarray(im), 0, 1) * 65535).astype(np.uint16)
    Image.fromarray(px).save(out / (path.stem + ".png"))


def run(src, out, size):
    out.mkdir(parents=True, exist_ok=True)
    files = sorted((src / "AllDICOMs").glob("*.dcm"))
    for f in files:
        one(f, out, size)
    return len(files)
'''


def make_data(data: Path, images: int, height: int) -> tuple[Path, Path]:
    """A full set of >= 4N images and a subset of N (same files, symlinked)."""
    from factory.phantom import write_layout

    full = data / "full"
    if not full.exists():
        patients = max(2, round(4 * images / 3.4) + 1)
        print(f"writing {patients} phantom patients at height {height} (cached in {data}) ...")
        write_layout("inbreast", full, patients=patients, seed=0, height=height, workers=2)
    files = sorted((full / "AllDICOMs").glob("*.dcm"))[: 4 * images]
    sets = []
    for name, count in (("n", images), ("4n", 4 * images)):
        sub = data / name
        shutil.rmtree(sub, ignore_errors=True)
        (sub / "AllDICOMs").mkdir(parents=True)
        keep = {f.name.split("_")[0] for f in files[:count]}
        for f in files[:count]:
            (sub / "AllDICOMs" / f.name).symlink_to(f)
        with open(full / "INbreast.csv", newline="") as fh:
            rows = list(csv.reader(fh, delimiter=";"))
        lines = [rows[0]] + [r for r in rows[1:] if r and r[5] in keep]
        (sub / "INbreast.csv").write_text("\r\n".join(";".join(r) for r in lines) + "\r\n")
        sets.append(sub)
    return sets[0], sets[1]


def measure(mode: str, src: Path, workers: int, helper_dir: Path) -> dict:
    """Run one configuration in a subprocess; wall time inside it, peak tree RSS outside."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": f"{helper_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }
        cmd = [sys.executable, "-c", CHILD, mode, str(src), str(Path(tmp) / "out"), str(workers)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
        root = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)
        stdout = proc.stdout.read() if proc.stdout else ""
        if proc.returncode != 0:
            raise SystemExit(f"{mode} with {workers} worker(s) failed (exit {proc.returncode})")
        result = json.loads(stdout.strip().splitlines()[-1])
        result["peak_rss_mb"] = peak / 2**20
        result["images_per_second"] = result["images"] / result["seconds"]
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="N (the memory test uses 4N)")
    parser.add_argument("--height", type=int, default=4084, help="phantom image height")
    parser.add_argument("--data", type=Path, default=None, help="cache folder for the phantom")
    args = parser.parse_args()
    data = (
        args.data
        or Path(tempfile.gettempdir()) / f"factory-ingest-bench-{args.height}-{args.images}"
    )
    small, large = make_data(data, args.images, args.height)
    helper = data / "helper"
    helper.mkdir(exist_ok=True)
    (helper / "benchmarks_ingest_plain.py").write_text(PLAIN)

    print(f"load average before: {os.getloadavg()}  (2 cores shared: figures are noisy)")
    one = measure("ingest", large, 1, helper)
    two = measure("ingest", large, 2, helper)
    plain = measure("plain", large, 1, helper)
    mem_n = measure("ingest", small, 2, helper)
    mem_4n = two  # the 2-worker throughput run is the 4N-image run
    print(f"load average after:  {os.getloadavg()}")
    rows = [
        ("1 worker", one),
        ("2 workers", two),
        ("plain loop", plain),
        (f"N={args.images}, 2 workers", mem_n),
        (f"4N={4 * args.images}, 2 workers", mem_4n),
    ]
    print(f"\n{'run':<22}{'images':>8}{'seconds':>10}{'img/s':>9}{'peak RSS MB':>13}")
    for name, r in rows:
        print(
            f"{name:<22}{r['images']:>8}{r['seconds']:>10.2f}{r['images_per_second']:>9.2f}"
            f"{r['peak_rss_mb']:>13.0f}"
        )
    speedup = two["images_per_second"] / one["images_per_second"]
    vs_plain = one["images_per_second"] / plain["images_per_second"]
    memory = mem_4n["peak_rss_mb"] / mem_n["peak_rss_mb"]
    print(f"\n2 workers / 1 worker throughput: {speedup:.2f}x   (target >= 1.7x)")
    print(f"1 worker / plain loop throughput: {vs_plain:.2f}x   (target >= 1.0x)")
    print(f"peak RSS 4N / N:                  {memory:.2f}x   (target <= 1.2x)")


if __name__ == "__main__":
    main()
