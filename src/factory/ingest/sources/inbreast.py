"""INbreast: `AllDICOMs/<FileName>_<patienthash>_MG_<L|R>_<CC|ML>_ANON.dcm` + `INbreast.csv`.

The CSV (`;`-separated, CRLF) names images by `File Name`; its `Patient ID` reads
`removed`, so the patient is the hash in the file name. `INbreast.xls` works too, and so
do PNG conversions of the files (same stems, anywhere under the folder) when there are
no DICOMs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
    name="INbreast",
    license="other",
    license_name="INbreast terms: access by request to the authors; no redistribution",
    url="https://doi.org/10.1016/j.acra.2011.09.014",
    redistribution=False,
    citation="Moreira I.C., Amaral I., Domingues I., Cardoso A., Cardoso M.J., Cardoso J.S. "
    "INbreast: toward a full-field digital mammographic database. Academic Radiology "
    "19(2):236-248, 2012.",
    notes="Granted on request by the INbreast team (Universidade do Porto / INESC TEC) for "
    "research; the data may not be passed on to third parties.",
)

NAME = re.compile(
    r"^(?P<file>\d+)_(?P<patient>[0-9A-Za-z]+)_MG_(?P<side>[LR])_(?P<view>[A-Z]+)_ANON$"
)
COLUMNS = ("Laterality", "View", "File Name", "Bi-Rads")


def find_label_file(root: Path, csv: str | None) -> Path:
    if csv is not None:
        return root / csv
    for name in ("INbreast.csv", "INbreast.xls", "INbreast.xlsx"):
        if (root / name).exists():
            return root / name
    raise FactoryError(
        f"{root}: no INbreast.csv or INbreast.xls here; point --path at the INbreast "
        "release folder (the one holding AllDICOMs/ and INbreast.csv)"
    )


def normalise_birads(value: str) -> str:
    """'4A', '4a ', '2.0' -> '4a', '2'; '' stays ''."""
    text = value.strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    return text


def _image_files(root: Path) -> list[Path]:
    dicoms = [p for p in files_under(root / "AllDICOMs", (".dcm",)) if NAME.match(p.stem)]
    if dicoms:
        return dicoms
    return [p for p in files_under(root, (".png",)) if NAME.match(p.stem)]


def _record(path: Path, root: Path, m: re.Match[str], row: Any, where: str) -> SourceRecord:
    birads = normalise_birads(row["Bi-Rads"])
    return SourceRecord(
        file=path,
        rel=rel(path, root),
        patient=m["patient"],
        source_label=birads or None,
        view=normalise_view(row["View"] or ("MLO" if m["view"] == "ML" else m["view"])),
        laterality=normalise_laterality(row["Laterality"]) or m["side"],
        listing=where,
    )


def scan(root: Path, csv: str | None) -> Scan:
    label_file = find_label_file(root, csv)
    table = read_table(label_file, sep=";", required=COLUMNS)
    table = table[table["File Name"] != ""]
    rows: dict[str, list[tuple[str, Any]]] = {}  # a file listed twice: merge_repeats decides
    for index, row in table.iterrows():
        where = f"{label_file.name} row {int(index) + 2}"  # line 1: the header
        rows.setdefault(row["File Name"].removesuffix(".0"), []).append((where, row))
    out = Scan()
    seen: set[str] = set()
    for path in _image_files(root):
        m = NAME.match(path.stem)
        assert m is not None  # filtered above
        file_name = m["file"]
        if file_name not in rows:
            out.quarantined.append(Quarantined(rel(path, root), "not_in_csv"))
            continue
        seen.add(file_name)
        for where, row in rows[file_name]:
            out.records.append(_record(path, root, m, row, where))
    for file_name in sorted(set(rows) - seen):
        out.quarantined.append(
            Quarantined(f"AllDICOMs/{file_name}_*.dcm", "missing_file", "INbreast.csv row")
        )
    return out
