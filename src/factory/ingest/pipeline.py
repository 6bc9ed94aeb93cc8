"""The ingest stage: a dataset folder -> manifest, images, quarantine list, metrics.

scan (adapter) -> labels -> decode + preprocess in workers -> duplicates -> pseudonyms
-> patient split -> checks -> atomic write. The DVC stage and `factory ingest` both call
`ingest()`. Nothing read from a source file other than pixels and the label reaches
the manifest, the images or the metrics; quarantine.jsonl names source files and stays
local.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from factory.config import CommonConfig
from factory.errors import GateFailed
from factory.ingest.config import IngestConfig
from factory.ingest.keycheck import (
    FINGERPRINT_META,
    check_key,
    check_record,
    recorded_fingerprint,
)
from factory.ingest.labels import resolve_label_map
from factory.ingest.pseudonym import key_fingerprint, pseudonym, write_fingerprint
from factory.ingest.records import REASONS, Quarantined, SourceRecord
from factory.ingest.sources import scan_source
from factory.ingest.sources.terms import SOURCE_FILE, source_record
from factory.ingest.split import split_and_fold
from factory.ingest.worker import Job, Outcome, run_jobs
from factory.io import atomic_write_json, atomic_write_text
from factory.leftovers import held_staging, sweep
from factory.manifest import COLUMNS, SPLITS

OUTPUTS = (
    "images",
    "quarantine.jsonl",
    "metrics.json",
    "config.json",
    "source.json",  # Contract 3 (distribution team): the data set's identity and terms
    "manifest.parquet",
)
FAILED_QUARANTINE = "quarantine.failed.jsonl"
# What killed runs leave in the output folder: staging folders (.ingest-XXXX.tmp), atomic
# writes' temporaries (.metrics.json.XXXX.tmp) and swapped-out folders (.images.old-PID).
# Only names this stage makes: --out may be a folder that holds other files too.
LEFTOVERS = (
    ".ingest-*.tmp",
    *(f".{name}.*.tmp" for name in (*OUTPUTS, FAILED_QUARANTINE)),
    *(f".{name}.old-*" for name in OUTPUTS),
)

log = logging.getLogger(__name__)


class IngestFailed(GateFailed):
    """Too much was quarantined or a class is missing from a split (message: a summary)."""


@dataclass
class IngestResult:
    manifest: pd.DataFrame
    quarantined: list[Quarantined]
    metrics: dict[str, Any]
    out_dir: Path
    notes: list[str] = field(default_factory=list)


@dataclass
class _Accepted:
    record: SourceRecord
    label: str
    image_id: str
    outcome: Outcome


def _lookup_label(
    record: SourceRecord, label_map: dict[str, str | None]
) -> tuple[str | None, Quarantined | None, bool]:
    """(class, quarantine entry, excluded on purpose) for one record."""
    if record.source_label is None:
        return None, Quarantined(record.rel, "label_missing"), False
    folded = {k.casefold(): v for k, v in label_map.items()}
    key = record.source_label.casefold()
    if key not in folded:
        return None, Quarantined(record.rel, "label_unmapped", repr(record.source_label)), False
    cls = folded[key]
    return cls, None, cls is None


def _laterality(record: SourceRecord, outcome: Outcome) -> str:
    """DICOM tag first (0020,0062 then 0020,0060), then the listing, then the image:
    the chest wall of a left breast is on the image's left in standard orientation."""
    if outcome.tag_laterality:
        return outcome.tag_laterality
    if record.laterality:
        return record.laterality
    return "R" if outcome.chest_wall_right else "L"


def _process(
    records: list[SourceRecord],
    image_ids: list[str],
    images_dir: Path,
    common: CommonConfig,
    config: IngestConfig,
    progress: bool,
) -> list[Outcome]:
    jobs = [
        Job(
            index=i,
            file=r.file,
            out=images_dir / f"{image_ids[i]}.png",
            size=common.image_size,
            min_breast_fraction=config.min_breast_fraction,
            crop_margin=config.crop_margin,
        )
        for i, r in enumerate(records)
    ]
    outcomes: list[Outcome | None] = [None] * len(jobs)
    with tqdm(total=len(jobs), unit="img", desc="ingest", disable=not progress) as bar:
        for outcome in run_jobs(jobs, config.workers, on_done=bar.update):
            outcomes[outcome.index] = outcome
    return [o for o in outcomes if o is not None]


def _drop_duplicates(accepted: list[_Accepted], images_dir: Path) -> list[Quarantined]:
    """Keep the first image (by source path) of each set of equal pixels."""
    first: dict[str, str] = {}
    bad: list[Quarantined] = []
    for item in list(accepted):
        key = item.outcome.pixel_sha256
        if key in first:
            bad.append(Quarantined(item.record.rel, "duplicate", f"same pixels as {first[key]}"))
            (images_dir / f"{item.image_id}.png").unlink(missing_ok=True)
            accepted.remove(item)
        else:
            first[key] = item.record.rel
    return bad


def _manifest(
    accepted: list[_Accepted], source: str, key: bytes, common: CommonConfig, config: IngestConfig
) -> pd.DataFrame:
    patients = [pseudonym(key, "pat", source, a.record.patient) for a in accepted]
    labels = [a.label for a in accepted]
    split, fold = split_and_fold(patients, labels, config.split, config.folds, common.seed)
    rows = [
        {
            "image_id": a.image_id,
            "patient_id": pat,
            "label": a.label,
            "source_label": a.record.source_label,
            "view": a.record.view if a.record.view != "other" else _view(a.outcome),
            "laterality": _laterality(a.record, a.outcome),
            "split": SPLITS[split[pat]],
            "fold": fold[pat],
            "sha256": a.outcome.sha256,
            "source_sha256": a.outcome.source_sha256,
            "source": source,
            "path": f"images/{a.image_id}.png",
        }
        for a, pat in zip(accepted, patients, strict=True)
    ]
    df = pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)
    return df.sort_values("image_id", kind="stable").reset_index(drop=True)


def _view(outcome: Outcome) -> str:
    tag = (outcome.tag_view or "").upper()
    return tag if tag in ("CC", "MLO") else "other"


def _metrics(
    df: pd.DataFrame,
    quarantined: list[Quarantined],
    excluded: int,
    listed: int,
    source: str,
    common: CommonConfig,
    key: bytes,
) -> dict[str, Any]:
    reasons = Counter(q.reason for q in quarantined)

    def per_class(part: pd.DataFrame) -> dict[str, int]:
        counts = part["label"].value_counts()
        return {c: int(counts.get(c, 0)) for c in common.classes}

    return {
        "source": source,
        "listed": listed,
        "images": len(df),
        "patients": int(df["patient_id"].nunique()),
        "excluded_by_label_map": excluded,
        "quarantined": len(quarantined),
        "quarantined_fraction": round(len(quarantined) / listed, 6) if listed else 0.0,
        "quarantined_by_reason": {r: reasons.get(r, 0) for r in REASONS},
        "per_class": per_class(df),
        "per_split": {
            s: {
                "images": int((df["split"] == s).sum()),
                "patients": int(df.loc[df["split"] == s, "patient_id"].nunique()),
                "per_class": per_class(df[df["split"] == s]),
            }
            for s in SPLITS
        },
        "per_fold": {
            str(k): per_class(df[df["fold"] == k]) for k in sorted(df["fold"].unique().tolist())
        },
        "per_source_label": {
            str(k): int(v) for k, v in sorted(df["source_label"].value_counts().items())
        },
        "image_size": common.image_size,
        "seed": common.seed,
        "key_fingerprint": key_fingerprint(key),
    }


def _problems(metrics: dict[str, Any], config: IngestConfig, common: CommonConfig) -> list[str]:
    problems = []
    if metrics["quarantined_fraction"] > config.max_bad_fraction:
        problems.append(
            f"{metrics['quarantined']} of {metrics['listed']} images quarantined "
            f"({metrics['quarantined_fraction']:.1%} > ingest.max_bad_fraction "
            f"{config.max_bad_fraction:.1%})"
        )
    for split, fraction in zip(SPLITS, config.split, strict=True):
        if fraction == 0:
            continue
        for cls in common.classes:
            if metrics["per_split"][split]["per_class"][cls] == 0:
                problems.append(f"class {cls!r} has no image in split {split!r}")
    return problems


def _summary(problems: list[str], metrics: dict[str, Any], quarantined: list[Quarantined]) -> str:
    lines = [
        "ingest failed:",
        *(f"  - {p}" for p in problems),
        "",
        "split    " + "  ".join(f"{c:>10}" for c in metrics["per_class"]),
    ]
    for split, part in metrics["per_split"].items():
        lines.append(f"{split:<8} " + "  ".join(f"{n:>10}" for n in part["per_class"].values()))
    reasons = {r: n for r, n in metrics["quarantined_by_reason"].items() if n}
    if reasons:
        lines += ["", "quarantined: " + ", ".join(f"{r} {n}" for r, n in reasons.items())]
        lines += [f"  e.g. {q.file}: {q.reason} {q.detail}".rstrip() for q in quarantined[:5]]
    return "\n".join(lines)


def _quarantine_jsonl(quarantined: list[Quarantined]) -> str:
    return "".join(
        json.dumps({"file": q.file, "reason": q.reason, "detail": q.detail}) + "\n"
        for q in sorted(quarantined, key=lambda q: (q.file, q.reason))
    )


def _commit(tmp: Path, out_dir: Path) -> None:
    """Move the finished outputs into place. The manifest goes first out and last in, so
    a crash in between leaves no manifest (an incomplete output that looks incomplete)."""
    (out_dir / "manifest.parquet").unlink(missing_ok=True)
    for name in OUTPUTS:
        src, dst = tmp / name, out_dir / name
        if not src.exists():
            continue
        if src.is_dir():
            old = out_dir / f".{name}.old-{os.getpid()}"
            if dst.exists():
                os.replace(dst, old)
            os.replace(src, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dst)
    (out_dir / FAILED_QUARANTINE).unlink(missing_ok=True)


def _select(
    records: list[SourceRecord], label_map: dict[str, str | None]
) -> tuple[list[SourceRecord], list[str], list[Quarantined], int]:
    """(records to process, their classes, label problems, excluded by the label map)."""
    todo: list[SourceRecord] = []
    labels: list[str] = []
    bad: list[Quarantined] = []
    excluded = 0
    for record in records:
        cls, problem, dropped = _lookup_label(record, label_map)
        if problem is not None:
            bad.append(problem)
        elif dropped:
            excluded += 1
        else:
            todo.append(record)
            labels.append(cls)  # type: ignore[arg-type]
    return todo, labels, bad, excluded


def _store(
    todo: list[SourceRecord],
    labels: list[str],
    image_ids: list[str],
    images_dir: Path,
    common: CommonConfig,
    config: IngestConfig,
    progress: bool,
) -> tuple[list[_Accepted], list[Quarantined]]:
    """Decode and write every image; (stored ones, quarantined ones incl. duplicates)."""
    images_dir.mkdir()
    accepted, bad = [], []
    for outcome in _process(todo, image_ids, images_dir, common, config, progress):
        record = todo[outcome.index]
        if outcome.reason is not None:
            bad.append(Quarantined(record.rel, outcome.reason, outcome.detail))
        else:
            accepted.append(
                _Accepted(record, labels[outcome.index], image_ids[outcome.index], outcome)
            )
    return accepted, bad + _drop_duplicates(accepted, images_dir)


def _write_manifest(df: pd.DataFrame, path: Path, key: bytes) -> None:
    """The manifest, with the key's fingerprint in its parquet metadata (never the key)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {**(table.schema.metadata or {}), FINGERPRINT_META: key_fingerprint(key).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def ingest(
    source_dir: str | Path,
    out_dir: str | Path,
    *,
    common: CommonConfig,
    config: IngestConfig,
    key: bytes,
    resolved_config: dict[str, Any] | None = None,
    progress: bool = True,
    allow_key_change: bool = False,
    fingerprint_file: str | Path | None = None,
) -> IngestResult:
    """Ingest the dataset at `source_dir` (layout `config.source`) into `out_dir`.

    Writes images/, manifest.parquet, quarantine.jsonl, metrics.json (and config.json
    from `resolved_config`) atomically as a set. Raises IngestFailed with a one-screen
    summary (and writes quarantine.failed.jsonl) when too much is quarantined or a class
    is missing from a split, and KeyChanged when `out_dir` holds a manifest made with
    another key (unless `allow_key_change`); the previous outputs then stay as they were.
    `fingerprint_file` (the DVC stage's dep, see factory.ingest.keycheck) is checked
    first and set to this key's fingerprint once the outputs are in place. Leftovers of
    killed runs in `out_dir` are removed.
    """
    root, out_dir = Path(source_dir), Path(out_dir)
    fingerprint = key_fingerprint(key)
    recorded = None
    if fingerprint_file is not None:
        fingerprint_file = Path(fingerprint_file)
        check_record(fingerprint_file, out_dir, fingerprint, allow_key_change)
        recorded = recorded_fingerprint(fingerprint_file)
    label_map = resolve_label_map(config.source, config.label_map, common.classes)
    scan = scan_source(config.source, root, config.csv)
    source_rec = source_record(config.source, root)  # Contract 3 (distribution team)
    listed = len(scan.records) + len(scan.quarantined)
    todo, labels, quarantined, excluded = _select(scan.records, label_map)
    quarantined += scan.quarantined
    image_ids = [pseudonym(key, "img", config.source, r.rel) for r in todo]

    out_dir.mkdir(parents=True, exist_ok=True)
    sweep(out_dir, LEFTOVERS)
    with held_staging(out_dir, ".ingest-") as tmp:
        accepted, bad = _store(todo, labels, image_ids, tmp / "images", common, config, progress)
        quarantined = sorted(quarantined + bad, key=lambda q: (q.file, q.reason))
        df = _manifest(accepted, config.source, key, common, config)
        metrics = _metrics(df, quarantined, excluded, listed, config.source, common, key)
        problems = _problems(metrics, config, common)
        if problems:
            atomic_write_text(out_dir / FAILED_QUARANTINE, _quarantine_jsonl(quarantined))
            raise IngestFailed(
                _summary(problems, metrics, quarantined)
                + f"\nfull list: {out_dir / FAILED_QUARANTINE}"
            )
        change = check_key(out_dir, df, fingerprint, allow_key_change, recorded)
        _write_manifest(df, tmp / "manifest.parquet", key)
        atomic_write_text(tmp / "quarantine.jsonl", _quarantine_jsonl(quarantined))
        atomic_write_json(tmp / "metrics.json", metrics)
        atomic_write_json(tmp / SOURCE_FILE, source_rec)  # Contract 3 (distribution team)
        if resolved_config is not None:
            atomic_write_json(tmp / "config.json", resolved_config)
        _commit(tmp, out_dir)
    if fingerprint_file is not None:  # names the key of the outputs now in place
        write_fingerprint(key, fingerprint_file)
    if change is not None:
        log.warning("ingest: replaced a manifest made with another key (%s)", change.describe())
    return IngestResult(manifest=df, quarantined=quarantined, metrics=metrics, out_dir=out_dir)
