"""Contract 3: ingest records the data set's identity and terms apart from the adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory.errors import FactoryError
from factory.ingest import ingest
from factory.ingest.sources import ADAPTERS
from factory.ingest.sources.terms import (
    PHANTOM_MARKER,
    adapter_terms,
    read_source_record,
    source_record,
)
from factory.phantom import write_layout

EXPECTED_REDISTRIBUTION = {
    "inbreast": False,
    "rsna": False,
    "cbis-ddsm": True,
    "vindr": False,
    "mias": False,
    "folder": False,
}


def test_every_adapter_declares_terms() -> None:
    assert set(ADAPTERS) == set(EXPECTED_REDISTRIBUTION)
    for kind, allowed in EXPECTED_REDISTRIBUTION.items():
        terms = adapter_terms(kind)
        assert terms is not None, kind
        assert terms.redistribution is allowed, kind
        assert terms.license and terms.license_name, kind
        if kind != "folder":
            assert terms.url.startswith("http") and terms.citation, kind
    assert adapter_terms("cbis-ddsm").license == "cc-by-3.0"


def test_ingest_of_real_layout_records_the_adapters_data_set(
    tmp_path: Path, inbreast_dir, common, config, kit
) -> None:
    out = tmp_path / "out"
    ingest(inbreast_dir, out, common=common, config=config, key=kit.KEY, progress=False)
    record = read_source_record(out / "source.json")
    assert record["adapter"] == "inbreast"
    assert record["dataset"] == {
        "id": "inbreast",
        "name": "INbreast",
        "synthetic": False,
        "marker": None,
    }
    assert record["terms"]["redistribution"] is False
    assert "Moreira" in record["terms"]["citation"]


def test_ingest_of_the_phantom_records_the_phantom(tmp_path: Path, common, config, kit) -> None:
    phantom = write_layout(
        "inbreast", tmp_path / "phantom", patients=20, seed=0, height=96, progress=False
    )
    assert (phantom / PHANTOM_MARKER).exists()
    out = tmp_path / "out"
    ingest(phantom, out, common=common, config=config, key=kit.KEY, progress=False)
    record = read_source_record(out / "source.json")
    assert record["adapter"] == "inbreast"
    assert record["dataset"]["id"] == "factory-phantom"
    assert record["dataset"]["name"] == "embedded phantom (synthetic, INbreast layout)"
    assert record["dataset"]["synthetic"] is True
    assert record["dataset"]["marker"].endswith(PHANTOM_MARKER)
    assert record["terms"]["license"] == "apache-2.0"
    assert record["terms"]["redistribution"] is True


def test_folder_terms_are_unknown_unless_declared(tmp_path: Path, kit) -> None:
    root = kit.write_folder(tmp_path / "export")
    assert source_record("folder", root)["terms"]["redistribution"] is False
    (root / "terms.yaml").write_text(
        "name: Our hospital export\nlicense: cc-by-4.0\nlicense_name: CC BY 4.0\n"
        "url: https://example.org/terms\nredistribution: true\ncitation: Us, 2026.\n"
    )
    record = source_record("folder", root)
    assert record["dataset"]["name"] == "Our hospital export"
    assert record["terms"]["redistribution"] is True
    (root / "terms.yaml").write_text("name: x\nlicense: other\nredistribution: maybe\n")
    with pytest.raises(FactoryError, match=r"terms.yaml: terms lack \['license_name'"):
        source_record("folder", root)


def test_missing_terms_name_the_adapter(tmp_path: Path, monkeypatch, inbreast_dir) -> None:
    from factory.ingest.sources import rsna

    monkeypatch.delattr(rsna, "TERMS")
    record = source_record("rsna", inbreast_dir)
    assert record["terms"] is None
    path = tmp_path / "source.json"
    path.write_text(json.dumps(record))
    with pytest.raises(FactoryError, match=r"adapter 'rsna' declares no terms.*sources/rsna.py"):
        read_source_record(path)


def test_bad_records_and_markers_are_errors(tmp_path: Path, inbreast_dir) -> None:
    with pytest.raises(FactoryError, match=r"source.json: missing.*dvc repro ingest"):
        read_source_record(tmp_path / "source.json")
    (tmp_path / "source.json").write_text("{")
    with pytest.raises(FactoryError, match="not valid JSON"):
        read_source_record(tmp_path / "source.json")
    (inbreast_dir / PHANTOM_MARKER).write_text(json.dumps({"dataset": "someone-else"}))
    with pytest.raises(FactoryError, match="not a factory phantom marker"):
        source_record("inbreast", inbreast_dir)
