"""One adapter per dataset layout: a folder as users download it -> a `Scan`.

Adapters only list files and read label files (cheap, in the main process); decoding is
the pipeline's job. Each raises FactoryError when the folder is not the layout at all,
and quarantines single rows or files that do not fit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from factory.ingest.records import Scan
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
    scan.quarantined.sort(key=lambda q: (q.file, q.reason))
    return scan
