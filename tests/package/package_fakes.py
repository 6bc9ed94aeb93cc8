"""Fake upstream outputs in the real on-disk layouts the package stage reads.

`make_upstream(root, manifest)` writes, beside an ingest manifest made by the shared
`tiny_manifest` fixture, what train, sample and gate would leave: the generator's
factory_model.json and lineage.json, 16-bit sample PNGs and metadata.parquet, the gate's
metrics.json and accepted.parquet, each stage's config.json, and a dvc.lock.
A DICOM file name is planted in the ingest metrics, as a quarantine report would hold it,
so tests can check it never reaches lineage.json.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from factory.generator import META_FILE, GeneratorMeta
from factory.io import png16_bytes, sha256_bytes, sha256_file
from factory.manifest import read_manifest
from factory.package.build import RECORDED_SECTIONS, Inputs, package_set

CLASSES = ("normal", "abnormal")


def _root_conftest():
    """tests/conftest.py loaded by path (its helpers, not its fixtures), for module fixtures."""
    path = Path(__file__).parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("factory_tests_root_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_tiny_manifest(root: Path) -> Path:
    """The shared tiny ingest manifest (see tests/conftest.py), for module-scoped fixtures."""
    return _root_conftest().make_tiny_manifest(root)


SECRET_SOURCE_FILE = "AllDICOMs/22678787_secretpatient_MG_L_CC_ANON.dcm"
MODEL_HASH = "a" * 64


@dataclass(frozen=True)
class Upstream:
    root: Path
    inputs: Inputs
    images: dict[str, np.ndarray]  # image_id -> the 16-bit pixels written


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))


def make_upstream(
    root: Path,
    manifest: Path,
    *,
    per_class: int = 3,
    size: int = 16,
    passed: bool = True,
    seed: int = 0,
    write_lock: bool = True,
) -> Upstream:
    out = root / "outputs"
    manifest_sha = sha256_file(manifest)
    real = read_manifest(manifest)
    _write_json(
        manifest.parent / "metrics.json",
        {"images": len(real), "quarantined": 1, "quarantine": [{"file": SECRET_SOURCE_FILE}]},
    )
    _write_json(manifest.parent / "config.json", {"ingest": {"source": "inbreast", "workers": 2}})

    train = out / "train"
    meta = GeneratorMeta(
        classes=CLASSES,
        image_size=size,
        null_class=len(CLASSES),
        train_steps=120,
        manifest_sha256=manifest_sha,
        model_hash=MODEL_HASH,
    )
    _write_json(train / "model" / META_FILE, meta.model_dump(mode="json"))
    train_rows = real[real["split"] == "train"]
    _write_json(
        train / "lineage.json",
        {
            "manifest_sha256": manifest_sha,
            "split": "train",
            "counts": train_rows["label"].value_counts().to_dict(),
            "git_commit": "0123456789abcdef",
            "steps": 120,
        },
    )
    _write_json(train / "config.json", {"train": {"steps": 120, "batch_size": 4}})

    rng = np.random.default_rng(seed)
    sample = out / "sample"
    rows, images = [], {}
    for label, name in enumerate(CLASSES):
        for k in range(per_class):
            image_id = f"syn-{name}-{k:04d}"
            pixels = rng.integers(0, 65536, (size, size), dtype=np.uint16)
            rel = f"images/{name}/{image_id}.png"
            (sample / rel).parent.mkdir(parents=True, exist_ok=True)
            data = png16_bytes(pixels)
            (sample / rel).write_bytes(data)
            images[image_id] = pixels
            rows.append(
                {
                    "image_id": image_id,
                    "label": label,
                    "class_name": name,
                    "seed": 1000 + 10 * label + k,
                    "scheduler": "dpmsolver++",
                    "steps": 25,
                    "guidance": 1.5,
                    "model_hash": MODEL_HASH,
                    "path": rel,
                    "sha256": sha256_bytes(data),
                }
            )
    meta_df = pd.DataFrame(rows)
    meta_df.to_parquet(sample / "metadata.parquet", index=False)
    _write_json(sample / "config.json", {"sample": {"per_class": per_class, "steps": 25}})

    gate = out / "gate"
    gate.mkdir(parents=True, exist_ok=True)
    accepted = meta_df.assign(
        nearest_real_ncc=rng.uniform(0.2, 0.6, len(meta_df)),
        nearest_real_feature_distance=rng.uniform(1.0, 3.0, len(meta_df)),
        # The gate keeps which real image was nearest: real IDs that must not be packaged.
        nearest_real_id=real["image_id"].iloc[0],
        nearest_real_feature_id=real["image_id"].iloc[1],
    )
    # Shuffle the rows: the package must not depend on the gate's row order.
    accepted.sample(frac=1.0, random_state=1).to_parquet(gate / "accepted.parquet", index=False)
    # The gate stage's metrics.json layout (see factory.gate.run.metrics_document).
    _write_json(
        gate / "metrics.json",
        {
            "passed": passed,
            "overall": {
                "frd": 12.5,
                "coverage": 0.71,
                "memorized_fraction": 0.0,
                "rejected_fraction": 0.1,
                "fid": 80.0,
            },
            "thresholds": {
                "max_frd": 40.0,
                "min_coverage": 0.5,
                "max_memorized_fraction": 0.0,
                "max_rejected_fraction": 0.2,
                "max_fid": None,
            },
            "memorization": {
                "ncc": {
                    "threshold": 0.93,
                    "percentile": 1.0,
                    "method": "val-train",
                    "n_calibration": 12,
                }
            },
            "failed": [] if passed else ["frd"],
            "counts": {"samples": 7, "accepted": 6},
            "seed": 0,
        },
    )
    _write_json(gate / "config.json", {"gate": {"memorization_percentile": 1.0}})

    lock = {
        "schema": "2.0",
        "stages": {
            name: {
                "cmd": f"python stages/{name}.py",
                "deps": [{"path": f"stages/{name}.py", "hash": "md5", "md5": "1" * 32, "size": 10}],
                "outs": [
                    {
                        "path": f"outputs/{name}",
                        "hash": "md5",
                        "md5": "2" * 32 + ".dir",
                        "size": 100,
                        "nfiles": 3,
                    }
                ],
            }
            for name in ("ingest", "train", "sample", "gate")
        },
    }
    if write_lock:
        (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    inputs = Inputs(gate, sample, train, manifest, root / "dvc.lock")
    return Upstream(root, inputs, images)


def package(upstream: Upstream, params, out: Path) -> dict:
    """Run the package library on fake upstream outputs."""
    return package_set(
        params.package,
        params.common.classes,
        upstream.inputs,
        out,
        params.resolved(*RECORDED_SECTIONS),
        project_dir=upstream.root,
    )


def run(cmd: list[str], cwd: Path) -> str:
    """Run a command; fail the test with its output when it fails."""
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"{cmd}: {out.stdout}\n{out.stderr}"
    return out.stdout


ACCEPTED = {  # the benchmark stage's verdict layout (factory.benchmark.acceptance.decide)
    "accepted": True,
    "metric": "roc_auc",
    "scenario": "real+500",
    "gain": 0.031,
    "min_gain": 0.0,
    "ci95": [0.004, 0.058],
    "protocol": "heldout",
    "rule": "gain",
    "sd": 0.01,
    "reason": "paired gain in roc_auc of real+500 over real+0 is +0.0310, >= min_gain +0.0000",
}
RESULTS_MD = """# Benchmark results

| scenario | roc_auc | accuracy |
|---|---|---|
| real+0 | 0.80 | 0.75 |
| real+500 | 0.83 | 0.78 |
"""


def dvc(*args: str, cwd: Path) -> str:
    return run([sys.executable, "-m", "dvc", *args], cwd)


def git(*args: str, cwd: Path) -> str:
    return run(["git", *args], cwd)


def make_project(root: Path, params) -> Path:
    """A clean git + DVC clone holding a packaged set (DVC-tracked) and a benchmark verdict.

    Returns the set folder.
    """
    root.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=root)
    git("config", "user.email", "test@example.com", cwd=root)
    git("config", "user.name", "test", cwd=root)
    (root / ".gitignore").write_text("outputs/\n")
    dvc("init", "-q", cwd=root)
    manifest = make_tiny_manifest(root / "outputs" / "ingest")
    up = make_upstream(root, manifest)
    set_dir = root / "datasets" / "synthetic" / params.package.name
    package(up, params, set_dir)
    _write_json(root / "outputs" / "benchmark" / "acceptance.json", ACCEPTED)
    (root / "outputs" / "benchmark" / "report").mkdir(parents=True)
    (root / "outputs" / "benchmark" / "report" / "results.md").write_text(RESULTS_MD)
    (root / "dvc.lock").unlink()  # the fake lock is not a real pipeline's
    dvc("add", "-q", str(set_dir.relative_to(root)), cwd=root)
    git("add", ".", cwd=root)
    git("commit", "-q", "-m", "packaged set", cwd=root)
    return set_dir
