"""Quality per unit of compute: recipe variants of the generator at the same training budget.

Trains each recipe variant on the ingest manifest (the phantom by default) for the same
number of optimizer steps at the same batch size, one process, one torch thread, and
saves a checkpoint every `--eval-every` steps. From every checkpoint's EMA weights it
samples a set (the sample stage's own `sample_set`) and measures, each beside its
real-versus-real reference:

- FRD (radiomics) of synthetic vs real train, mean +- sd over synthetic subsets of the val
  set's size, and its ratio to FRD(real val, real train);
- detectability: cross-validated AUC of a logistic probe on the gate's random-CNN
  features, real train vs synthetic (95% bootstrap CI), beside real val vs real train;
- memorized fraction: synthetic images closer (1 - NCC, +-2 px shifts) to a training
  image than the 1st percentile of real val images (Wilson 95% CI);
- at the last checkpoint also class fidelity (a classifier trained on real train scores
  the synthetic images: AUC against their intended class, beside its AUC on real val) and
  TSTR (the same classifier trained on the synthetic set, AUC on the real test patients,
  patient-bootstrap 95% CI), both with the benchmark stage's own `fit`.

Compute is reported as steps, wall seconds and process CPU seconds (this process and its
children, `resource.getrusage`), with /proc/loadavg, because the machine is shared. The
metrics are written here with scikit-learn and the gate's feature and FRD functions; when
the gate's detectability / class-fidelity functions land they should replace these.

    python benchmarks/generator_quality.py --manifest outputs/ingest/manifest.parquet \\
        --out /tmp/gq [--steps 300 --eval-every 100 --variants baseline,min-snr,...]

Writes `generator_quality.json`, `generator_quality.md` and `generator_quality.png` in
`--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Each variant: overrides of the params.yaml `train` section (and a sampling guidance).
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "min-snr-5": {"snr_gamma": 5.0},
    "vflip": {"augment": "vflip"},
    "linear-ztsnr": {"beta_schedule": "linear", "zero_terminal_snr": True},
    "linear-plain": {"beta_schedule": "linear"},
    "min-snr-5+vflip": {"snr_gamma": 5.0, "augment": "vflip"},
    "wide": {"block_out_channels": [32, 64, 128, 128]},
    "lr-1e-3": {"learning_rate": 0.001},
}


# --- compute accounting --------------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


@dataclass
class Meter:
    """Wall and CPU seconds of a block of work."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Meter:
        self._t = (time.perf_counter(), cpu_seconds())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self._t[0]
        self.cpu = cpu_seconds() - self._t[1]


# --- real data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RealSplit:
    images: np.ndarray  # float32 [N, H, W] in [0, 1]
    labels: np.ndarray  # int [N]
    patients: np.ndarray  # str [N]


def real_splits(manifest_path: Path, classes: tuple[str, ...]) -> dict[str, RealSplit]:
    from factory.manifest import class_index, load_images, read_manifest

    df = read_manifest(manifest_path)
    out = {}
    for split in ("train", "val", "test"):
        rows = df[df["split"] == split].reset_index(drop=True)
        images = load_images(rows, manifest_path.parent).astype(np.float32) / 65535.0
        labels = class_index(rows["label"], classes, str(manifest_path))
        out[split] = RealSplit(images, labels, rows["patient_id"].astype(str).to_numpy())
    return out


# --- metrics -------------------------------------------------------------------------------


def auc_with_ci(y: np.ndarray, score: np.ndarray, seed: int, reps: int = 1000) -> dict:
    """ROC AUC and a 95% percentile bootstrap interval over images."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    auc = float(roc_auc_score(y, score))
    boots = []
    for _ in range(reps):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) == 2:
            boots.append(roc_auc_score(y[idx], score[idx]))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"auc": auc, "ci95": [float(lo), float(hi)]}


def detectability(real_feats: np.ndarray, fake_feats: np.ndarray, seed: int) -> dict:
    """Classifier two-sample test (Lopez-Paz and Oquab 2017): 5-fold CV logistic probe,
    out-of-fold AUC of telling the two sets apart (0.5 = indistinguishable)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([real_feats, fake_feats])
    y = np.r_[np.zeros(len(real_feats)), np.ones(len(fake_feats))].astype(int)
    probe = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced")
    )
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    score = cross_val_predict(probe, x, y, cv=folds, method="predict_proba")[:, 1]
    return auc_with_ci(y, score, seed)


def frd_versus_reference(
    train_f: np.ndarray, val_f: np.ndarray, fake_f: np.ndarray, seed: int, reps: int = 10
) -> dict:
    """FRD(synthetic, train) over `reps` synthetic subsets of the val set's size, and
    FRD(val, train): equal set sizes, so the ratio compares like with like."""
    from factory.gate.metrics import frd_from_features

    rng = np.random.default_rng(seed)
    ref = frd_from_features(train_f, val_f)
    n = min(len(val_f), len(fake_f))
    values = [
        frd_from_features(train_f, fake_f[rng.choice(len(fake_f), n, replace=False)])
        for _ in range(reps)
    ]
    mean = float(np.mean(values))
    return {
        "value": mean,
        "value_sd": float(np.std(values, ddof=1)),
        "reference": float(ref),
        "ratio": mean / ref if ref > 0 else float("nan"),
        "n": n,
    }


def memorized(fake: np.ndarray, real: dict[str, RealSplit], percentile: float = 1.0) -> dict:
    """Fraction of synthetic images nearer a training image than the val calibration."""
    from scipy.stats import binomtest

    from factory.gate.memorization import calibrate, nearest_ncc

    val_d = 1 - nearest_ncc(real["val"].images, real["train"].images)[0]
    threshold = calibrate(val_d, percentile, what="NCC")
    fake_d = 1 - nearest_ncc(fake, real["train"].images)[0]
    k = int((fake_d < threshold.value).sum())
    ci = binomtest(k, len(fake)).proportion_ci(method="wilson")
    return {
        "fraction": k / len(fake),
        "count": k,
        "ci95": [float(ci.low), float(ci.high)],
        "threshold": threshold.value,
        "median_distance": float(np.median(fake_d)),
        "val_median_distance": float(np.median(val_d)),
    }


def classifier_config(epochs: int) -> Any:
    from factory.benchmark.config import BenchmarkConfig

    return BenchmarkConfig(
        backbones=("resnet10t",),
        pretrained=False,
        image_sizes=(64,),
        epochs=epochs,
        batch_size=16,
        threads=1,
        synthetic_counts=(0, 1),
        acceptance={"rule": "point_estimate", "scenario": 1, "tstr_required": False},
    )


def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> Any:
    """The benchmark stage's classifier (timm resnet10t from scratch) and its `fit`."""
    import torch

    from factory.benchmark.fit import fit, runtime
    from factory.benchmark.model import create_classifier

    cfg = classifier_config(epochs)
    torch.manual_seed(seed)
    model = create_classifier("resnet10t", pretrained=False)
    x = torch.from_numpy(images[:, None].astype(np.float32))
    rt = runtime(cfg)
    g = torch.Generator().manual_seed(seed)
    fit(model, x, labels, np.arange(len(x)), np.array([], dtype=int), cfg, g, rt)
    return model, cfg, rt


def scores(model_cfg_rt: Any, images: np.ndarray) -> np.ndarray:
    import torch

    from factory.benchmark.fit import predict

    model, _cfg, rt = model_cfg_rt
    return predict(model, torch.from_numpy(images[:, None].astype(np.float32)), 16, rt)


def patient_auc(y: np.ndarray, score: np.ndarray, patients: np.ndarray, seed: int) -> dict:
    """AUC on real test images with a patient-level bootstrap 95% interval."""
    from sklearn.metrics import roc_auc_score

    from factory.benchmark.metrics import interval, patient_bootstrap

    weights = patient_bootstrap(patients, 1000, seed)
    boots = []
    for w in weights:
        idx = np.repeat(np.arange(len(y)), w)
        boots.append(roc_auc_score(y[idx], score[idx]) if len(np.unique(y[idx])) == 2 else np.nan)
    lo, hi = interval(np.asarray(boots))
    return {"auc": float(roc_auc_score(y, score)), "ci95": [lo, hi]}


@dataclass
class Reference:
    """Real-versus-real values and what the metrics reuse (computed once)."""

    extractor: Any
    train_feats: np.ndarray
    train_frd: np.ndarray
    val_frd: np.ndarray
    detect: dict
    real_classifier: Any
    fidelity_val: dict
    trtr: dict
    memorized_val: dict
    seconds: dict


def cached_frd_features(real: dict[str, RealSplit], workers: int, cache: Path) -> tuple:
    """Radiomics features of real train and val (the slow part), cached by pixel hash."""
    import hashlib

    from factory.gate.metrics import frd_features

    key = hashlib.sha256(real["train"].images.tobytes() + real["val"].images.tobytes())
    path = cache / f"frd-real-{key.hexdigest()[:16]}.npz"
    if path.exists():
        found = np.load(path)
        return found["train"], found["val"]
    train_frd = frd_features(real["train"].images, workers)
    val_frd = frd_features(real["val"].images, workers)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, train=train_frd, val=val_frd)
    return train_frd, val_frd


def reference(
    real: dict[str, RealSplit], seed: int, epochs: int, workers: int, cache: Path
) -> Reference:
    from factory.gate.features import build_extractor, extract_features

    with Meter() as m:
        extractor = build_extractor("random_cnn", seed=seed)
        train_feats = extract_features(real["train"].images, extractor)
        val_feats = extract_features(real["val"].images, extractor)
        train_frd, val_frd = cached_frd_features(real, workers, cache)
        detect = detectability(train_feats, val_feats, seed)
        clf = train_classifier(real["train"].images, real["train"].labels, epochs, seed)
        fid_val = auc_with_ci(real["val"].labels, scores(clf, real["val"].images), seed)
        test = real["test"]
        trtr = patient_auc(test.labels, scores(clf, test.images), test.patients, seed)
    return Reference(
        extractor,
        train_feats,
        train_frd,
        val_frd,
        detect,
        clf,
        fid_val,
        trtr,
        memorized(real["val"].images, real),
        {"wall": m.wall, "cpu": m.cpu},
    )


# --- one variant ---------------------------------------------------------------------------


def train_variant(
    manifest: Path, out: Path, common: Any, base: dict, overrides: dict, args: Any
) -> dict:
    """Train one recipe to `args.steps`, a kept checkpoint every `args.eval_every` steps."""
    from factory.train.config import TrainConfig
    from factory.train.run import train_generator

    settings = {
        **base,
        **overrides,
        "processes": 1,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "checkpoint_every": args.eval_every,
        "keep_checkpoints": args.steps // args.eval_every + 1,
        "preview_every": 0,
        "preview_per_class": 1,  # the final preview is always drawn: keep it cheap
        "preview_steps": 2,
        "warmup_steps": min(base.get("warmup_steps", 0), args.steps // 4),
    }
    cfg = TrainConfig(**settings)
    with Meter() as m:
        result = train_generator(manifest, out, common, cfg)
    return {
        "cfg": cfg,
        "steps": result.step,
        "wall_s": m.wall,
        "cpu_s": m.cpu,
        "final_loss": result.final_loss,
        "loadavg": loadavg(),
        "parameters": json.loads((out / "lineage.json").read_text())["model"]["parameters"],
    }


def export_checkpoint(folder: Path, cfg: Any, common: Any, out: Path) -> Path:
    """A model folder from a training checkpoint's EMA weights (the trace points).

    accelerate saves the registered EMAModel as a `custom_checkpoint_<i>.pkl`; the one
    holding `shadow_params` is it.
    """
    import torch
    from diffusers.training_utils import EMAModel

    from factory.generator import GeneratorMeta, save_generator
    from factory.train.model import build_noise_scheduler, build_unet

    unet = build_unet(cfg, common.image_size, len(common.classes))
    state = None
    for pkl in sorted(folder.glob("custom_checkpoint_*.pkl")):
        loaded = torch.load(pkl, map_location="cpu", weights_only=False)
        if isinstance(loaded, dict) and "shadow_params" in loaded:
            state = loaded
    if state is None:
        raise RuntimeError(f"{folder}: no EMA state found")
    ema = EMAModel(unet.parameters())
    ema.load_state_dict(state)
    ema.copy_to(unet.parameters())
    step = int(folder.name.split("-")[1])
    meta = GeneratorMeta(
        classes=common.classes,
        image_size=common.image_size,
        null_class=len(common.classes),
        prediction_type=cfg.prediction_type,
        train_steps=step,
    )
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    save_generator(out, unet, unet, build_noise_scheduler(cfg), meta)
    return out


def draw(model_dir: Path, out: Path, common: Any, args: Any, guidance: float) -> tuple:
    """Sample the evaluation set with the demo's sampler; returns images, labels, timing."""
    from factory.io import read_png16
    from factory.sample.config import SampleConfig
    from factory.sample.run import sample_set

    cfg = SampleConfig(
        per_class=args.per_class,
        scheduler=args.scheduler,
        steps=args.sample_steps,
        guidance_scale=guidance,
        batch_size=16,
        grid_per_class=8,
    )
    shutil.rmtree(out, ignore_errors=True)
    with Meter() as m:
        summary = sample_set(
            model_dir,
            out,
            cfg,
            classes=common.classes,
            seed=common.seed,
            image_size=common.image_size,
            progress=False,
        )
    import pandas as pd

    meta = pd.read_parquet(out / "metadata.parquet")
    images = np.stack([read_png16(out / p) for p in meta["path"]]).astype(np.float32) / 65535.0
    n = sum(summary.per_class.values())
    timing = {"wall_s": m.wall, "cpu_s": m.cpu, "images_per_s": n / m.wall, "n": n}
    return images, meta["label"].to_numpy(dtype=int), timing


def evaluate(
    images: np.ndarray, labels: np.ndarray, real: dict, ref: Reference, args: Any, full: bool
) -> dict:
    """The metrics of one synthetic set (class fidelity and TSTR only when `full`)."""
    from factory.gate.features import extract_features
    from factory.gate.metrics import frd_features

    with Meter() as m:
        feats = extract_features(images, ref.extractor)
        out = {
            "detectability": detectability(ref.train_feats, feats, args.seed),
            "frd": frd_versus_reference(
                ref.train_frd, ref.val_frd, frd_features(images, args.frd_workers), args.seed
            ),
            "memorized": memorized(images, real),
        }
        if full:
            fid = scores(ref.real_classifier, images)
            agree = {
                int(c): float(((fid > 0.5) == c)[labels == c].mean()) for c in np.unique(labels)
            }
            out["class_fidelity"] = {**auc_with_ci(labels, fid, args.seed), "agreement": agree}
            clf = train_classifier(images, labels, args.epochs, args.seed)
            test = real["test"]
            out["tstr"] = patient_auc(
                test.labels, scores(clf, test.images), test.patients, args.seed
            )
    out["metrics_wall_s"], out["metrics_cpu_s"] = m.wall, m.cpu
    return out


# --- report --------------------------------------------------------------------------------


def _ci(d: dict, key: str = "auc") -> str:
    return f"{d[key]:.3f} [{d['ci95'][0]:.3f}, {d['ci95'][1]:.3f}]"


def _num(x: float) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.0f}"


def _budget(row: dict, doc: dict) -> str:
    t = row["train"]
    if "batch" in t:
        return f"{t['steps']} x {t['batch']}"
    return f"{t['steps']} x {doc['budget']['batch_size']}"


def markdown(doc: dict) -> str:
    ref = doc["reference"]
    lines = [
        f"Phantom, {doc['budget']['steps']} steps x batch {doc['budget']['batch_size']} per "
        f"variant (1 process, {doc['budget']['threads']} thread), sampler "
        f"{doc['budget']['sampler']}, {doc['budget']['per_class']} images per class. "
        "Real-vs-real references: "
        f"FRD(val, train) = {ref['frd']:.2f}; detectability(val vs train) = "
        f"{_ci(ref['detectability'])}; the real-trained classifier's AUC on val = "
        f"{_ci(ref['fidelity_val'])}, on test (TRTR) = {_ci(ref['trtr'])}; "
        f"memorized fraction of real val = {ref['memorized_val']:.3f}.",
        "",
        "| variant | steps x batch | train wall s | train CPU s | FRD (sd) | FRD ratio "
        "| detectability AUC [95% CI] | class fidelity AUC [95% CI] | TSTR AUC [95% CI] "
        "| memorized [95% CI] | sample img/s | peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: |",
    ]
    for row in doc["variants"]:
        e = row["final"]
        mem = e["memorized"]
        lines.append(
            f"| {row['name']} | {_budget(row, doc)} | {_num(row['train']['wall_s'])} | "
            f"{_num(row['train']['cpu_s'])} | "
            f"{e['frd']['value']:.2f} ({e['frd']['value_sd']:.2f}) | {e['frd']['ratio']:.2f} | "
            f"{_ci(e['detectability'])} | {_ci(e['class_fidelity'])} | {_ci(e['tstr'])} | "
            f"{mem['fraction']:.3f} [{mem['ci95'][0]:.3f}, {mem['ci95'][1]:.3f}] | "
            f"{e['sampling']['images_per_s']:.1f} | {row['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "Along training (checkpoint EMA weights):",
        "",
        "| variant | step | FRD ratio | detectability AUC | memorized |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in doc["variants"]:
        for t in row["trace"]:
            lines.append(
                f"| {row['name']} | {t['step']} | {t['frd']['ratio']:.2f} | "
                f"{t['detectability']['auc']:.3f} | {t['memorized']['fraction']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    keys = [
        ("FRD ratio (1 = real val)", lambda t: t["frd"]["ratio"]),
        ("detectability AUC (0.5 = real)", lambda t: t["detectability"]["auc"]),
        ("memorized fraction", lambda t: t["memorized"]["fraction"]),
    ]
    for ax, (title, get) in zip(axes, keys, strict=True):
        for row in (r for r in doc["variants"] if r["trace"]):
            steps = [t["step"] for t in row["trace"]]
            ax.plot(steps, [get(t) for t in row["trace"]], marker="o", label=row["name"])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step")
    ref = doc["reference"]
    axes[0].axhline(1.0, color="grey", ls="--", lw=0.8)
    axes[1].axhline(ref["detectability"]["auc"], color="grey", ls="--", lw=0.8)
    axes[2].axhline(0.05, color="grey", ls="--", lw=0.8)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- main ----------------------------------------------------------------------------------


def run_variant(name: str, real: dict, ref: Reference, common: Any, base: dict, args: Any):
    out = args.out / name
    shutil.rmtree(out, ignore_errors=True)
    train = train_variant(args.manifest, out / "train", common, base, VARIANTS[name], args)
    cfg = train.pop("cfg")
    print(f"[{name}] trained {train['steps']} steps: {train}", flush=True)
    from factory.train.checkpoint import list_checkpoints

    trace = []
    for step, folder in sorted(list_checkpoints(out / "train" / "checkpoints")):
        model = export_checkpoint(folder, cfg, common, out / f"model-{step}")
        full = step == train["steps"]
        images, labels, timing = draw(model, out / f"sample-{step}", common, args, args.guidance)
        point = {
            "step": step,
            "sampling": timing,
            **evaluate(images, labels, real, ref, args, full),
        }
        print(f"[{name}] step {step}: {json.dumps(point)}", flush=True)
        trace.append(point)
    return {
        "name": name,
        "overrides": VARIANTS[name],
        "train": train,
        "trace": [
            {k: v for k, v in t.items() if k not in ("class_fidelity", "tstr")} for t in trace
        ],
        "final": trace[-1],
        "peak_rss_mb": peak_rss_mb(),
    }


def global_batch(lineage: dict) -> str:
    """'32 (2 processes x 16)' from a train lineage.json, '?' when it is not there."""
    try:
        per = lineage["params"]["train"]["batch_size"]
        procs = lineage["launch"]["processes"]
    except KeyError:
        return "?"
    return f"{per * procs} ({procs} processes x {per})"


def model_rows(spec: str, guidances: str, real: dict, ref: Reference, common: Any, args: Any):
    """Rows for already-trained model folders (`name=dir,...`), no training: e.g. the
    demo's own `dvc repro` model at its full budget, at each guidance scale."""
    from factory.generator import read_generator_meta

    rows = []
    for item in filter(None, spec.split(",")):
        name, folder = item.split("=", 1)
        meta = read_generator_meta(folder)
        lineage = Path(folder).parent / "lineage.json"
        facts = json.loads(lineage.read_text()) if lineage.exists() else {}
        for w in (float(g) for g in guidances.split(",")):
            label = f"{name}, guidance {w:g}"
            images, labels, timing = draw(
                Path(folder), args.out / f"{name}-w{w:g}", common, args, w
            )
            point = {
                "step": meta.train_steps,
                "sampling": timing,
                **evaluate(images, labels, real, ref, args, True),
            }
            print(f"[{label}] {json.dumps(point)}", flush=True)
            rows.append(
                {
                    "name": label,
                    "overrides": {"model": str(folder), "guidance": w},
                    "train": {
                        "steps": meta.train_steps,
                        "wall_s": facts.get("wall_seconds_this_run"),
                        "cpu_s": None,  # not measured by this script
                        "batch": global_batch(facts),
                    },
                    "trace": [],
                    "final": point,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=Path("outputs/ingest/manifest.parquet"))
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", default="baseline,min-snr-5,vflip,linear-ztsnr")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--scheduler", default="dpmsolver++")
    ap.add_argument("--sample-steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=10, help="classifier epochs (fidelity, TSTR)")
    ap.add_argument("--frd-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="", help="name=model_dir,... evaluated as they are")
    ap.add_argument("--model-guidance", default="1", help="guidance scales for --models")
    ap.add_argument("--include", type=Path, help="an earlier run's JSON: keep its variants")
    args = ap.parse_args(argv)
    import torch
    import yaml

    from factory.params import load_params

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    params = load_params(args.params)
    common = params.common
    base = yaml.safe_load(args.params.read_text())["train"]
    args.out.mkdir(parents=True, exist_ok=True)
    real = real_splits(args.manifest, common.classes)
    print(f"loadavg at start: {loadavg()}", flush=True)
    ref = reference(real, args.seed, args.epochs, args.frd_workers, args.out.parent / "gq-cache")
    doc: dict[str, Any] = {
        "manifest": str(args.manifest),
        "budget": {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "threads": args.threads,
            "sampler": f"{args.scheduler}-{args.sample_steps}, guidance {args.guidance}",
            "per_class": args.per_class,
        },
        "reference": {
            "frd": frd_reference(ref),
            "detectability": ref.detect,
            "fidelity_val": ref.fidelity_val,
            "trtr": ref.trtr,
            "memorized_val": ref.memorized_val["fraction"],
            "seconds": ref.seconds,
        },
        "loadavg_start": loadavg(),
        "variants": [],
    }
    print(f"reference: {json.dumps(doc['reference'])}", flush=True)
    if args.include:
        doc["variants"] += json.loads(args.include.read_text())["variants"]
        doc["included"] = str(args.include)
    for name in filter(None, args.variants.split(",")):
        doc["variants"].append(run_variant(name, real, ref, common, base, args))
        write(doc, args.out)  # after every variant: a crash keeps what was measured
    doc["variants"] += model_rows(args.models, args.model_guidance, real, ref, common, args)
    doc["loadavg_end"] = loadavg()
    doc["cpu_s_total"] = cpu_seconds()
    write(doc, args.out)
    print(markdown(doc))
    return 0


def frd_reference(ref: Reference) -> float:
    from factory.gate.metrics import frd_from_features

    return float(frd_from_features(ref.train_frd, ref.val_frd))


def write(doc: dict, out: Path) -> None:
    from factory.io import atomic_write_bytes, atomic_write_json

    atomic_write_json(out / "generator_quality.json", doc)
    atomic_write_bytes(out / "generator_quality.md", markdown(doc).encode())
    if doc["variants"]:
        plot(doc, out / "generator_quality.png")


if __name__ == "__main__":
    raise SystemExit(main())
