"""Gate growth: time and peak memory per part over a sweep of set sizes; a paper-scale estimate.

    python benchmarks/gate_time.py                     # the full sweep (see --sizes), 1-3 h
    python benchmarks/gate_time.py --sizes 250x150     # one size (merged into the JSON)
    python benchmarks/gate_time.py --work /tmp/gt      # keep and reuse the generated images
    python benchmarks/gate_time.py --table-only        # re-render figure, tables, estimate

Each size `SxT[@PX]` is S synthetic images against T real training images (+ T/5 real val
images, the calibration set) at PX px (64 unless given). Breast-like images with smooth
random texture are written in the sample and ingest on-disk layouts, then `run_gate` runs
end to end in a fresh process (weight-free random_cnn features, FRD with 2 workers), once
per copy-search mode: `shortlist` first (cold radiomics cache), then `exhaustive` in the
same gate folder (so its radiomics part is the cached rerun the issue asks to time). Per
run the JSON keeps the wall and CPU seconds, the process's peak RSS, the load average
before and after, and metrics.json "parts" (wall, CPU, peak RSS per part, from
`factory.gate.parts`; null when the gate code does not write them yet).

From the runs it fits growth exponents (log-log least squares of wall time: copy search
against N_synthetic x N_train, every other part against N = synthetic + train + val
images; 64 px runs only) and the pixel exponent per part from the 256 px run against the
64 px run of the same counts. It writes benchmarks/gate_time.json, docs/figures/
gate_time.png and the tables between the `gate-time` and `gate-estimate` markers of
docs/performance.md. The estimate extrapolates the fits to the paper profiles
(profiles/rsna-paper.yaml, profiles/inbreast-paper.yaml) and puts every input that is not
measured here into ASSUMPTIONS, printed with the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
JSON_OUT = ROOT / "benchmarks" / "gate_time.json"
FIGURE = ROOT / "docs" / "figures" / "gate_time.png"
DOC = ROOT / "docs" / "performance.md"
MARKERS = {
    "gate-time": ("<!-- gate-time:begin -->", "<!-- gate-time:end -->"),
    "gate-estimate": ("<!-- gate-estimate:begin -->", "<!-- gate-estimate:end -->"),
}
DEFAULT_SIZES = "250x150,500x300,1000x600,2000x1200,250x150@256"
MODES = ("shortlist", "exhaustive")
PARTS = (
    "load",
    "features",
    "radiomics",
    "references",
    "two_sample",
    "copy_search",
    "sanity",
    "report",
)
FRD_WORKERS = 2  # gate.frd_workers of the sweep's runs
SHARDED = ("features", "radiomics", "two_sample", "copy_search")  # map_shards in the gate
ON_GPU = ("features", "two_sample", "copy_search")  # torch work a GPU takes over
CLASSES = ("normal", "abnormal")

# Inputs of the estimate that are not measured by this script. Each is printed with the
# estimate; change them here, not in the text.
ASSUMPTIONS = {
    "rsna_images": {
        "value": 54706,
        "what": "RSNA Screening Mammography train.csv images (the Kaggle 2023 release)",
    },
    "rsna_positive_fraction": {
        "value": 0.021,
        "what": "share of RSNA images with cancer = 1 (1,158 of 54,706)",
    },
    "inbreast_images": {"value": 410, "what": "INbreast images (profile header)"},
    "effnetv2l_img_s_256": {
        "value": 98.0,
        "what": "timm tf_efficientnetv2_l training img/s at 256 px, RTX 3090, channels_last "
        "(timm's figure, cited in issue 16; not measured here)",
    },
    "throughput_scales_with_flops": {
        "value": True,
        "what": "other backbones and sizes train at 98 img/s x FLOPs(EfficientNetV2-L, 256) / "
        "FLOPs(backbone, size); FLOPs counted here (torch FlopCounterMode, forward pass)",
    },
    "inference_speedup": {
        "value": 3.0,
        "what": "forward-only (monitor, evaluate) images/s over training images/s",
    },
    "inception_stand_in": {
        "value": "torchvision inception_v3",
        "what": "the features part with the profiles' FID InceptionV3 = the measured "
        "random_cnn part + N x the CPU s/image of torchvision's inception_v3 (random weights, "
        "299 px, batch 16; the same layers as the FID network, whose weights are not here)",
    },
    "gpu_speedup": {
        "value": 20.0,
        "what": "per rank, a GPU runs features, two-sample tests and copy search this many "
        "times faster than the 2 measured CPU cores (NOT measured: no GPU here)",
    },
    "ranks_scale_ideally": {
        "value": True,
        "what": "the sharded parts (features, two-sample, copy search) divide by the rank "
        "count; radiomics, one process per rank under map_shards against the 2 pool workers "
        "measured, by ranks / 2",
    },
    "pixel_exponent_default": {
        "value": 2.0,
        "what": "growth of a part's time with the image side when no 256 px run gives it "
        "(cost per pixel)",
    },
}
PAPER = {
    # counts from the profiles (split 0.7/0.1/0.2, sample.per_class) and ASSUMPTIONS
    "rsna": {"profile": "profiles/rsna-paper.yaml", "images": "rsna_images", "px": 512},
    "inbreast": {"profile": "profiles/inbreast-paper.yaml", "images": "inbreast_images"},
}


# --- sizes and data --------------------------------------------------------------------
def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    """Sizes from "250x150,500x300@256": [(250, 150, 64), (500, 300, 256)]."""
    sizes = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        counts, _, px = item.partition("@")
        syn, _, train = counts.partition("x")
        try:
            sizes.append((int(syn), int(train), int(px or 64)))
        except ValueError:
            raise SystemExit(
                f"--sizes {item!r}: expected SYNTHETICxTRAIN[@PX], e.g. 500x300@64"
            ) from None
    return sizes


def val_count(train: int) -> int:
    return max(10, round(train / 5))


def tag(syn: int, train: int, px: int) -> str:
    return f"{syn}x{train}@{px}"


def breast_images(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint16 images [n, size, size] with a breast outline, texture and (class 1) a mass."""
    from scipy.ndimage import gaussian_filter

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
    import pandas as pd

    from factory.io import png16_bytes, sha256_bytes
    from factory.manifest import COLUMNS

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
    from factory.io import write_png16
    from factory.sample.metadata import metadata_frame, write_metadata

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


def dataset(work: Path, syn: int, train: int, px: int) -> tuple[Path, Path]:
    """(samples folder, manifest) of one size under `work`, written once and reused."""
    folder = work / "data" / tag(syn, train, px)
    if not (folder / "done").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        rng = np.random.default_rng(0)
        write_real(folder / "ingest", train, val_count(train), px, rng)
        write_synthetic(folder / "sample", syn, px, rng)
        (folder / "done").write_text("ok\n")
    return folder / "sample", folder / "ingest" / "manifest.parquet"


# --- one gate run, in its own process ----------------------------------------------------
def gate_config(mode: str, frd: bool):
    from factory.gate.config import GateConfig

    fields = GateConfig.model_fields
    extra = {"copy_search": mode} if "copy_search" in fields else {}
    return GateConfig(extractor="random_cnn", frd=frd, frd_workers=FRD_WORKERS, **extra)


def run_one(spec: dict) -> dict:
    """The child's side: run the gate once and report its own figures as JSON."""
    from factory.config import CommonConfig
    from factory.gate.run import run_gate

    config = gate_config(spec["mode"], spec["frd"])
    start = time.perf_counter()
    result = run_gate(
        spec["samples"], spec["manifest"], spec["out"], CommonConfig(image_size=spec["px"]), config
    )
    wall = time.perf_counter() - start
    metrics = json.loads((Path(spec["out"]) / "metrics.json").read_text())
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "gate_wall_s": wall,
        "gate_seconds": metrics.get("seconds"),
        "parts": metrics.get("parts") or getattr(result, "parts", None) or None,
        "process_peak_rss_mb": own.ru_maxrss / 1024,
        "counts": metrics.get("counts"),
        "radiomics_cache": metrics.get("radiomics_cache"),
        "passed": metrics.get("passed"),
    }


def _children_cpu_s() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def timed_run(
    samples: Path, manifest: Path, out: Path, syn: int, train: int, px: int, mode: str, frd: bool
) -> dict:
    """One gate run in a fresh Python (clean peak memory); its row for the JSON."""
    spec = {
        "samples": str(samples),
        "manifest": str(manifest),
        "out": str(out),
        "px": px,
        "mode": mode,
        "frd": frd,
    }
    report = out.parent / f".{out.name}.{mode}.json"
    load_before, cpu_before = os.getloadavg()[0], _children_cpu_s()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--_one", json.dumps(spec), str(report)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"gate run {tag(syn, train, px)} {mode} failed:\n{proc.stderr[-3000:]}")
    child = json.loads(report.read_text())
    report.unlink()
    return {
        "size": tag(syn, train, px),
        "n_synthetic": syn,
        "n_train": train,
        "n_val": val_count(train),
        "px": px,
        "mode": mode,
        "frd": frd,
        "wall_s": wall,
        "cpu_s": _children_cpu_s() - cpu_before,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        **child,
    }


# --- prior guess of a run's time (progress / ETA before any fit exists) ---------------------
def _guess(syn: int, train: int, px: int, mode: str) -> float:
    """Seconds of one run from a fixed model: start-up, per image, per NCC pair."""
    n, pairs = syn + train + val_count(train), (syn + val_count(train)) * train
    pix = (px / 64) ** 2
    start_up = 60.0  # python, torch, references and two-sample tests on small sets
    per_image = 0.1  # docs/performance.md: radiomics ~0.2 CPU-s per image, 2 workers
    if mode == "exhaustive":
        # the radiomics are cached by then; the NCC: 2 flop x 25 shifts x px^2 per pair
        return start_up + 0.2 * per_image * n * pix + pairs * 2 * 25 * px * px / 1e10
    return start_up + per_image * n * pix


def prior_seconds(syn: int, train: int, px: int, mode: str, runs: list[dict]) -> float:
    """A rough forecast of one run: the fixed model, scaled by how the JSON's runs of this
    mode compared with it (the median ratio; 1 without runs)."""
    ratios = [
        r["wall_s"] / _guess(r["n_synthetic"], r["n_train"], r["px"], mode)
        for r in runs
        if r["mode"] == mode
    ]
    return _guess(syn, train, px, mode) * (float(np.median(ratios)) if ratios else 1.0)


# --- fits --------------------------------------------------------------------------------
def loglog_fit(x: list[float], y: list[float]) -> dict | None:
    """y = coef * x ** exponent by least squares on logs; None under 2 distinct x."""
    pts = [(a, b) for a, b in zip(x, y, strict=True) if a > 0 and b and b > 0]
    if len({a for a, _ in pts}) < 2:
        return None
    lx, ly = np.log([a for a, _ in pts]), np.log([b for _, b in pts])
    slope, icept = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + icept)
    ss = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / ss if ss > 0 else 1.0
    return {"exponent": float(slope), "coef": float(math.exp(icept)), "r2": r2, "points": len(pts)}


def n_images(run: dict) -> int:
    return run["n_synthetic"] + run["n_train"] + run["n_val"]


def n_pairs(run: dict) -> int:
    return run["n_synthetic"] * run["n_train"]


def part_wall(run: dict, part: str) -> float | None:
    if part == "total":
        return run["wall_s"]
    p = (run.get("parts") or {}).get(part)
    return None if p is None else p["wall_s"]


def fits_of(runs: list[dict]) -> dict:
    """{part: {mode: fit}} of wall time on the 64 px runs; `x` names the variable."""
    out: dict = {"_x": {"copy_search": "N_synthetic x N_train"}}
    for part in (*PARTS, "total"):
        out[part] = {}
        for mode in MODES:
            rows = [r for r in runs if r["px"] == 64 and r["mode"] == mode]
            xs = [n_pairs(r) if part == "copy_search" else n_images(r) for r in rows]
            fit = loglog_fit(xs, [part_wall(r, part) for r in rows])
            if fit:
                out[part][mode] = fit
    peak = [r for r in runs if r["px"] == 64 and r["mode"] == "shortlist"]
    out["peak_rss"] = loglog_fit(
        [r["n_train"] for r in peak], [r["process_peak_rss_mb"] for r in peak]
    )
    out["pixel_exponent"] = pixel_exponents(runs)
    return out


def pixel_exponents(runs: list[dict]) -> dict:
    """Per part: log(t(px) / t(64)) / log(px / 64) over the same counts and mode."""
    out = {}
    for r in runs:
        if r["px"] == 64:
            continue
        base = next(
            (
                b
                for b in runs
                if b["px"] == 64
                and b["mode"] == r["mode"]
                and (b["n_synthetic"], b["n_train"]) == (r["n_synthetic"], r["n_train"])
            ),
            None,
        )
        if base is None:
            continue
        for part in (*PARTS, "total"):
            hi, lo = part_wall(r, part), part_wall(base, part)
            if hi and lo and hi > 0 and lo > 0:
                out.setdefault(part, {})[r["mode"]] = math.log(hi / lo) / math.log(r["px"] / 64)
    return out


# --- paper-scale estimate --------------------------------------------------------------------
def assumed(name: str):
    return ASSUMPTIONS[name]["value"]


def paper_counts(name: str) -> dict:
    """Synthetic, train, val, test counts and image side of a paper profile."""
    import yaml

    info = PAPER[name]
    prof = yaml.safe_load((ROOT / info["profile"]).read_text())
    total = assumed(info["images"])
    split = prof["ingest"]["split"]
    per_class = prof["sample"]["per_class"]
    n_classes = len(prof["common"]["classes"])
    syn = sum(per_class.values()) if isinstance(per_class, dict) else per_class * n_classes
    return {
        "n_synthetic": int(syn),
        "n_train": round(total * split[0]),
        "n_val": round(total * split[1]),
        "n_test": round(total * split[2]),
        "n_real": total,
        "px": info.get("px", prof["common"]["image_size"]),
        "profile": prof,
    }


def gate_estimate(fits: dict, counts: dict, inception: dict | None) -> dict | None:
    """Seconds per part at the profile's counts (1 process, then 8 ranks), shortlist mode."""
    mode = "shortlist"
    n = counts["n_synthetic"] + counts["n_train"] + counts["n_val"]
    pairs = counts["n_synthetic"] * counts["n_train"]
    pix_default = assumed("pixel_exponent_default")
    one, notes = {}, []
    for part in PARTS:
        fit = fits.get(part, {}).get(mode)
        if fit is None:
            continue
        x = pairs if part == "copy_search" else n
        q = fits.get("pixel_exponent", {}).get(part, {}).get(mode)
        q = pix_default if q is None else q
        seconds = fit["coef"] * x ** fit["exponent"] * (counts["px"] / 64) ** q
        if part == "features" and inception:
            # inception resizes to 299 px whatever the image side: a cost per image
            extra = n * inception["s_per_image"]
            notes.append(
                f"features: + {_fmt_s(extra)} for InceptionV3 ({inception['s_per_image']:.2f} "
                f"CPU s/image measured, load {inception['load']:.1f})"
            )
            seconds += extra
        one[part] = seconds
    if not one:
        return None
    ranks, gpu = 8, assumed("gpu_speedup")
    # radiomics under map_shards run one process per rank (factory.gate.radiomics), against
    # the FRD_WORKERS pool processes of the measured single-process runs
    speedup = {p: ranks / FRD_WORKERS if p == "radiomics" else ranks for p in SHARDED}
    cpu8 = {p: s / speedup[p] if p in SHARDED else s for p, s in one.items()}
    eight = {p: s / gpu if p in ON_GPU else s for p, s in cpu8.items()}
    return {
        "one_process": one,
        "one_total_s": sum(one.values()),
        "one_dominant": max(one, key=one.get),
        "eight_cpu_ranks_s": sum(cpu8.values()),
        "eight_gpus": eight,
        "eight_total_s": sum(eight.values()),
        "eight_dominant": max(eight, key=eight.get),
        "notes": notes,
    }


def count_flops(pairs: list[tuple[str, int]]) -> dict[str, float]:
    """Forward FLOPs of one image per (backbone, size), and of random_cnn at 64 px."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from factory.benchmark.model import create_classifier
    from factory.gate.features import build_extractor

    out = {}
    with torch.no_grad():
        for name, size in pairs:
            torch.manual_seed(0)
            model = create_classifier(name, pretrained=False).eval()
            with FlopCounterMode(display=False) as counter:
                model(torch.zeros(1, 1, size, size))
            out[f"{name}_{size}"] = float(counter.get_total_flops())
        with FlopCounterMode(display=False) as counter:
            build_extractor("random_cnn")(torch.zeros(1, 1, 64, 64))
        out["random_cnn_64"] = float(counter.get_total_flops())
        with FlopCounterMode(display=False) as counter:
            _inception()(torch.zeros(1, 3, 299, 299))
        out["inception_299"] = float(counter.get_total_flops())
    return out


def _inception():
    import torchvision

    return torchvision.models.inception_v3(
        weights=None, aux_logits=False, init_weights=False
    ).eval()


def time_inception(batch: int = 16) -> dict:
    """CPU seconds per image of an InceptionV3 forward at 299 px (the FID network's size)."""
    import torch

    model, x = _inception(), torch.zeros(batch, 3, 299, 299)
    load = os.getloadavg()[0]
    with torch.no_grad():
        model(x[:2])  # warm-up
        start = time.perf_counter()
        model(x)
        seconds = time.perf_counter() - start
    return {
        "s_per_image": seconds / batch,
        "batch": batch,
        "threads": torch.get_num_threads(),
        "load": load,
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }


def flop_pairs() -> list[tuple[str, int]]:
    pairs = {("tf_efficientnetv2_l", 256)}
    for name in PAPER:
        bench = paper_counts(name)["profile"]["benchmark"]
        pairs |= {(b, s) for b in bench["backbones"] for s in bench["image_sizes"]}
    return sorted(pairs)


def benchmark_estimate(name: str, flops: dict | None) -> dict:
    """Jobs of a paper profile and their GPU-seconds (one GPU, then 8 ranks round-robin)."""
    from factory.benchmark.config import BenchmarkConfig
    from factory.benchmark.scenarios import scenarios

    counts = paper_counts(name)
    cfg = BenchmarkConfig(**counts["profile"]["benchmark"])
    found = scenarios(cfg)
    splits = cfg.folds if cfg.protocol == "prodan2023" else 1
    n_jobs = len(cfg.image_sizes) * len(cfg.backbones) * cfg.seeds * len(found) * splits
    out = {
        "jobs": n_jobs,
        "scenarios": [s.name for s in found],
        "splits": splits,
        "protocol": cfg.protocol,
        "epochs": cfg.epochs,
    }
    if not flops:
        return out
    anchor = assumed("effnetv2l_img_s_256") * flops["tf_efficientnetv2_l_256"]
    pos = assumed("rsna_positive_fraction") if name == "rsna" else 0.5
    times, names = [], []  # in make_jobs order: size, backbone, seed, scenario, split
    for size in cfg.image_sizes:
        for backbone in cfg.backbones:
            train_ips = anchor / flops[f"{backbone}_{size}"]
            infer_ips = train_ips * assumed("inference_speedup")
            for _ in range(cfg.seeds):
                for s in found:
                    for _ in range(splits):
                        if cfg.protocol == "prodan2023":
                            real = counts["n_real"] * (cfg.folds - 1) / cfg.folds
                            evaluate, monitor = counts["n_real"] / cfg.folds, 0
                        else:
                            real = counts["n_train"] if s.real else 0
                            evaluate, monitor = counts["n_test"], counts["n_val"]
                        o = getattr(cfg, "oversample_positive", 1) or 1
                        fitted = real * (1 + pos * (o - 1)) + s.synthetic * (
                            o if name == "rsna" else 1
                        )
                        monitor = monitor or evaluate  # prodan monitors the held-out fold
                        times.append(
                            cfg.epochs * fitted / train_ips
                            + (cfg.epochs * monitor + evaluate) / infer_ips
                        )
                        names.append(f"{backbone} @ {size} px")
    ranks = [sum(times[r::8]) for r in range(8)]  # job i on rank i % 8, as map_shards
    share: dict[str, float] = {}
    for name_, t in zip(names, times, strict=True):
        share[name_] = share.get(name_, 0.0) + t / sum(times)
    out |= {
        "one_gpu_s": sum(times),
        "eight_gpus_s": max(ranks),
        "longest_job_s": max(times),
        "share": dict(sorted(share.items(), key=lambda kv: -kv[1])),
    }
    return out


def estimate(doc: dict) -> dict:
    fits, flops = doc.get("fits") or {}, doc.get("flops")
    out = {}
    for name in PAPER:
        counts = paper_counts(name)
        out[name] = {
            "counts": {k: v for k, v in counts.items() if k != "profile"},
            "gate": gate_estimate(fits, counts, doc.get("inception_cpu")),
            "benchmark": benchmark_estimate(name, flops),
        }
    return out


# --- rendering -------------------------------------------------------------------------------
def _fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 7200:
        return f"{s / 3600:.1f} h"
    if s >= 120:
        return f"{s / 60:.0f} min"
    return f"{s:.1f} s" if s >= 10 else f"{s:.2f} s"


def growth_table(doc: dict) -> str:
    runs, fits = doc["runs"], doc.get("fits") or {}
    if not runs:
        return "No runs yet: `python benchmarks/gate_time.py`."
    have = [p for p in PARTS if any((r.get("parts") or {}).get(p) for r in runs)]
    head = ["size (synthetic x train @ px)", "copy search", "wall", "CPU", "peak RSS (MB)"]
    head += [f"{p} (s / MB)" for p in have]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * 2 + " ---: |" * (len(head) - 2)]
    for r in sorted(runs, key=lambda r: (r["px"], n_pairs(r), r["mode"])):
        cells = [
            r["size"],
            r["mode"],
            f"{r['wall_s']:.1f}",
            f"{r['cpu_s']:.1f}",
            f"{r['process_peak_rss_mb']:.0f}",
        ]
        for p in have:
            part = (r.get("parts") or {}).get(p)
            cells.append("-" if not part else f"{part['wall_s']:.1f} / {part['peak_rss_mb']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    loads = [x for r in runs for x in (r["load_before"], r["load_after"])]
    m = doc["machine"]
    lines += [
        "",
        f"{len(runs)} runs, {m['cpus']} CPUs, Python {m['python']}, torch {m['torch']}, code "
        f"{', '.join(sorted({r.get('commit', '?') for r in runs}))}, "
        f"{', '.join(sorted({r.get('when', '?')[:10] for r in runs}))}; load average "
        f"{min(loads):.1f}-{max(loads):.1f} (before/after each run). Wall and CPU: the whole "
        "gate process (start-up included); parts: metrics.json `parts` (peak RSS of the "
        "gate process during the part; radiomics workers not included).",
    ]
    if not have:
        lines.append("The gate code measured wrote no `parts` yet: totals only.")
    rows = []
    for part in (*PARTS, "total"):
        for mode, fit in (fits.get(part) or {}).items():
            if part not in ("copy_search", "total") and mode == "exhaustive":
                continue  # the other parts do not depend on the mode (and are cached there)
            x = "N_synthetic x N_train" if part == "copy_search" else "N images"
            q = fits.get("pixel_exponent", {}).get(part, {}).get(mode)
            rows.append(
                f"| {part} | {mode} | {x} | {fit['exponent']:.2f} | {fit['r2']:.3f} | "
                f"{fit['points']} | {'-' if q is None else f'{q:.2f}'} |"
            )
    if rows:
        lines += [
            "",
            "Fitted growth, wall time = c * x^b over the 64 px runs (log-log least "
            "squares); pixel exponent from the 256 px run against the 64 px run of the "
            "same counts:",
            "",
            "| part | copy search | x | exponent b | r^2 | runs | pixel exponent |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    lines += checks(runs, fits)
    peak = fits.get("peak_rss")
    if peak:
        lines += [
            "",
            f"Peak RSS of the gate process grows as N_train^{peak['exponent']:.2f} "
            f"(shortlist, 64 px, r^2 {peak['r2']:.3f}).",
        ]
    lines += ["", "![gate time per part against set size](figures/gate_time.png)"]
    return "\n".join(lines)


def checks(runs: list[dict], fits: dict) -> list[str]:
    """The issue's measurable targets, as sentences (empty where the runs do not say)."""
    out = []
    cs = fits.get("copy_search") or {}
    if "shortlist" in cs and "exhaustive" in cs:
        b_s, b_e = cs["shortlist"]["exponent"], cs["exhaustive"]["exponent"]
        verdict = "below" if b_s < b_e else "NOT below"
        out.append(
            f"Copy search grows as (N_synthetic x N_train)^{b_s:.2f} with the shortlist, "
            f"{verdict} the exhaustive search's ^{b_e:.2f}."
        )
    base = {
        (r["n_synthetic"], r["n_train"]): r
        for r in runs
        if r["px"] == 64 and r["mode"] == "shortlist"
    }
    for (syn, train), r in sorted(base.items()):
        big = next((b for (s2, t2), b in base.items() if t2 == 4 * train), None)
        if big:
            ratio = big["process_peak_rss_mb"] / r["process_peak_rss_mb"]
            out.append(
                f"4x the training images ({train} -> {big['n_train']}, with "
                f"{syn} -> {big['n_synthetic']} synthetic): peak RSS x{ratio:.2f} "
                f"({r['process_peak_rss_mb']:.0f} -> {big['process_peak_rss_mb']:.0f} "
                "MB; target <= 1.2)."
            )
    for r in runs:
        cache = r.get("radiomics_cache") or {}
        cold = next(
            (
                c
                for c in runs
                if c["size"] == r["size"]
                and c is not r
                and (c.get("radiomics_cache") or {}).get("hits") == 0
            ),
            None,
        )
        part, cold_part = ((x.get("parts") or {}).get("radiomics") for x in (r, cold or {}))
        if cache.get("misses") == 0 and cache.get("hits") and part and cold_part:
            out.append(
                f"Radiomics rerun at {r['size']} ({r['mode']} run, {cache['hits']} "
                f"cache hits, 0 misses): {part['wall_s']:.1f} s against "
                f"{cold_part['wall_s']:.1f} s cold."
            )
    return ["", *out] if out else []


def estimate_table(doc: dict) -> str:
    est = doc.get("estimate") or {}
    lines = [
        "| profile | counts (synthetic / train / val, px) | gate, 1 process | gate, 8 CPU "
        "ranks | gate, 8 GPUs | benchmark jobs | benchmark, 1 GPU | benchmark, 8 GPUs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, e in est.items():
        c, g, b = e["counts"], e["gate"], e["benchmark"]
        gate1 = "-" if not g else f"{_fmt_s(g['one_total_s'])} ({g['one_dominant']})"
        gate8 = "-" if not g else f"{_fmt_s(g['eight_total_s'])} ({g['eight_dominant']})"
        cpu8 = "-" if not g else _fmt_s(g["eight_cpu_ranks_s"])
        lines.append(
            f"| {name} | {c['n_synthetic']} / {c['n_train']} / {c['n_val']}, {c['px']} px | "
            f"{gate1} | {cpu8} | {gate8} | {b['jobs']} ({b['protocol']}, {len(b['scenarios'])} "
            f"scenarios x {b['splits']} splits, {b['epochs']} epochs) | "
            f"{_fmt_s(b.get('one_gpu_s'))} | {_fmt_s(b.get('eight_gpus_s'))} |"
        )
    for name, e in est.items():
        b = e["benchmark"]
        if b.get("share"):
            top = ", ".join(f"{k} {v:.0%}" for k, v in list(b["share"].items())[:3])
            lines += [
                "",
                f"{name} benchmark time by backbone and size (largest first): {top}; "
                f"longest job {_fmt_s(b['longest_job_s'])}.",
            ]
    for name, e in est.items():
        g = e["gate"]
        if g:
            parts = ", ".join(f"{p} {_fmt_s(s)}" for p, s in g["one_process"].items())
            lines += ["", f"{name} gate per part, 1 process (shortlist): {parts}."]
            lines += [f"{name}: {n}." for n in g["notes"]]
    if not any(e["gate"] for e in est.values()):
        lines += [
            "",
            "No gate estimate yet: it needs the sweep's fits (at least two 64 px sizes "
            "with metrics.json `parts`).",
        ]
    lines += [
        "",
        "Inputs that are assumed, not measured (benchmarks/gate_time.py ASSUMPTIONS):",
        "",
    ]
    lines += [f"- `{k}` = {a['value']}: {a['what']}" for k, a in ASSUMPTIONS.items()]
    lines += [
        "",
        "Gate, 1 process: the fitted curves (this machine's 2 cores) extrapolated to the "
        "profile's counts, part by part, times (px / 64)^pixel exponent. 8 CPU ranks: the "
        "sharded parts divided by 8 (radiomics by 4). 8 GPUs: as 8 CPU ranks, the GPU "
        "parts also divided by the assumed `gpu_speedup`. Benchmark: per job "
        "epochs x training images / training img/s + (monitor x epochs + evaluated) / "
        "inference img/s; 8 GPUs = the busiest rank when job i runs on rank i % 8.",
    ]
    return "\n".join(lines)


def write_between(text: str, key: str, body: str) -> str:
    begin, end = MARKERS[key]
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    return text.rstrip("\n") + f"\n\n{block}\n"


def write_figure(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in doc["runs"] if r["px"] == 64]
    fits = doc.get("fits") or {}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    base = sorted((r for r in runs if r["mode"] == "shortlist"), key=n_images)
    for part in (*PARTS, "total"):
        pts = [(n_images(r), part_wall(r, part)) for r in base]
        pts = [(x, y) for x, y in pts if y]
        if part == "copy_search" or not pts:
            continue
        ax.plot(*zip(*pts, strict=True), "o-", label=part, lw=2.5 if part == "total" else 1.2)
    for r in doc["runs"]:
        if r["px"] != 64 and r["mode"] == "shortlist":
            ax.plot(
                n_images(r), r["wall_s"], "D", mfc="none", color="k", label=f"total @ {r['px']} px"
            )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="N images (synthetic + train + val)",
        ylabel="wall s",
        title="gate parts, 64 px (shortlist run)",
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    for mode in MODES:
        rows = sorted((r for r in runs if r["mode"] == mode), key=n_pairs)
        pts = [(n_pairs(r), part_wall(r, "copy_search")) for r in rows]
        pts = [(x, y) for x, y in pts if y]
        if not pts:
            continue
        fit = (fits.get("copy_search") or {}).get(mode)
        label = mode if not fit else f"{mode}: b = {fit['exponent']:.2f}"
        ax.plot(*zip(*pts, strict=True), "o", label=label)
        if fit:
            xs = np.geomspace(pts[0][0], pts[-1][0], 20)
            ax.plot(xs, fit["coef"] * xs ** fit["exponent"], "--", color="grey", lw=0.8)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="N_synthetic x N_train",
        ylabel="wall s",
        title="copy search, 64 px",
    )
    ax.legend(fontsize=8)
    ax = axes[2]
    for part in PARTS:
        pts = [
            (r["n_train"], ((r.get("parts") or {}).get(part) or {}).get("peak_rss_mb"))
            for r in base
        ]
        pts = [(x, y) for x, y in pts if y]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", label=part, lw=1.2)
    ax.plot(
        [r["n_train"] for r in base],
        [r["process_peak_rss_mb"] for r in base],
        "ks-",
        label="whole run",
        lw=2,
    )
    ax.set(xscale="log", xlabel="N_train", ylabel="peak RSS MB", title="peak memory, 64 px")
    ax.legend(fontsize=7)
    fig.suptitle(f"gate time and memory (benchmarks/gate_time.py, {doc.get('commit', '?')})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(doc: dict, json_path: Path, figure: Path, doc_path: Path | None) -> None:
    """Fits and estimate from the runs, then the JSON, the figure and the doc tables."""
    doc["fits"] = fits_of(doc["runs"])
    doc["estimate"] = estimate(doc)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    if doc["runs"]:
        write_figure(doc, figure)
    table, est = growth_table(doc), estimate_table(doc)
    if doc_path is not None:
        text = doc_path.read_text() if doc_path.exists() else ""
        text = write_between(write_between(text, "gate-time", table), "gate-estimate", est)
        doc_path.write_text(text)
    print(table, est, sep="\n\n")


# --- the sweep ---------------------------------------------------------------------------------
def machine() -> dict:
    import torch

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def commit() -> str:
    """Short HEAD commit, "+dirty" when tracked files differ (factory.provenance's helpers)."""
    from factory.provenance import git_commit, git_dirty

    sha = git_commit(ROOT)
    if sha is None:
        return "?"
    return sha[:7] + ("+dirty" if git_dirty(ROOT) else "")


def sweep(args: argparse.Namespace, doc: dict) -> None:
    sizes = parse_sizes(args.sizes)
    plan = [
        (s, t, px, mode)
        for s, t, px in sizes
        for mode in args.modes
        if mode != "exhaustive" or s * t <= args.exhaustive_max_pairs
    ]
    skipped = [(s, t, px) for s, t, px in sizes if s * t > args.exhaustive_max_pairs]
    forecast = [prior_seconds(s, t, px, m, doc["runs"]) for s, t, px, m in plan]
    print(
        f"{len(plan)} gate runs; forecast {_fmt_s(sum(forecast))} of gate time on this "
        f"machine (rough, scaled by the JSON's earlier runs; data generation extra)"
        + (
            f"; exhaustive skipped at {', '.join(tag(*x) for x in skipped)} "
            f"(--exhaustive-max-pairs {args.exhaustive_max_pairs})"
            if skipped
            else ""
        ),
        flush=True,
    )
    if args.dry_run:
        for (s, t, px, m), guess in zip(plan, forecast, strict=True):
            print(f"  {tag(s, t, px)} {m}: ~{_fmt_s(guess)}")
        return
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gate-time-"))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    spent = 0.0
    try:
        for i, ((syn, train, px, mode), guess) in enumerate(zip(plan, forecast, strict=True)):
            samples, manifest = dataset(work, syn, train, px)
            out = work / "gate" / tag(syn, train, px)
            if mode == args.modes[0] or not out.exists():
                shutil.rmtree(out, ignore_errors=True)  # the first mode starts cold
            row = timed_run(samples, manifest, out, syn, train, px, mode, not args.no_frd)
            row |= {"when": time.strftime("%Y-%m-%d %H:%M"), "commit": doc["commit"]}
            same = (row["size"], row["mode"])
            doc["runs"] = [r for r in doc["runs"] if (r["size"], r["mode"]) != same] + [row]
            spent += row["wall_s"]
            left = sum(forecast[i + 1 :]) * (spent / sum(forecast[: i + 1]))
            print(
                f"[{i + 1}/{len(plan)}] {row['size']} {mode}: {row['wall_s']:.1f} s wall "
                f"(forecast {guess:.0f} s), {row['cpu_s']:.1f} s CPU, peak "
                f"{row['process_peak_rss_mb']:.0f} MB, load {row['load_before']:.1f}; "
                f"about {_fmt_s(left)} left",
                flush=True,
            )
            args.json.write_text(json.dumps(doc, indent=1, default=str) + "\n")  # keep progress
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help=f"SYNTHETICxTRAIN[@PX],... (default {DEFAULT_SIZES})"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--exhaustive-max-pairs",
        type=int,
        default=2000 * 1200,
        help="skip the exhaustive run above N_synthetic x N_train",
    )
    parser.add_argument("--work", help="folder to keep (and reuse) the generated images in")
    parser.add_argument("--json", type=Path, default=JSON_OUT)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    parser.add_argument("--doc", type=Path, default=DOC, help="Markdown file with the markers")
    parser.add_argument("--no-doc", action="store_true", help="do not touch the Markdown file")
    parser.add_argument("--fresh", action="store_true", help="drop the JSON's earlier runs")
    parser.add_argument("--table-only", action="store_true", help="re-render from the JSON")
    parser.add_argument("--no-frd", action="store_true", help="skip FRD (radiomics)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and forecast")
    parser.add_argument(
        "--no-flops", action="store_true", help="skip counting FLOPs and timing InceptionV3"
    )
    parser.add_argument("--_one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._one:
        Path(args._one[1]).write_text(json.dumps(run_one(json.loads(args._one[0]))))
        return 0
    doc = {"runs": []}
    if args.json.exists() and not args.fresh:
        doc = json.loads(args.json.read_text())
    if not args.table_only:
        doc |= {"machine": machine(), "commit": commit(), "when": time.strftime("%Y-%m-%d %H:%M")}
        sweep(args, doc)
        if args.dry_run:
            return 0
        if not args.no_flops:
            if "flops" not in doc:
                doc["flops"] = count_flops(flop_pairs())
            doc["inception_cpu"] = time_inception()
    elif "machine" not in doc:
        raise SystemExit(f"{args.json}: no runs to render; run the sweep first")
    render(doc, args.json, args.figure, None if args.no_doc else args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
