"""croissant.json: validates with mlcroissant, reads back images and labels, says what is true."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from factory.errors import FactoryError
from factory.package import croissant as cr
from factory.phantom.marker import marker

PHANTOM_RECORD = {
    "schema": "factory.source/1",
    "adapter": "inbreast",
    "dataset": {
        "id": "factory-phantom",
        "name": "embedded phantom (synthetic, INbreast layout)",
        "synthetic": True,
        "marker": "datasets/phantom/FACTORY_PHANTOM.json",
    },
    "terms": marker("inbreast")["terms"],
}


def with_record(lineage: dict, record: dict = PHANTOM_RECORD) -> dict:
    """The packaged lineage with its Contract 3 record (as the package stage records it)."""
    lineage = json.loads(json.dumps(lineage))
    lineage["source"]["record"] = record
    return lineage


def mlcroissant_validate(path: Path) -> subprocess.CompletedProcess:
    """The `mlcroissant validate` command line, as a user runs it."""
    exe = Path(sys.executable).with_name("mlcroissant")
    return subprocess.run(
        [str(exe), "validate", "--jsonld", str(path)], capture_output=True, text=True
    )


def test_croissant_validates_and_reads_back(packaged, upstream):
    out, lineage = packaged
    path = cr.write_croissant(out, with_record(lineage))
    run = mlcroissant_validate(path)
    assert run.returncode == 0, run.stdout + run.stderr
    import mlcroissant as mlc

    records = list(mlc.Dataset(jsonld=str(path)).records(record_set=cr.RECORD_SET))
    assert len(records) == lineage["set"]["rows"] > 0
    classes = lineage["set"]["classes"]
    labels = [classes[int(r[f"{cr.RECORD_SET}/label"])] for r in records]
    assert {c: labels.count(c) for c in classes} == lineage["set"]["per_class"]
    images = upstream.images
    for r in records:
        image_id = r[f"{cr.RECORD_SET}/image_id"].decode()
        np.testing.assert_array_equal(np.asarray(r[f"{cr.RECORD_SET}/image"]), images[image_id])


def test_rai_and_prov_fields_come_from_the_record(packaged):
    """The real upstream ran on the phantom: ingest recorded it, package kept the record."""
    out, lineage = packaged
    assert lineage["source"]["record"]["dataset"] == PHANTOM_RECORD["dataset"] | {
        "marker": lineage["source"]["record"]["dataset"]["marker"]
    }
    doc = json.loads(cr.write_croissant(out, lineage).read_text())
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    assert doc["rai:hasSyntheticData"] is True
    assert doc["rai:personalSensitiveInformation"] == cr.PERSONAL_INFORMATION
    assert lineage["model"]["model_hash"] in doc["rai:dataCollection"]
    assert "embedded phantom (synthetic, INbreast layout)" in doc["rai:dataCollection"]
    assert any("procedural phantom" in s for s in doc["rai:dataLimitations"])
    derived = doc["prov:wasDerivedFrom"]
    assert derived["identifier"] == "factory-phantom" and derived["license"] == "apache-2.0"
    assert doc["prov:wasGeneratedBy"]["prov:used"]["sc:sha256"] == lineage["model"]["model_hash"]
    assert lineage["sampler"]["schedulers"][0] in doc["prov:wasGeneratedBy"]["sc:description"]
    protocol = doc["rai:dataPreprocessingProtocol"]
    assert any("benchmark not run" in line for line in protocol)


def test_a_real_source_changes_what_croissant_says(packaged):
    from factory.ingest.sources.terms import adapter_terms

    _out, lineage = packaged
    terms = adapter_terms("cbis-ddsm").as_dict()
    record = {
        "adapter": "cbis-ddsm",
        "dataset": {"id": "cbis-ddsm", "name": "CBIS-DDSM", "synthetic": False, "marker": None},
        "terms": terms,
    }
    doc = cr.build_croissant(with_record(lineage, record), {"accepted": False, "reasons": ["x"]})
    assert doc["prov:wasDerivedFrom"]["license"] == "cc-by-3.0"
    assert doc["citeAs"].startswith("Lee R.S.")
    assert "(real images)" in doc["rai:dataCollection"]
    assert not any("procedural phantom" in s for s in doc["rai:dataLimitations"])
    assert any("rejected" in line for line in doc["rai:dataPreprocessingProtocol"])


def test_missing_record_or_invalid_file_is_refused(packaged, monkeypatch):
    out, lineage = packaged
    unrecorded = json.loads(json.dumps(lineage))
    unrecorded["source"].pop("record", None)
    with pytest.raises(FactoryError, match=r"no source.record with terms.*dvc repro ingest"):
        cr.write_croissant(out, unrecorded)
    good = cr.build_croissant(with_record(lineage))
    broken = {**good, "recordSet": [{**good["recordSet"][0], "field": [{"@type": "cr:Field"}]}]}
    shipped = out / cr.CROISSANT_FILE
    before = shipped.read_bytes() if shipped.exists() else None  # the package stage's
    monkeypatch.setattr(cr, "build_croissant", lambda *a, **k: broken)
    with pytest.raises(FactoryError, match="Croissant validation failed"):
        cr.write_croissant(out, with_record(lineage))
    assert (shipped.read_bytes() if shipped.exists() else None) == before
    assert not list(out.glob(".croissant*"))
