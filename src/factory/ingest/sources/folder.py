"""A hospital export or any folder: a CSV `path,label[,patient_id,view,laterality]`.

`path` is relative to the folder; images are PNG, TIFF or DICOM. Without `patient_id`
each image counts as its own patient, which cannot keep one woman's images together:
give patient_id whenever a patient has several images.
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
from factory.ingest.sources.terms import UNKNOWN_FOLDER_TERMS

# A hospital export's terms are its owner's: declared in terms.yaml beside labels.csv
# (factory.ingest.sources.terms.folder_terms), else unknown and not redistributable.
TERMS = UNKNOWN_FOLDER_TERMS

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".dcm", ".dicom")


def scan(root: Path, csv: str | None) -> Scan:
    label_file = root / (csv or "labels.csv")
    table = read_table(label_file, required=("path", "label"))
    on_disk = {rel(p, root): p for p in files_under(root, IMAGE_SUFFIXES)}
    out = Scan()
    listed: set[str] = set()
    for _, row in table.iterrows():
        key = row["path"].replace("\\", "/").removeprefix("./")
        if not key:
            continue
        listed.add(key)
        path = on_disk.get(key)
        if path is None:
            out.quarantined.append(Quarantined(key, "missing_file", f"{label_file.name} row"))
            continue
        out.records.append(
            SourceRecord(
                file=path,
                rel=key,
                patient=row.get("patient_id", "") or f"image:{key}",
                source_label=row["label"] or None,
                view=normalise_view(row.get("view", "")),
                laterality=normalise_laterality(row.get("laterality", "")),
            )
        )
    for key in sorted(set(on_disk) - listed):
        out.quarantined.append(Quarantined(key, "not_in_csv"))
    return out
