"""The gate at the file edges: read the sample and ingest outputs, write the gate's outputs.

Outputs under `out_dir`, which the gate owns whole:

- `report/`: grids, closest pairs, distance histograms, most/least detectable images,
  `images.parquet` (every synthetic image with its flags), report.md;
- `metrics.json`: `passed`, `mode`, `checks` (the verdict rows: see
  `factory.gate.gates.Check`), values, references and test results;
- `accepted.parquet`: when every gate passed, or in `record` mode (gate.on_fail) where a
  failed gate is recorded (metrics.json `passed: false`) instead of stopping;
- `config.json`: the resolved config;
- `radiomics/`: the per-image radiomics cache (`factory.gate.radiomics`), written live
  while the gate runs (an image measured is kept even if the run dies) and carried into
  the new folder at the swap (a folder holding only README.txt when gate.frd or
  gate.radiomics_cache is off: dvc.yaml lists it as a persist output).

All the others become visible together or not at all: the whole folder is built under a
temporary name beside `out_dir` and swapped in (`factory.io.atomic_dir`); a crash at any
point leaves the previous outputs, or none.

Under several processes (gate.processes, `factory.shard`) every rank computes the same
GateResult; only the main rank writes.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd

from factory import shard
from factory.config import CommonConfig
from factory.errors import FactoryError, GateFailed
from factory.gate.assess import GateInputs, GateResult, assess
from factory.gate.config import GATES, GateConfig
from factory.gate.detect import AucResult
from factory.gate.gates import table
from factory.gate.parts import Parts
from factory.gate.realset import RealSet
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
    """The synthetic set and the real train and val sets, as the gate compares them.

    The training images stay on disk (`RealSet`: read gate.chunk_images at a time by the
    parts that need them); the synthetic and val images are loaded.
    """
    samples = read_samples(samples_dir, classes)
    fake = np.stack([read_png16(Path(samples_dir) / p) for p in samples["path"]])
    manifest = read_manifest(manifest_path)
    root = Path(manifest_path).parent
    train = manifest[manifest["split"] == "train"].reset_index(drop=True)
    val = manifest[manifest["split"] == "val"].reset_index(drop=True)
    if train.empty:
        raise FactoryError(f"{manifest_path}: no 'train' images to compare against")
    labels = class_index(train["label"], classes, str(manifest_path))
    train_set = RealSet.from_manifest(train, root, labels, f"{manifest_path} (train)")
    if train_set.image_shape != fake.shape[1:]:
        raise FactoryError(
            f"{samples_dir}: synthetic images are {fake.shape[1:]} px but the real ones "
            f"{train_set.image_shape}; sample at common.image_size"
        )
    inputs = GateInputs(
        classes=tuple(classes),
        fake=_to_unit(fake),
        fake_labels=samples["label"].astype(int).to_numpy(),
        train=train_set,
        train_labels=train_set.labels,
        train_ids=train_set.ids,
        val=_to_unit(load_images(val, root)).reshape(-1, *train_set.image_shape),
        val_labels=class_index(val["label"], classes, str(manifest_path)),
        fake_shas=samples["sha256"].astype(str).to_numpy() if "sha256" in samples else None,
        val_shas=val["sha256"].astype(str).to_numpy(),
    )
    return inputs, samples


# What the gate writes into its folder; anything else there is refused, not deleted.
OWNED = ("metrics.json", "accepted.parquet", "report", "config.json", "radiomics")
KEPT = (".gitignore",)  # DVC may write one beside its outs: carried into the new folder
CACHE = "radiomics"  # written live (not in the temporary folder), moved in at the swap


def _auc_dict(r: AucResult) -> dict:
    return {
        "auc": r.auc,
        "ci95": None if r.ci95 is None else list(r.ci95),
        "n_real": r.n_real,
        "n_other": r.n_other,
        "note": r.note,
    }


def _tests_document(result: GateResult) -> dict:
    doc: dict = {
        "detectability": {
            probe: {side: _auc_dict(r) for side, r in pair.items()}
            for probe, pair in result.detectability.items()
        },
        "class_fidelity": None,
    }
    if result.fidelity is not None:
        f = result.fidelity
        doc["class_fidelity"] = {
            "synthetic": _auc_dict(f.synthetic),
            "val": _auc_dict(f.val),
            "agreement": {c: {"synthetic": s, "val": v} for c, (s, v) in f.agreement.items()},
        }
    return doc


def metrics_document(result: GateResult, config: GateConfig, seed: int) -> dict:
    """metrics.json: the verdict and its rows first, then values, thresholds and counts."""
    return {
        "passed": result.passed,
        "mode": config.on_fail,
        "checks": [c.as_dict() for c in result.checks],
        "overall": result.overall,
        "per_class": result.per_class,
        **_tests_document(result),
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
        "failed": [c.name for c in result.checks if not c.passed],
        "counts": result.counts,
        "extractor": config.extractor,
        "seed": seed,
    }


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _check_out_dir(out_dir: Path) -> None:
    """The gate replaces its folder whole: refuse one that holds anything else."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FactoryError(f"--out {out_dir}: not a folder; give the gate a folder of its own")
    other = sorted(p.name for p in out_dir.iterdir() if p.name not in OWNED + KEPT)
    if other:
        raise FactoryError(
            f"--out {out_dir}: holds {', '.join(other[:5])}, which the gate did not write; "
            "the gate replaces the whole folder, so point --out at a folder of its own"
        )


def _remove_leftovers(out_dir: Path) -> None:
    """Temporary folders of killed runs (`.<name>.*.tmp`, `.<name>.old-*`) beside out_dir.

    A radiomics cache caught in one (a run killed during its swap) is moved back first.
    """
    import shutil

    for pattern in (f".{out_dir.name}.*.tmp", f".{out_dir.name}.old-*"):
        for leftover in out_dir.parent.glob(pattern):
            if (leftover / CACHE).is_dir() and not (out_dir / CACHE).exists():
                out_dir.mkdir(parents=True, exist_ok=True)
                (leftover / CACHE).replace(out_dir / CACHE)
            shutil.rmtree(leftover, ignore_errors=True)


def radiomics_cache(out_dir: Path, config: GateConfig):
    """The gate's radiomics cache (<out>/radiomics; in memory with gate.radiomics_cache
    off); None when gate.frd is off. Ranks other than the main one only read it."""
    if not config.frd:
        return None
    from factory.gate.radiomics import RadiomicsCache

    root = out_dir / CACHE if config.radiomics_cache else None
    return RadiomicsCache(root, write=shard.is_main())


def write_outputs(
    folder: Path,
    inputs: GateInputs,
    result: GateResult,
    samples: pd.DataFrame,
    config: GateConfig,
    document: dict,
    resolved: dict | None,
    parts: Parts | None = None,
) -> None:
    """Fill a fresh folder with every gate output (report, lists, metrics, config).

    With `parts`, the report is timed as the part "report" and metrics.json gets the
    final "parts" table (and `result.parts` with it).
    """
    report = folder / "report"
    report.mkdir()
    if parts is None:
        write_report(inputs, result, samples, report, config.extractor)
    else:
        with parts.part("report"):
            write_report(inputs, result, samples, report, config.extractor)
        result.parts = parts.as_dict()
        document["parts"] = result.parts
    if result.passed or config.on_fail == "record":
        accepted = pd.concat([samples, result.per_image], axis=1)[result.per_image["accepted"]]
        atomic_write_bytes(
            folder / "accepted.parquet", _parquet_bytes(accepted.reset_index(drop=True))
        )
    atomic_write_json(folder / "metrics.json", document)
    if resolved is not None:
        atomic_write_json(folder / "config.json", resolved)


def run_gate(
    samples_dir: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
    common: CommonConfig,
    config: GateConfig,
    resolved: dict | None = None,
) -> GateResult:
    """Gate a sampled set; write every output into `out_dir` as one swap.

    `resolved`: the resolved config saved as config.json with the rest. Does not raise on
    a failed gate: the caller calls `raise_if_failed` (stop mode) or `warn_if_failed`.
    """
    out_dir = Path(out_dir)
    main = shard.is_main()
    _check_out_dir(out_dir)
    if main:
        _remove_leftovers(out_dir)
    start = time.perf_counter()
    parts = Parts()
    with parts.part("load"):
        inputs, samples = load_inputs(samples_dir, manifest_path, common.classes)
    cache = radiomics_cache(out_dir, config)
    result = assess(inputs, config, seed=common.seed, parts=parts, radiomics_cache=cache)
    if cache is not None and main:
        cache.finish()
    document = metrics_document(result, config, common.seed)
    if cache is not None:
        document["radiomics_cache"] = cache.as_dict()
    document["seconds"] = round(time.perf_counter() - start, 1)
    if not main:
        return result
    built: Path | None = None  # the new folder, once the cache has been carried into it
    try:
        with atomic_dir(out_dir) as folder:
            for name in KEPT:
                if (out_dir / name).is_file():
                    (folder / name).write_bytes((out_dir / name).read_bytes())
            write_outputs(folder, inputs, result, samples, config, document, resolved, parts)
            if (out_dir / CACHE).is_dir():  # last, so a failed write leaves it where it was
                (out_dir / CACHE).replace(folder / CACHE)
                built = folder
            else:  # dvc.yaml lists the folder as an output: it must exist, even unused
                (folder / CACHE).mkdir()
                (folder / CACHE / "README.txt").write_text(NO_CACHE)
    except BaseException:
        # The swap failed after the cache moved into the new folder, and the old folder is
        # still in place: the cache goes back, so the old outputs stay as they were.
        moved = built is not None and (built / CACHE).is_dir()
        if moved and out_dir.is_dir() and not (out_dir / CACHE).exists():
            (built / CACHE).replace(out_dir / CACHE)
        raise
    return result


NO_CACHE = (
    "The gate's per-image radiomics cache (factory.gate.radiomics) lives here. It is empty "
    "because this run kept none: gate.frd or gate.radiomics_cache is false.\n"
)


def failure_table(result: GateResult) -> str:
    failed = ", ".join(c.name for c in result.checks if not c.passed)
    return f"gate failed ({failed})\n{table(result.checks, only_gated=True)}"


def raise_if_failed(result: GateResult, mode: str = "stop") -> None:
    """stop mode: GateFailed (exit 1) with the one-screen table when a gate did not pass.

    record mode: nothing is raised; `warn_if_failed` says what was recorded.
    """
    if not result.passed and mode == "stop":
        raise GateFailed(f"{failure_table(result)}\nreport kept for audit, no accepted list")


def warn_if_failed(result: GateResult, mode: str) -> str | None:
    """The record-mode message for a failed gate (None when it passed or in stop mode)."""
    if result.passed or mode != "record":
        return None
    return (
        f"{failure_table(result)}\ngate FAILED, recorded (gate.on_fail: record): the set is "
        "packaged for inspection but not for publication"
    )
