"""The gate at the file edges: read the sample and ingest outputs, write the gate's outputs.

Outputs under `out_dir`:

- `report/` (always, built under a temporary name and swapped in): grids, closest pairs,
  distance histograms, `images.parquet` (every synthetic image with its flags), report.md;
- `metrics.json` (always): `passed`, overall and per-class values, thresholds;
- `accepted.parquet` ONLY when every gate passed. On a failure any older one is removed,
  so an accepted list on disk always belongs to a passing gate.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd

from factory.config import CommonConfig
from factory.errors import FactoryError, GateFailed
from factory.gate.assess import GateInputs, GateResult, assess
from factory.gate.config import GATES, GateConfig
from factory.gate.gates import table
from factory.gate.report import write_report
from factory.io import atomic_dir, atomic_write_bytes, atomic_write_json, read_png16
from factory.manifest import class_index, load_images, read_manifest
from factory.sample.metadata import METADATA_FILE, read_metadata


def read_samples(samples_dir: str | Path, classes: tuple[str, ...]) -> pd.DataFrame:
    """The sample stage's metadata table, checked against common.classes."""
    path = Path(samples_dir) / METADATA_FILE
    df = read_metadata(samples_dir)
    if df.empty:
        raise FactoryError(f"{path}: no synthetic images listed; sample some first")
    labels = df["label"].astype(int)
    bad = labels[(labels < 0) | (labels >= len(classes))]
    if len(bad):
        raise FactoryError(
            f"{path}: label {int(bad.iloc[0])} is outside common.classes {list(classes)}"
        )
    names = np.asarray(classes)[labels.to_numpy()]
    if (names != df["class_name"].to_numpy()).any():
        raise FactoryError(
            f"{path}: class_name does not match common.classes[label] {list(classes)}; "
            "the samples were drawn for other classes: re-run sample or fix common.classes"
        )
    return df.reset_index(drop=True)


def _to_unit(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 65535.0) if images.size else images.astype(np.float32)


def load_inputs(
    samples_dir: str | Path, manifest_path: str | Path, classes: tuple[str, ...]
) -> tuple[GateInputs, pd.DataFrame]:
    """The synthetic set and the real train and val sets, as the gate compares them."""
    samples = read_samples(samples_dir, classes)
    fake = np.stack([read_png16(Path(samples_dir) / p) for p in samples["path"]])
    manifest = read_manifest(manifest_path)
    root = Path(manifest_path).parent
    train = manifest[manifest["split"] == "train"].reset_index(drop=True)
    val = manifest[manifest["split"] == "val"].reset_index(drop=True)
    if train.empty:
        raise FactoryError(f"{manifest_path}: no 'train' images to compare against")
    train_images = load_images(train, root)
    if train_images.shape[1:] != fake.shape[1:]:
        raise FactoryError(
            f"{samples_dir}: synthetic images are {fake.shape[1:]} px but the real ones "
            f"{train_images.shape[1:]}; sample at common.image_size"
        )
    inputs = GateInputs(
        classes=tuple(classes),
        fake=_to_unit(fake),
        fake_labels=samples["label"].astype(int).to_numpy(),
        train=_to_unit(train_images),
        train_labels=class_index(train["label"], classes, str(manifest_path)),
        train_ids=train["image_id"].astype(str).to_numpy(),
        val=_to_unit(load_images(val, root)).reshape(-1, *train_images.shape[1:]),
    )
    return inputs, samples


def metrics_document(result: GateResult, config: GateConfig, seed: int) -> dict:
    """metrics.json: the verdict first, then values, thresholds and counts."""
    return {
        "passed": result.passed,
        "overall": result.overall,
        "per_class": result.per_class,
        "thresholds": {gate: getattr(config, gate) for gate in GATES},
        "memorization": {
            name: {
                "threshold": t.value,
                "percentile": t.percentile,
                "method": t.method,
                "n_calibration": t.n_calibration,
            }
            for name, t in result.thresholds.items()
        },
        "failed": [c.metric for c in result.checks if not c.passed],
        "counts": result.counts,
        "extractor": config.extractor,
        "seed": seed,
    }


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def run_gate(
    samples_dir: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
    common: CommonConfig,
    config: GateConfig,
) -> GateResult:
    """Gate a sampled set; write report, metrics and (if it passed) the accepted list.

    Does not raise on a failed gate: call `raise_if_failed` after saving what else the
    caller wants kept (the stage and the CLI do).
    """
    out_dir = Path(out_dir)
    start = time.perf_counter()
    inputs, samples = load_inputs(samples_dir, manifest_path, common.classes)
    result = assess(inputs, config, seed=common.seed)
    with atomic_dir(out_dir / "report") as folder:
        write_report(inputs, result, samples, folder, config.extractor)
    document = metrics_document(result, config, common.seed)
    document["seconds"] = round(time.perf_counter() - start, 1)
    accepted_path = out_dir / "accepted.parquet"
    if result.passed:
        accepted = pd.concat([samples, result.per_image], axis=1)[result.per_image["accepted"]]
        atomic_write_bytes(accepted_path, _parquet_bytes(accepted.reset_index(drop=True)))
    else:
        accepted_path.unlink(missing_ok=True)
    atomic_write_json(out_dir / "metrics.json", document)
    return result


def raise_if_failed(result: GateResult) -> None:
    """GateFailed (exit 1) with the one-screen table when any gate did not pass."""
    if not result.passed:
        failed = ", ".join(c.metric for c in result.checks if not c.passed)
        raise GateFailed(f"gate failed ({failed}); report kept for audit\n{table(result.checks)}")
