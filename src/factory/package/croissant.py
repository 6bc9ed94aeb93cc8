"""croissant.json: the set described in MLCommons Croissant 1.1, with Responsible-AI fields.

Written beside the shards (`data/train-*.parquet`) by the package stage and re-written
with the benchmark verdict by `factory publish`. Every value comes from lineage.json
(and acceptance.json when known): the source data set and its licence (Contract 3), the
model hash and sampler, the gate's checks (Contract 1) and the benchmark verdict
(Contract 4). A sentence is only written when its fact is recorded; an unrecorded fact is
said to be unrecorded.

The structure (record sets, fields, the parquet file set) is built with mlcroissant's own
classes, so that it matches what mlcroissant reads. The RAI and PROV-O keys it has no
class for (`rai:hasSyntheticData`, `prov:*`) are added to the JSON-LD, with `prov` in
the @context. `write_croissant` validates the file with mlcroissant and refuses to write
one that does not validate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from factory.errors import FactoryError
from factory.io import atomic_write_text

CROISSANT_FILE = "croissant.json"
SHARDS_ID = "parquet-shards"
RECORD_SET = "images"
PROV = "http://www.w3.org/ns/prov#"
CROISSANT_VERSION = "http://mlcommons.org/croissant/1.1"
PERSONAL_INFORMATION = "none: no real image; source identities never recorded"

# Provenance columns of the shards, as Croissant data types (factory.package.dataset).
COLUMN_TYPES = {
    "image_id": "TEXT",
    "seed": "INTEGER",
    "scheduler": "TEXT",
    "steps": "INTEGER",
    "guidance": "FLOAT",
    "model_hash": "TEXT",
    "nearest_real_ncc": "FLOAT",
    "nearest_real_feature_distance": "FLOAT",
    "image_sha256": "TEXT",
}
DESCRIPTIONS = {
    "image": "The synthetic image: a 16-bit grayscale PNG, bytes as the sampler wrote them.",
    "label": "Class index into the classes listed in the description (ClassLabel).",
    "image_id": "Identifier of the synthetic image (not of any real image).",
    "seed": "Per-image seed of the sampler (set seed, class, index).",
    "scheduler": "Diffusion sampler used.",
    "steps": "Sampler steps.",
    "guidance": "Classifier-free guidance scale.",
    "model_hash": "sha256 of the generator weights that drew the image.",
    "nearest_real_ncc": "Normalised cross-correlation distance to the nearest real "
    "training image (gate's memorization check).",
    "nearest_real_feature_distance": "Feature distance to the nearest real training image.",
    "image_sha256": "sha256 of the PNG bytes.",
}


def source_of(lineage: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Contract 3 record the set was packaged with (lineage.json source.record)."""
    record = (lineage.get("source") or {}).get("record")
    return record if isinstance(record, dict) and isinstance(record.get("terms"), dict) else None


def _field(mlc: Any, name: str, data_type: str, column: str, json_path: str | None = None) -> Any:
    extract = mlc.Extract(column=column)
    transforms = [mlc.Transform(json_path=json_path)] if json_path else []
    return mlc.Field(
        id=f"{RECORD_SET}/{name}",
        name=name,
        description=DESCRIPTIONS[name],
        data_types=[getattr(mlc.DataType, data_type)],
        source=mlc.Source(file_set=SHARDS_ID, extract=extract, transforms=transforms),
    )


def _structure(mlc: Any) -> tuple[list[Any], list[Any]]:
    shards = mlc.FileSet(
        id=SHARDS_ID,
        name=SHARDS_ID,
        description="The set's parquet shards (Hugging Face dataset-repo layout).",
        encoding_formats=["application/x-parquet"],
        includes=["data/train-*.parquet"],
    )
    fields = [
        _field(mlc, "image", "IMAGE_OBJECT", "image", "bytes"),
        _field(mlc, "label", "INTEGER", "label"),
        *(_field(mlc, name, kind, name) for name, kind in COLUMN_TYPES.items()),
    ]
    records = mlc.RecordSet(
        id=RECORD_SET,
        name=RECORD_SET,
        description="One record per synthetic image: image, label and provenance columns.",
        fields=fields,
    )
    return [shards], [records]


def _gate_lines(lineage: Mapping[str, Any]) -> list[str]:
    """The gate's verdict rows (Contract 1), each beside its real-vs-real reference."""
    gate = lineage.get("gate") or {}
    metrics = gate.get("metrics") or {}
    checks = gate.get("checks", metrics.get("checks"))
    mode = gate.get("mode", metrics.get("mode", "not recorded"))
    verdict = "passed" if gate.get("passed") else "FAILED (not for publication)"
    lines = [f"Quality and privacy gate {verdict} (mode {mode})."]
    if not isinstance(checks, list):
        return [*lines, "Per-check gate rows not recorded in this lineage."]
    for c in checks:
        ref = "no reference" if c.get("reference") is None else f"reference {c['reference']}"
        thr = (
            "reported only"
            if c.get("threshold") is None
            else f"{c.get('compared')} {c.get('compared_value')} vs {c.get('direction')} "
            f"{c['threshold']}: {'pass' if c.get('passed') else 'FAIL'}"
        )
        lines.append(f"{c.get('metric')} ({c.get('scope')}): {c.get('value')} ({ref}); {thr}.")
    return lines


def _benchmark_line(acceptance: Mapping[str, Any] | None) -> str:
    if acceptance is None:
        return "Benchmark verdict: not known when this file was written (benchmark not run)."
    verdict = "accepted" if acceptance.get("accepted") else "rejected"
    text = acceptance.get("rule_text") or acceptance.get("rule") or "rule not recorded"
    reasons = acceptance.get("reasons") or []
    why = f" Reasons: {'; '.join(map(str, reasons))}." if reasons else ""
    return f"Benchmark verdict: {verdict} ({text}).{why}"


def _collection(lineage: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    model, sampler = lineage.get("model") or {}, lineage.get("sampler") or {}
    ds = record["dataset"]
    real = "synthetic phantom images" if ds.get("synthetic") else "real images"
    return (
        f"No data was collected from people for this set. Every image was drawn by a "
        f"class-conditional diffusion model (weights sha256 {model.get('model_hash')}, "
        f"{model.get('train_steps')} training steps) trained on the {model.get('split')} "
        f"split of {ds['name']} ({real}), sampled with {sampler.get('schedulers')}, "
        f"{sampler.get('steps')} steps, guidance {sampler.get('guidance')}, one seed per "
        f"image ({(sampler.get('seeds') or {}).get('min')}.."
        f"{(sampler.get('seeds') or {}).get('max')}), and kept only if it passed the gate."
    )


def _limitations(lineage: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    s = lineage["set"]
    out = [
        f"{s['rows']} synthetic images at {s['image_size']} px, classes {s['classes']}: "
        "for method development and data augmentation research, not for clinical use.",
        f"The generator saw only {record['dataset']['name']}; images inherit its "
        "scanners, population and label definitions.",
    ]
    if record["dataset"].get("synthetic"):
        out.append(
            "The source itself is synthetic (a procedural phantom): the images do not "
            "show real anatomy or pathology."
        )
    return out


def _biases(lineage: Mapping[str, Any]) -> list[str]:
    s = lineage["set"]
    counts = ", ".join(f"{k} {v}" for k, v in s["per_class"].items())
    return [
        f"Class counts of the set: {counts}.",
        "Source-set demographics are not recorded by the pipeline; any bias of the source "
        "data set in age, density, scanner or ethnicity is unmeasured here.",
    ]


def _provenance(lineage: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    terms, ds = record["terms"], record["dataset"]
    model, sampler = lineage.get("model") or {}, lineage.get("sampler") or {}
    return {
        "prov:wasDerivedFrom": {
            "@type": "prov:Entity",
            "name": ds["name"],
            "identifier": ds["id"],
            "url": terms.get("url") or None,
            "license": terms["license"],
            "sc:usageInfo": terms["license_name"],
            "citeAs": terms.get("citation") or None,
        },
        "prov:wasGeneratedBy": {
            "@type": "prov:Activity",
            "name": "factory sample + gate",
            "prov:used": {
                "@type": "prov:Entity",
                "name": "class-conditional diffusion model",
                "sc:sha256": model.get("model_hash"),
                "sc:description": f"{model.get('train_steps')} training steps on the "
                f"manifest with sha256 {model.get('manifest_sha256')}",
            },
            "sc:description": f"sampler {sampler.get('schedulers')}, steps "
            f"{sampler.get('steps')}, guidance {sampler.get('guidance')}",
        },
    }


def build_croissant(
    lineage: Mapping[str, Any], acceptance: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Croissant JSON-LD of a packaged set, from its lineage (and benchmark verdict)."""
    import mlcroissant as mlc

    record = source_of(lineage)
    if record is None:
        raise FactoryError(
            "lineage.json has no source.record with terms (Contract 3): package the set with "
            "outputs/ingest/source.json present (`dvc repro ingest package`)"
        )
    s, terms = lineage["set"], record["terms"]
    distribution, record_sets = _structure(mlc)
    metadata = mlc.Metadata(
        ctx=mlc.Context(conforms_to=CROISSANT_VERSION),
        name=s["name"],
        description=f"{s.get('pretty_name') or s['name']}: synthetic mammograms, classes "
        f"{s['classes']} (label = index), derived from {record['dataset']['name']}.",
        version=str(s["version"]).lstrip("v"),
        license=[terms["url"] or terms["license_name"]],
        cite_as=terms.get("citation") or None,
        url=None,
        distribution=distribution,
        record_sets=record_sets,
        data_collection=_collection(lineage, record),
        data_collection_type=["Synthetic data generation"],
        personal_sensitive_information=[PERSONAL_INFORMATION],
        data_limitations=_limitations(lineage, record),
        data_biases=_biases(lineage),
        data_use_cases=["Research on synthetic data for mammography classifiers."],
        data_preprocessing_protocol=[*_gate_lines(lineage), _benchmark_line(acceptance)],
    )
    doc = metadata.to_json()
    doc["@context"]["prov"] = PROV
    doc["rai:hasSyntheticData"] = True
    doc.update(_provenance(lineage, record))
    return _drop_none(doc)


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


def validate(path: str | Path) -> list[str]:
    """mlcroissant's errors for the Croissant file at `path` (empty when it validates)."""
    import mlcroissant as mlc

    try:
        dataset = mlc.Dataset(jsonld=str(path))
    except mlc.ValidationError as exc:
        return [line for line in str(exc).splitlines() if line.strip()]
    return list(dataset.metadata.ctx.issues.errors)


def write_croissant(
    set_dir: str | Path,
    lineage: Mapping[str, Any],
    acceptance: Mapping[str, Any] | None = None,
) -> Path:
    """Write `set_dir`/croissant.json, validated; a file that fails validation is not kept."""
    set_dir = Path(set_dir)
    path = set_dir / CROISSANT_FILE
    doc = build_croissant(lineage, acceptance)
    candidate = set_dir / f".{CROISSANT_FILE}.candidate"
    candidate.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    try:
        errors = validate(candidate)
    finally:
        text = candidate.read_text(encoding="utf-8")
        candidate.unlink(missing_ok=True)
    if errors:
        raise FactoryError(
            f"{path}: Croissant validation failed ({errors[0]}; {len(errors)} error(s)); "
            "the set was not written. This is a bug in factory.package.croissant: report it"
        )
    atomic_write_text(path, text)
    return path
