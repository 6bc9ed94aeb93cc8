"""docs/publish.md's table of source terms says what the adapters declare."""

from __future__ import annotations

from pathlib import Path

from factory.ingest.sources import ADAPTERS
from factory.ingest.sources.terms import adapter_terms
from factory.phantom.marker import TERMS as PHANTOM_TERMS

DOC = Path(__file__).resolve().parents[2] / "docs" / "publish.md"


def table_rows() -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Source licences", 1)[1].split("###", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] not in ("adapter", "---"):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_docs_table_matches_declared_terms():
    rows = table_rows()
    assert set(rows) == {*ADAPTERS, "phantom (marker)"}
    for kind in ADAPTERS:
        t = adapter_terms(kind)
        assert rows[kind] == [
            t.name,
            f"`{t.license}`",
            t.license_name,
            "yes" if t.redistribution else "**no**",
            t.url or "-",
        ], kind
    p = PHANTOM_TERMS
    assert rows["phantom (marker)"] == [
        p["name"],
        f"`{p['license']}`",
        p["license_name"],
        "yes",
        p["url"],
    ]
