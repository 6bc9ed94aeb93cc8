"""A hospital export: `labels.csv` (`path,label,patient_id,view,laterality`) + images in
PNG (8- and 16-bit), TIFF (16-bit) and DICOM under `images/<patient>/`.

`label="class"` writes normal/abnormal (BI-RADS 1 vs 2-6); `label="birads"` writes the
BI-RADS category instead.
"""

from __future__ import annotations

from pathlib import Path

from factory.errors import FactoryError
from factory.phantom.cohort import Patient, label_of, patient_rng
from factory.phantom.encode import spread_encodings
from factory.phantom.jobs import Job, Output
from factory.phantom.layouts.base import (
    LayoutPlan,
    base_truth,
    even,
    header,
    spec,
    views,
    write_csv,
)

COLUMNS = ["path", "label", "patient_id", "view", "laterality"]
FORMATS = (("png16", "png"), ("dicom", "dcm"), ("tiff16", "tif"), ("png8", "png"))


def plan(cohort: list[Patient], *, seed: int, height: int, label: str = "class") -> LayoutPlan:
    if label not in ("class", "birads"):
        raise FactoryError(f"folder layout option label = {label!r}: expected 'class' or 'birads'")
    rng = patient_rng(seed, 18)
    items = views(cohort)
    width = even(height * 0.8)
    encodings = spread_encodings(
        len(items),
        rng,
        syntax=("explicit", "rle"),
        photometric=("MONOCHROME2", "MONOCHROME1"),
        bits=(12, 16),
        voi=("linear", "none"),
    )
    jobs, rows = [], []
    for i, (patient, breast, view) in enumerate(items):
        pid = f"HOSP-{patient.index + 1:04d}"
        fmt, ext = FORMATS[i % len(FORMATS)]
        rel = f"images/{pid}/{pid}_{breast.laterality}_{view}.{ext}"
        value = label_of(breast.birads) if label == "class" else breast.birads
        jobs.append(
            Job(
                spec=spec(height, width, seed, patient, breast, view),
                outputs=(Output(rel, fmt),),
                encoding=encodings[i] if fmt == "dicom" else None,
                header=header(seed, "folder", patient, breast, view, height)
                if fmt == "dicom"
                else None,
                truth={**base_truth(patient, breast, pid), "source_label": value},
            )
        )
        rows.append([rel, value, pid, view, breast.laterality])

    def finish(root: Path, records: list[dict]) -> None:
        write_csv(root / "labels.csv", COLUMNS, rows)

    return LayoutPlan(jobs, finish)
