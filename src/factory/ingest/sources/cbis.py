"""CBIS-DDSM: the four case-description CSVs + the DICOM tree from TCIA.

`{mass,calc}_case_description_{train,test}_set.csv` have one row per abnormality; their
`image file path` starts with the full-mammogram folder (`Mass-Training_P_00001_LEFT_CC/`)
whose DICOM is found whatever the UID folders and file name below it are (the paths in
the CSVs do not match the downloaded names exactly). An image is MALIGNANT if any of
its rows is; else BENIGN if any row is; else BENIGN_WITHOUT_CALLBACK. Folders named only
as ROI masks or crops are not images to ingest; any other DICOM is `not_in_csv`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from factory.errors import FactoryError
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
    name="CBIS-DDSM",
    license="cc-by-3.0",
    license_name="Creative Commons Attribution 3.0 Unported (TCIA)",
    url="https://www.cancerimagingarchive.net/collection/cbis-ddsm/",
    redistribution=True,
    citation="Lee R.S., Gimenez F., Hoogi A., Miyake K.K., Gorovoy M., Rubin D.L. A curated "
    "mammography data set for use in computer-aided detection and diagnosis research. "
    "Scientific Data 4:170177, 2017. Data: doi:10.7937/K9/TCIA.2016.7O02S9CY.",
    notes="Attribution required: cite the data set and TCIA (Clark et al., J Digit Imaging "
    "26(6), 2013) wherever derived data is shared.",
)

CSV_NAMES = (
    "mass_case_description_train_set.csv",
    "mass_case_description_test_set.csv",
    "calc_case_description_train_set.csv",
    "calc_case_description_test_set.csv",
)
COLUMNS = ("patient_id", "left or right breast", "image view", "pathology", "image file path")
_OTHER_PATHS = ("cropped image file path", "ROI mask file path")
_RANK = {"MALIGNANT": 2, "BENIGN": 1, "BENIGN_WITHOUT_CALLBACK": 0}


def _tables(root: Path) -> pd.DataFrame:
    found = [root / n for n in CSV_NAMES if (root / n).exists()]
    if not found:
        raise FactoryError(
            f"{root}: none of the CBIS-DDSM description CSVs ({', '.join(CSV_NAMES)}); "
            "point --path at the folder holding them and CBIS-DDSM/"
        )
    return pd.concat([read_table(p, required=COLUMNS) for p in found], ignore_index=True)


def _top(path: str) -> str:
    return path.replace("\\", "/").strip().strip("/").split("/")[0]


def image_label(pathologies: list[str]) -> str | None:
    """The image's pathology: the worst of its abnormalities' (None when none given)."""
    known = [p.strip().upper() for p in pathologies if p.strip().upper() in _RANK]
    return max(known, key=_RANK.__getitem__) if known else None


def scan(root: Path, csv: str | None) -> Scan:
    table = _tables(root)
    data = root / "CBIS-DDSM" if (root / "CBIS-DDSM").is_dir() else root
    by_folder: dict[str, list[Path]] = {}
    for p in files_under(data, (".dcm",)):
        by_folder.setdefault(rel(p, data).split("/")[0], []).append(p)
    table = table.assign(folder=table["image file path"].map(_top))
    other = {_top(v) for c in _OTHER_PATHS if c in table.columns for v in table[c] if v}
    out = Scan()
    for folder, rows in table.groupby("folder", sort=True):
        files = by_folder.get(folder, [])
        if len(files) != 1:
            detail = "no DICOM" if not files else f"{len(files)} DICOMs, expected one"
            out.quarantined.append(Quarantined(f"{folder}/", "missing_file", detail))
            continue
        first = rows.iloc[0]
        out.records.append(
            SourceRecord(
                file=files[0],
                rel=rel(files[0], root),
                patient=first["patient_id"],
                source_label=image_label(list(rows["pathology"])),
                view=normalise_view(first["image view"]),
                laterality=normalise_laterality(first["left or right breast"]),
            )
        )
    for folder in sorted(set(by_folder) - set(table["folder"]) - other):
        for p in by_folder[folder]:
            out.quarantined.append(Quarantined(rel(p, root), "not_in_csv"))
    return out
