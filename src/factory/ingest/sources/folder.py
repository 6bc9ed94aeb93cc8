"""A hospital export or any folder: a CSV `path,label[,patient_id,view,laterality]`.

`path` is relative to the folder (an absolute path, or one leading out of it, is
quarantined as `path_outside_folder`: DVC versions the folder, not files elsewhere);
images are PNG, TIFF or DICOM. Without `patient_id`
each image counts as its own patient, which cannot keep one woman's images together:
give patient_id whenever a patient has several images.
"""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath, PureWindowsPath

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


def outside(path: str) -> str | None:
    """Why a listed path is not a path inside the folder ('an absolute path', 'outside
    the folder'), or None when it is one."""
    if PurePosixPath(path).is_absolute() or PureWindowsPath(path).drive:
        return "an absolute path"
    if posixpath.normpath(path).split("/")[0] == "..":
        return "outside the folder"
    return None


def scan(root: Path, csv: str | None) -> Scan:
    label_file = root / (csv or "labels.csv")
    table = read_table(label_file, required=("path", "label"))
    on_disk = {rel(p, root): p for p in files_under(root, IMAGE_SUFFIXES)}
    out = Scan()
    listed: set[str] = set()
    for number, (_, row) in enumerate(table.iterrows(), start=2):  # line 1: the header
        key = row["path"].replace("\\", "/")
        if not key:
            continue
        where = f"{label_file.name} row {number}"
        why = outside(key)
        if why is not None:
            out.quarantined.append(Quarantined(key, "path_outside_folder", _outside(where, why)))
            continue
        key = posixpath.normpath(key)
        listed.add(key)
        path = on_disk.get(key)
        if path is None:
            out.quarantined.append(Quarantined(key, "missing_file", where))
            continue
        out.records.append(
            SourceRecord(
                file=path,
                rel=key,
                patient=row.get("patient_id", "") or f"image:{key}",
                source_label=row["label"] or None,
                view=normalise_view(row.get("view", "")),
                laterality=normalise_laterality(row.get("laterality", "")),
                listing=where,
            )
        )
    for key in sorted(set(on_disk) - listed):
        out.quarantined.append(Quarantined(key, "not_in_csv"))
    return out


def _outside(where: str, why: str) -> str:
    return (
        f"{where}: the path is {why}; paths must be relative to the folder, so that DVC "
        "versions them (the folder is the stage's dependency): move the file into the "
        "folder and give its path from there"
    )
