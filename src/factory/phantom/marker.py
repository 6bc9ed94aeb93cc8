"""FACTORY_PHANTOM.json: the phantom says what it is, so that ingest records the truth.

The phantom is written in a public data set's layout (INbreast for the demo) and read by
that data set's adapter; without this marker the lineage would name the adapter
(INbreast) as the source. Ingest reads the marker (`factory.ingest.sources.terms.
read_marker`, Contract 3) and records the phantom's own identity and terms. The file
format is the contract: this module imports nothing from ingest, so the phantom stage's
code does not depend on the ingest code.
"""

from __future__ import annotations

from typing import Any

MARKER_FILE = "FACTORY_PHANTOM.json"
DATASET_ID = "factory-phantom"

LAYOUT_NAMES = {
    "inbreast": "INbreast",
    "rsna": "RSNA",
    "cbis-ddsm": "CBIS-DDSM",
    "vindr": "VinDr-Mammo",
    "mias": "mini-MIAS",
    "folder": "folder",
}

# The phantom counts as a source: the project's own licence, redistributable.
TERMS = {
    "name": "factory embedded phantom",
    "license": "apache-2.0",
    "license_name": "Apache License 2.0 (the factory project's licence)",
    "url": "https://www.apache.org/licenses/LICENSE-2.0",
    "redistribution": True,
    "citation": "Synthetic images written by the factory project's phantom stage "
    "(factory.phantom); no real patient data.",
    "notes": "Synthetic from the start: procedurally drawn breasts in a public data set's "
    "file layout. Nothing in it comes from a real person.",
}


def marker(layout: str) -> dict[str, Any]:
    """The marker's content for a phantom set written in `layout`."""
    return {
        "dataset": DATASET_ID,
        "name": f"embedded phantom (synthetic, {LAYOUT_NAMES.get(layout, layout)} layout)",
        "layout": layout,
        "synthetic": True,
        "written_by": "factory.phantom",
        "terms": dict(TERMS),
    }
