"""mini-MIAS: `mdb001.pgm`..`mdb322.pgm` + `Info.txt`.

Info.txt has no header: `REFNUM BG CLASS SEVERITY X Y RADIUS`, space-separated, with
rows lacking coordinates, trailing spaces or free text (`*NOTE 3*`) and several rows for
images with several findings. The source label is M if any row is malignant, else B if
any is benign, else NORM. Images come in left/right pairs of one woman (mdb001/mdb002,
...), so a pair is one patient. Laterality is not in the data: the pipeline infers it
from the side of the chest wall.
"""

from __future__ import annotations

import re
from pathlib import Path

from factory.errors import FactoryError
from factory.ingest.records import Quarantined, Scan, SourceRecord
from factory.ingest.sources.tables import files_under, rel
from factory.ingest.sources.terms import Terms

TERMS = Terms(
    name="mini-MIAS",
    license="other",
    license_name="MIAS terms: scientific research only, not for sale",
    url="http://peipa.essex.ac.uk/info/mias.html",
    redistribution=False,
    citation="Suckling J., et al. The Mammographic Image Analysis Society Digital Mammogram "
    "Database. Exerpta Medica, International Congress Series 1069:375-378, 1994.",
    notes="Research use only and no sale: an open public release cannot keep either "
    "condition, so derived data is treated as not redistributable.",
)

_REF = re.compile(r"^mdb(\d{3})$")


def parse_info(text: str) -> dict[str, list[str]]:
    """REFNUM -> the SEVERITY of each row ('NORM' rows give 'NORM')."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) < 3 or not _REF.match(tokens[0]):
            continue
        ref, cls = tokens[0], tokens[2].upper()
        if cls == "NORM":
            severity = "NORM"
        elif len(tokens) >= 4 and tokens[3].upper() in ("B", "M"):
            severity = tokens[3].upper()
        else:
            severity = ""
        rows.setdefault(ref, []).append(severity)
    return rows


def image_label(severities: list[str]) -> str | None:
    for level in ("M", "B", "NORM"):
        if level in severities:
            return level
    return None


def scan(root: Path, csv: str | None) -> Scan:
    info = root / "Info.txt"
    if not info.exists():
        raise FactoryError(f"{root}: no Info.txt; point --path at the mini-MIAS folder")
    rows = parse_info(info.read_text(encoding="latin-1"))
    on_disk = {p.stem: p for p in files_under(root, (".pgm",)) if _REF.match(p.stem)}
    out = Scan()
    for ref, path in sorted(on_disk.items()):
        if ref not in rows:
            out.quarantined.append(Quarantined(rel(path, root), "not_in_csv", "not in Info.txt"))
            continue
        number = int(ref[3:])
        out.records.append(
            SourceRecord(
                file=path,
                rel=rel(path, root),
                patient=f"pair-{(number + 1) // 2:03d}",
                source_label=image_label(rows[ref]),
                view="MLO",  # every mini-MIAS image is a medio-lateral oblique view
            )
        )
    for ref in sorted(set(rows) - set(on_disk)):
        out.quarantined.append(Quarantined(f"{ref}.pgm", "missing_file", "Info.txt row"))
    return out
