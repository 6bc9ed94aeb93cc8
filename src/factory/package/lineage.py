"""lineage.json: for every synthetic image, what made it, from which data, with which settings.

The chain is image -> sampler settings and seed -> model (hash, training steps) -> training
manifest (hash, source dataset, counts per split) -> source files' hashes. Each link carries
the params it ran with and the git commit. The source side is recorded as hashes and counts
only: no patient ID, image ID or file name of the real data ever enters this file
(`assert_no_identifiers` checks that before anything is written).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from factory.errors import FactoryError

LINEAGE_FILE = "lineage.json"
SCHEMA = "factory.lineage/1"
UPSTREAM_STAGES = ("phantom", "ingest", "train", "sample", "gate")
NOT_FOR_PUBLICATION = "gate FAILED: not for publication"


def gate_verdict(passed: bool) -> str:
    """The gate verdict as the card, the lineage chain and publish state it."""
    return "passed" if passed else NOT_FOR_PUBLICATION


class NotASetError(FactoryError):
    """A folder or Hub revision that is not a packaged synthetic set."""


def read_dvc_lock(path: str | Path, stages: Iterable[str] = UPSTREAM_STAGES) -> dict[str, Any]:
    """The named stages' entries of dvc.lock (cmd, deps/outs hashes, params), as locked now.

    DVC commits each stage to dvc.lock as soon as it finishes, so when `package` runs the
    upstream entries are those of the run that produced its inputs.
    """
    path = Path(path)
    if not path.exists():
        return {"path": str(path), "found": False, "stages": {}}
    try:
        lock = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise FactoryError(f"{path}: not valid YAML ({exc}); run `dvc repro` again") from None
    entries = lock.get("stages", {}) if isinstance(lock, dict) else {}
    found = {}
    for name in stages:
        entry = entries.get(name)
        if entry is None:
            continue
        found[name] = {
            "cmd": entry.get("cmd"),
            "deps": [_lock_file(d) for d in entry.get("deps", [])],
            "params": entry.get("params", {}),
            "outs": [_lock_file(o) for o in entry.get("outs", [])],
        }
    return {"path": str(path), "found": True, "schema": lock.get("schema"), "stages": found}


def _lock_file(item: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("path", "hash", "md5", "size", "nfiles")
    return {k: item[k] for k in keep if k in item}


def source_identity(
    manifest: pd.DataFrame, manifest_sha256: str, record: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The source data set as ingest recorded it, plus hashes and counts per split.

    `record` is outputs/ingest/source.json (Contract 3) verbatim, or None when ingest wrote
    none: then only the adapter that read the files is known (`adapters`), never the data
    set's identity. No patient ID, image ID or file name is kept.
    """
    splits = {}
    for split, rows in manifest.groupby("split", sort=True):
        splits[str(split)] = {
            "patients": int(rows["patient_id"].nunique()),
            "images": len(rows),
            "per_class": {
                str(k): int(v) for k, v in rows["label"].value_counts().sort_index().items()
            },
            "source_sha256": sorted(str(h) for h in rows["source_sha256"]),
        }
    return {
        "adapters": sorted(str(s) for s in manifest["source"].unique()),
        "record": dict(record) if record is not None else None,
        "manifest_sha256": manifest_sha256,
        "splits": splits,
    }


def dataset_name(source: Mapping[str, Any]) -> str | None:
    """The source data set's recorded name, e.g. 'embedded phantom (synthetic, INbreast
    layout)'; None when ingest recorded no identity."""
    record = source.get("record")
    return str(record["dataset"]["name"]) if record else None


def describe_source(source: Mapping[str, Any]) -> str:
    """The source in words, from what was recorded and nothing else."""
    name = dataset_name(source)
    if name:
        return name
    adapters = ", ".join(f"`{a}`" for a in source["adapters"])
    return f"images read by the {adapters} adapter (the data set's identity was not recorded)"


def numbers_only(obj: Any) -> Any:
    """Keep the numeric/boolean leaves of a JSON tree (drops free text such as file names)."""
    if isinstance(obj, Mapping):
        kept = {str(k): numbers_only(v) for k, v in obj.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {}}
    if isinstance(obj, bool | int | float):
        return obj
    return None


def summary_stats(values: pd.Series) -> dict[str, float]:
    v = values.astype(float)
    return {
        "min": float(v.min()),
        "median": float(v.median()),
        "max": float(v.max()),
    }


def memorization(accepted: pd.DataFrame) -> dict[str, Any]:
    """Nearest-real statistics of the accepted images (from the gate's memorization check)."""
    return {
        "nearest_real_ncc": summary_stats(accepted["nearest_real_ncc"]),
        "nearest_real_feature_distance": summary_stats(accepted["nearest_real_feature_distance"]),
    }


def sampler_summary(accepted: pd.DataFrame) -> dict[str, Any]:
    return {
        "schedulers": sorted(str(s) for s in accepted["scheduler"].unique()),
        "steps": sorted(int(s) for s in accepted["steps"].unique()),
        "guidance": sorted(float(g) for g in accepted["guidance"].unique()),
        "seeds": {"min": int(accepted["seed"].min()), "max": int(accepted["seed"].max())},
        "model_hashes": sorted(str(h) for h in accepted["model_hash"].unique()),
    }


def consistency_checks(
    accepted: pd.DataFrame, model_meta: Mapping[str, Any], manifest_sha256: str
) -> list[dict[str, Any]]:
    """Links that must agree: the rows' model hash and the model's training manifest."""
    model_hash = model_meta.get("model_hash")
    row_hashes = set(accepted["model_hash"].astype(str))
    trained_on = model_meta.get("manifest_sha256")
    return [
        {
            "check": "samples made by the packaged model",
            "ok": model_hash is not None and row_hashes == {model_hash},
            "detail": f"rows {sorted(row_hashes)} vs model {model_hash}",
        },
        {
            "check": "model trained on the recorded manifest",
            "ok": trained_on == manifest_sha256,
            "detail": f"model {trained_on} vs manifest {manifest_sha256}",
        },
    ]


def assert_no_identifiers(lineage: Mapping[str, Any], manifest: pd.DataFrame) -> None:
    """Fail if any real patient ID, image ID or stored file name appears in the lineage."""
    text = json.dumps(lineage, default=str)
    for column in ("patient_id", "image_id", "path"):
        for value in manifest[column].astype(str).unique():
            if value and value in text:
                raise FactoryError(
                    f"lineage would contain the source {column} {value!r}; an upstream file "
                    "records identifiers (check outputs/train/lineage.json and configs)"
                )


def read_lineage(set_dir: str | Path) -> dict[str, Any]:
    """A packaged set's lineage.json; a clear error when the folder is not a set."""
    set_dir = Path(set_dir)
    path = set_dir / LINEAGE_FILE
    if not set_dir.is_dir():
        raise NotASetError(f"{set_dir}: no such folder")
    if not path.exists():
        raise NotASetError(
            f"{set_dir}: not a packaged set (no {LINEAGE_FILE}); see `factory package`"
        )
    try:
        lineage = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise NotASetError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(lineage, dict) or lineage.get("schema") != SCHEMA:
        raise NotASetError(f"{path}: not a factory lineage file (schema {SCHEMA!r} expected)")
    return lineage


def _step(lineage: Mapping[str, Any], stage: str, git: Any = None) -> dict[str, Any]:
    """What identifies one step's run: its params, git commit and dvc.lock entry."""
    return {
        "params": lineage["params_as_run"].get(stage),
        "git_commit": git or lineage["package"]["git_commit"],
        "dvc_lock": lineage["dvc_lock"]["stages"].get(stage),
    }


def set_chain(lineage: Mapping[str, Any]) -> dict[str, Any]:
    """The set-level chain: set -> sampler -> model -> manifest -> source hashes.

    Each step carries its params, a git commit (the stage's own record when it keeps one,
    else the commit the set was packaged at) and its dvc.lock entry (code and data hashes).
    """
    model = lineage["model"]
    used = model.get("split") or "train"
    splits = lineage["source"]["splits"]
    return {
        "set": {k: lineage["set"][k] for k in ("name", "version", "rows", "per_class")},
        "gate": {
            "passed": lineage["gate"]["passed"],
            "verdict": lineage["gate"]["verdict"],
            **_step(lineage, "gate"),
        },
        "sampler": {**lineage["sampler"], **_step(lineage, "sample")},
        "model": {
            **{k: model.get(k) for k in ("model_hash", "train_steps", "manifest_sha256")},
            **_step(lineage, "train", model.get("git_commit")),
        },
        "manifest": {
            "sha256": lineage["source"]["manifest_sha256"],
            "source": describe_source(lineage["source"]),
            "adapters": lineage["source"]["adapters"],
            "counts": {
                s: {k: v for k, v in info.items() if k != "source_sha256"}
                for s, info in splits.items()
            },
            **_step(lineage, "ingest"),
        },
        "source_files": {
            "split": used,
            "sha256": splits.get(used, {}).get("source_sha256", []),
        },
        "package": {k: lineage["package"][k] for k in ("git_commit", "git_dirty")},
    }


def image_chain(lineage: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The chain for one synthetic image, from its shard row to the source files' hashes."""
    chain = set_chain(lineage)
    chain["image"] = {
        "image_id": row["image_id"],
        "sha256": row["image_sha256"],
        "label": lineage["set"]["classes"][int(row["label"])],
        "shard": row.get("shard"),
        "nearest_real_ncc": float(row["nearest_real_ncc"]),
        "nearest_real_feature_distance": float(row["nearest_real_feature_distance"]),
    }
    chain["sampler"] = {
        "scheduler": row["scheduler"],
        "steps": int(row["steps"]),
        "guidance": float(row["guidance"]),
        "seed": int(row["seed"]),
        "model_hash": row["model_hash"],
        **_step(lineage, "sample"),
    }
    return chain


def _short(h: Any, n: int = 12) -> str:
    return str(h)[:n] if h else "unknown"


def _step_lines(step: Mapping[str, Any]) -> list[str]:
    lock = step.get("dvc_lock") or {}
    hashes = ", ".join(
        f"{o['path']} {_short(o.get('md5'), 8)}"
        for o in [*lock.get("deps", []), *lock.get("outs", [])]
    )
    return [
        f"     git {_short(step.get('git_commit'), 10)}; dvc.lock: {hashes or 'not locked'}",
        f"     params {json.dumps(step.get('params'), sort_keys=True)}",
    ]


def render_chain(chain: Mapping[str, Any]) -> str:
    """The chain as indented text, newest link first."""
    s, m, man, src = chain["set"], chain["model"], chain["manifest"], chain["source_files"]
    lines = [f"set {s['name']} {s['version']}: {s['rows']} images {s['per_class']}"]
    lines.append(f"  gate: {chain['gate']['verdict']}")
    if "image" in chain:
        im, sm = chain["image"], chain["sampler"]
        lines += [
            f"image {im['image_id']} ({im['label']}) sha256 {_short(im['sha256'])} "
            f"in {im['shard']}",
            f"  nearest real: ncc {im['nearest_real_ncc']:.4f}, "
            f"feature distance {im['nearest_real_feature_distance']:.4f}",
            f"<- sampler {sm['scheduler']}, {sm['steps']} steps, guidance {sm['guidance']}, "
            f"seed {sm['seed']}",
        ]
    else:
        sm = chain["sampler"]
        lines.append(
            f"<- sampler {sm['schedulers']}, steps {sm['steps']}, guidance {sm['guidance']}, "
            f"seeds {sm['seeds']['min']}..{sm['seeds']['max']}"
        )
    lines += _step_lines(sm)
    lines += [
        f"<- model {_short(m['model_hash'])}, {m['train_steps']} training steps",
        *_step_lines(m),
        f"<- training manifest sha256 {_short(man['sha256'])}, source: {man['source']}",
    ]
    for split, c in man["counts"].items():
        lines.append(
            f"     {split}: {c['patients']} patients, {c['images']} images {c['per_class']}"
        )
    lines += _step_lines(man)
    shown = ", ".join(_short(h) for h in src["sha256"][:3])
    more = f" ... (+{len(src['sha256']) - 3}; --json lists all)" if len(src["sha256"]) > 3 else ""
    lines.append(
        f"<- {len(src['sha256'])} source files ({src['split']} split) sha256 {shown}{more}"
    )
    pk = chain["package"]
    lines.append(f"packaged at git {_short(pk['git_commit'], 10)} (dirty: {pk['git_dirty']})")
    return "\n".join(lines)
