"""VinDr-Mammo: `breast-level_annotations.csv` + `images/<study_id>/<image_id>.dicom`.

The label is `breast_birads` ('BI-RADS 1'..'BI-RADS 5', stored as '1'..'5'). VinDr has
no patient identifier: one study is one woman's exam, so the study is the patient.
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
    name="VinDr-Mammo",
    license="other",
    license_name="PhysioNet Credentialed Health Data License 1.5.0",
    url="https://physionet.org/content/vindr-mammo/1.0.0/",
    redistribution=False,
    citation="Nguyen H.T., Nguyen H.Q., Pham H.H., et al. VinDr-Mammo: A large-scale "
    "benchmark dataset for computer-aided diagnosis in full-field digital mammography. "
    "Scientific Data 10:277, 2023.",
    notes="Credentialed access: each user signs PhysioNet's data use agreement, which "
    "forbids sharing the data with anyone who has not.",
)

COLUMNS = ("study_id", "image_id", "laterality", "view_position", "breast_birads")


def normalise_birads(value: str) -> str:
    """'BI-RADS 4' -> '4'."""
    return value.upper().replace("BI-RADS", "").strip().lower()


def scan(root: Path, csv: str | None) -> Scan:
    table = read_table(root / "breast-level_annotations.csv", required=COLUMNS)
    on_disk = {rel(p, root): p for p in files_under(root / "images", (".dicom", ".dcm"))}
    out = Scan()
    listed: set[str] = set()
    for _, row in table.iterrows():
        key = f"images/{row['study_id']}/{row['image_id']}.dicom"
        if key not in on_disk and key.removesuffix(".dicom") + ".dcm" in on_disk:
            key = key.removesuffix(".dicom") + ".dcm"
        listed.add(key)
        path = on_disk.get(key)
        if path is None:
            out.quarantined.append(Quarantined(key, "missing_file", "annotations row"))
            continue
        out.records.append(
            SourceRecord(
                file=path,
                rel=key,
                patient=row["study_id"],
                source_label=normalise_birads(row["breast_birads"]) or None,
                view=normalise_view(row["view_position"]),
                laterality=normalise_laterality(row["laterality"]),
            )
        )
    for key in sorted(set(on_disk) - listed):
        out.quarantined.append(Quarantined(key, "not_in_csv"))
    return out
