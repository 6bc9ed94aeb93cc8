"""RSNA Screening Mammography: `train.csv` + `train_images/<patient_id>/<image_id>.dcm`.

The label is the `cancer` column; view and laterality come from the CSV (the DICOMs
carry no ViewPosition).
"""

from __future__ import annotations

from pathlib import Path

from factory.ingest.records import (
    Quarantined,
    Scan,
    SourceRecord,
    normalise_laterality,
    normalise_view,
)
from factory.ingest.sources.tables import files_under, read_table, rel
from factory.ingest.sources.terms import Terms

TERMS = Terms(
    name="RSNA Screening Mammography Breast Cancer Detection",
    license="other",
    license_name="RSNA / Kaggle competition data terms (non-commercial; no redistribution)",
    url="https://www.kaggle.com/competitions/rsna-breast-cancer-detection/rules",
    redistribution=False,
    citation="Carr C., Kitamura F., Kalpathy-Cramer J., et al. RSNA Screening Mammography "
    "Breast Cancer Detection. Kaggle, 2022.",
    notes="The competition rules allow non-commercial use, academic research and education, "
    "and forbid passing the competition data on to anyone not in the competition.",
)

COLUMNS = ("patient_id", "image_id", "laterality", "view", "cancer")


def scan(root: Path, csv: str | None) -> Scan:
    table = read_table(root / "train.csv", required=COLUMNS)
    images = root / "train_images"
    on_disk = {rel(p, root): p for p in files_under(images, (".dcm",))}
    out = Scan()
    listed: set[str] = set()
    for _, row in table.iterrows():
        key = f"train_images/{row['patient_id']}/{row['image_id']}.dcm"
        listed.add(key)
        path = on_disk.get(key)
        if path is None:
            out.quarantined.append(Quarantined(key, "missing_file", "train.csv row"))
            continue
        cancer = row["cancer"].removesuffix(".0")
        out.records.append(
            SourceRecord(
                file=path,
                rel=key,
                patient=row["patient_id"],
                source_label=cancer or None,
                view=normalise_view(row["view"]),
                laterality=normalise_laterality(row["laterality"]),
            )
        )
    for key in sorted(set(on_disk) - listed):
        out.quarantined.append(Quarantined(key, "not_in_csv"))
    return out
