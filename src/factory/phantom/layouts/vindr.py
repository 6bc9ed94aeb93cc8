"""VinDr-Mammo: `breast-level_annotations.csv` + `images/<study_id>/<image_id>.dicom`.

BI-RADS is written `BI-RADS 1`..`BI-RADS 5` (VinDr has no 4a/4b/4c or 6: they become 4
and 5), density `DENSITY A`..`DENSITY D`, split `training`/`test` by study.
"""

from __future__ import annotations

from pathlib import Path

from factory.phantom.cohort import Patient, patient_rng
from factory.phantom.encode import spread_encodings
from factory.phantom.jobs import Job, Output
from factory.phantom.layouts.base import (
    LayoutPlan,
    all_syntaxes,
    base_truth,
    even,
    header,
    short_hash,
    spec,
    text_flags,
    views,
    write_csv,
)

COLUMNS = [
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "split",
]
ASPECT = 2800 / 3518


def vindr_birads(birads: str) -> str:
    return f"BI-RADS {min(int(birads[0]), 5)}"


def plan(cohort: list[Patient], *, seed: int, height: int) -> LayoutPlan:
    rng = patient_rng(seed, 13)
    items = views(cohort)
    n = len(items)
    width = even(height * ASPECT)
    syntaxes = ("explicit", "j2k") if "j2k" in all_syntaxes() else ("explicit",)
    encodings = spread_encodings(
        n,
        rng,
        syntax=syntaxes,
        photometric=("MONOCHROME2", "MONOCHROME1"),
        bits=(12, 16),
        voi=("linear", "linear-multi", "none"),
    )
    texts = text_flags(n, rng, every=4)
    test_patients = {p.index for p in cohort if patient_rng(seed, 14, p.index).random() < 0.2}
    jobs, rows = [], []
    for i, (patient, breast, view) in enumerate(items):
        study = short_hash("vindr-study", seed, patient.index, n=32)
        series = short_hash("vindr-series", seed, patient.index, breast.laterality, n=32)
        image = short_hash("vindr-image", seed, patient.index, breast.laterality, view, n=32)
        label = vindr_birads(breast.birads)
        jobs.append(
            Job(
                spec=spec(
                    height,
                    width,
                    seed,
                    patient,
                    breast,
                    view,
                    text=f"{breast.laterality}-{view}" if texts[i] else None,
                ),
                outputs=(Output(f"images/{study}/{image}.dicom", "dicom"),),
                encoding=encodings[i],
                header=header(seed, "vindr", patient, breast, view, height),
                truth={**base_truth(patient, breast, study), "source_label": label},
            )
        )
        rows.append(
            [
                study,
                series,
                image,
                breast.laterality,
                view,
                height,
                width,
                label,
                f"DENSITY {'ABCD'[patient.density - 1]}",
                "test" if patient.index in test_patients else "training",
            ]
        )

    def finish(root: Path, records: list[dict]) -> None:
        write_csv(root / "breast-level_annotations.csv", COLUMNS, rows)

    return LayoutPlan(jobs, finish)
