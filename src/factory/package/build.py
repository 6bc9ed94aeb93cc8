"""The package stage: gate-accepted samples -> a versioned set in the Hub's dataset-repo layout.

    <out>/data/train-00000-of-0000N.parquet   the images and provenance columns
    <out>/README.md                           the dataset card
    <out>/lineage.json                        the audit trail (see factory.package.lineage)

The folder is built under a temporary name and swapped into place only when complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.errors import FactoryError, GateFailed
from factory.generator import META_FILE, read_generator_meta
from factory.io import (
    atomic_dir,
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    sha256_bytes,
    sha256_file,
)
from factory.manifest import read_manifest
from factory.package import lineage as lin
from factory.package.card import render_card
from factory.package.config import PackageConfig
from factory.package.dataset import (
    SPLIT,
    build_dataset,
    check_labels,
    features,
    read_accepted,
    write_shards,
)
from factory.provenance import environment, git_commit, git_dirty
from factory.sample.metadata import read_metadata

# params.yaml sections recorded in lineage.json `params`: this stage's. Each upstream
# stage's are recorded from its own config.json (`params_as_run`: what it ran with).
RECORDED_SECTIONS = ("common", "package")
SOURCE_FILE = "source.json"  # Contract 3, written by ingest beside manifest.parquet


@dataclass(frozen=True)
class Inputs:
    """Where the upstream stages left what the package stage reads."""

    gate_dir: Path
    samples_dir: Path
    train_dir: Path
    manifest: Path
    dvc_lock: Path

    @property
    def stage_configs(self) -> dict[str, Path]:
        return {
            "ingest": self.manifest.parent / "config.json",
            "train": self.train_dir / "config.json",
            "sample": self.samples_dir / "config.json",
            "gate": self.gate_dir / "config.json",
        }

    @property
    def hashed_files(self) -> list[Path]:
        return [
            self.gate_dir / "accepted.parquet",
            self.gate_dir / "metrics.json",
            self.samples_dir / "metadata.parquet",
            self.train_dir / "model" / META_FILE,
            self.train_dir / "lineage.json",
            self.manifest,
            self.manifest.parent / "metrics.json",
        ]


def _optional_json(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        return read_json(path)
    except ValueError as exc:
        raise FactoryError(f"{path}: not valid JSON ({exc}); re-run its stage") from None


def read_gate(gate_dir: Path) -> dict[str, Any]:
    """The gate's verdict and its rows (Contract 1), as lineage.json records them.

    A failed gate is packaged only in record mode (Contract 2), and then marked "gate
    FAILED: not for publication" everywhere; in stop mode it is refused here.
    """
    from factory.gate.gates import load_checks

    path = gate_dir / "metrics.json"
    metrics = _optional_json(path)
    if not isinstance(metrics, dict) or not isinstance(metrics.get("passed"), bool):
        raise FactoryError(f"{path}: missing or has no boolean 'passed'; run `dvc repro gate`")
    mode = metrics.get("mode", "stop")
    if not metrics["passed"] and mode != "record":
        raise GateFailed(
            f"{path}: the gate did not pass (mode {mode!r}); fix the model or thresholds "
            "first, or set gate.on_fail: record to package it marked not for publication"
        )
    checks = [c.as_dict() for c in load_checks(metrics, str(path))]
    return {
        "passed": metrics["passed"],
        "mode": mode,
        "verdict": lin.gate_verdict(metrics["passed"]),
        "checks": checks,
        "metrics": {k: v for k, v in metrics.items() if k != "checks"},
        "sha256": sha256_file(path),
    }


def read_source(manifest: Path) -> dict[str, Any]:
    """outputs/ingest/source.json (Contract 3) beside the manifest: the source data set's
    identity and terms. Missing, or without declared terms, it is an error naming the file
    or the adapter: a set whose source is unknown is not packaged."""
    from factory.ingest.sources.terms import read_source_record

    return read_source_record(manifest.parent / SOURCE_FILE)


def model_section(train_dir: Path, classes: tuple[str, ...]) -> dict[str, Any]:
    """The model link: weights hash, training steps, training manifest, params, commit."""
    meta = read_generator_meta(train_dir / "model")
    if tuple(meta.classes) != tuple(classes):
        raise FactoryError(
            f"{train_dir / 'model' / META_FILE}: model classes {list(meta.classes)} differ from "
            f"common.classes {list(classes)}; retrain or fix params.yaml"
        )
    path = train_dir / "lineage.json"
    training = _optional_json(path)
    if not isinstance(training, dict) or not isinstance(training.get("split"), str):
        raise FactoryError(f"{path}: missing, or no 'split' the model trained on; re-run train")
    return {
        "model_hash": meta.model_hash,
        "train_steps": meta.train_steps,
        "manifest_sha256": meta.manifest_sha256,
        "image_size": meta.image_size,
        "classes": list(meta.classes),
        "split": training["split"],
        "git_commit": training.get("git_commit"),
        "params": _optional_json(train_dir / "config.json"),
        "training": training,
    }


def build_lineage(
    config: PackageConfig,
    classes: tuple[str, ...],
    inputs: Inputs,
    accepted: Any,
    shards: list[dict[str, Any]],
    params: Mapping[str, Any],
    project_dir: Path,
) -> dict[str, Any]:
    """Everything lineage.json records, checked for source identifiers."""
    manifest = read_manifest(inputs.manifest)
    manifest_sha = sha256_file(inputs.manifest)
    model = model_section(inputs.train_dir, classes)
    record = read_source(inputs.manifest)
    gate = read_gate(inputs.gate_dir)
    gate["sampled"] = len(read_metadata(inputs.samples_dir))
    gate["accepted"] = len(accepted)
    lineage = {
        "schema": lin.SCHEMA,
        "set": set_section(config, classes, accepted, model["image_size"], record),
        "shards": shards,
        "gate": gate,
        "memorization": lin.memorization(accepted),
        "sampler": lin.sampler_summary(accepted),
        "model": model,
        "source": lin.source_identity(manifest, manifest_sha, record),
        "ingest_metrics": lin.numbers_only(_optional_json(inputs.manifest.parent / "metrics.json")),
        "params_as_run": {
            stage: _optional_json(path) for stage, path in inputs.stage_configs.items()
        },
        "params": dict(params),
        "dvc_lock": lin.read_dvc_lock(inputs.dvc_lock),
        "inputs": {str(p): (sha256_file(p) if p.exists() else None) for p in inputs.hashed_files},
        "checks": lin.consistency_checks(accepted, model, manifest_sha),
        "package": {
            "git_commit": git_commit(project_dir),
            "git_dirty": git_dirty(project_dir),
            "environment": environment(),
        },
    }
    lin.assert_no_identifiers(lineage, manifest)
    return lineage


def set_section(
    config: PackageConfig,
    classes: tuple[str, ...],
    accepted: Any,
    image_size: int,
    record: Mapping[str, Any],
) -> dict[str, Any]:
    """Name, version, licence and counts of the set; the licence is the one the source's
    recorded terms give (package.license is kept beside it, as configured)."""
    return {
        "name": config.name,
        "version": config.version,
        "pretty_name": config.pretty_name,
        "license": record["terms"]["license"],
        "configured_license": config.license,
        "split": SPLIT,
        "classes": list(classes),
        "image_size": image_size,
        "rows": len(accepted),
        "per_class": {c: int((accepted["label"] == i).sum()) for i, c in enumerate(classes)},
    }


def package_set(
    config: PackageConfig,
    classes: tuple[str, ...],
    inputs: Inputs,
    out_dir: str | Path,
    params: Mapping[str, Any],
    project_dir: str | Path = ".",
) -> dict[str, Any]:
    """Write the set under `out_dir` (atomically) and return its lineage."""
    read_gate(inputs.gate_dir)  # refuse early, before any image is read
    accepted = read_accepted(inputs.gate_dir / "accepted.parquet")
    check_labels(accepted, classes, str(inputs.gate_dir / "accepted.parquet"))
    ds = build_dataset(accepted, inputs.samples_dir, classes)
    with atomic_dir(out_dir) as tmp:
        shards = write_shards(ds, tmp, config.rows_per_shard)
        project = Path(project_dir)
        lineage = build_lineage(config, classes, inputs, accepted, shards, params, project)
        lineage["set"]["arrow_bytes"] = int(ds.data.nbytes)  # the card's dataset_size
        write_card_and_lineage(tmp, lineage, features(classes))
    return lineage


def write_card_and_lineage(
    folder: Path, lineage: dict[str, Any], feats: Any, acceptance: Any = None
) -> None:
    """README.md and croissant.json rendered from `lineage`, then lineage.json recording
    their sha256 (so that a signature of lineage.json covers them too)."""
    from factory.package.croissant import write_croissant

    card = render_card(lineage, feats).encode("utf-8")
    atomic_write_bytes(folder / "README.md", card)
    croissant = write_croissant(folder, lineage, acceptance)
    lineage["card_sha256"] = sha256_bytes(card)
    lineage["croissant_sha256"] = sha256_file(croissant)
    atomic_write_json(folder / lin.LINEAGE_FILE, lineage)
