"""One adapter per dataset layout: a folder as users download it -> a `Scan`.

Adapters only list files and read label files (cheap, in the main process); decoding is
the pipeline's job. Each raises FactoryError when the folder is not the layout at all,
and quarantines single rows or files that do not fit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from factory.ingest.records import Quarantined, Scan, SourceRecord
from factory.ingest.sources import cbis, folder, inbreast, mias, rsna, vindr

Adapter = Callable[[Path, str | None], Scan]

ADAPTERS: dict[str, Adapter] = {
    "inbreast": inbreast.scan,
    "rsna": rsna.scan,
    "cbis-ddsm": cbis.scan,
    "vindr": vindr.scan,
    "mias": mias.scan,
    "folder": folder.scan,
}


def scan_source(kind: str, root: Path, csv: str | None = None) -> Scan:
    """List the images of dataset `kind` under `root`, sorted by relative path."""
    from factory.errors import FactoryError

    if not root.is_dir():
        raise FactoryError(f"{root}: no such dataset folder (check --path / the stage's --path)")
    scan = ADAPTERS[kind](root, csv)
    scan.records.sort(key=lambda r: r.rel)
    scan = merge_repeats(scan)
    scan.quarantined.sort(key=lambda q: (q.file, q.reason))
    return scan


def merge_repeats(scan: Scan) -> Scan:
    """One record per file. A file listed twice with the same label is ingested once (the
    repeat is reported as `duplicate`); with different labels it is quarantined as
    `conflicting_labels`, naming every row, since no rule can say which label is true."""
    by_file: dict[str, list[SourceRecord]] = {}
    for record in scan.records:
        by_file.setdefault(record.rel, []).append(record)
    out = Scan(quarantined=list(scan.quarantined))
    for rel, group in by_file.items():
        first = group[0]
        if len(group) == 1:
            out.records.append(first)
            continue
        rows = [r.listing or "a listing row" for r in group]
        labels = {r.source_label for r in group}
        if len(labels) > 1:
            said = ", ".join(
                f"{w} says {r.source_label!r}" for w, r in zip(rows, group, strict=True)
            )
            out.quarantined.append(
                Quarantined(
                    rel,
                    "conflicting_labels",
                    f"{said}: keep one row per file in the label file",
                )
            )
            continue
        out.records.append(first)
        out.quarantined.append(
            Quarantined(
                rel,
                "duplicate",
                f"listed again in {', '.join(rows[1:])} (same label as {rows[0]}): ingested once",
            )
        )
    return out
