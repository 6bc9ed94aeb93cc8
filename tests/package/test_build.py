"""package: the real gate's accepted samples -> a loadable, deterministic, traceable set."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from huggingface_hub import DatasetCard
from upstream import copy_outputs, gate_has_record_mode, package

import datasets
from factory.errors import FactoryError, GateFailed
from factory.gate.gates import load_checks
from factory.manifest import read_manifest
from factory.package.dataset import read_rows
from factory.package.lineage import NOT_FOR_PUBLICATION, NotASetError, read_lineage

PHANTOM = "embedded phantom (synthetic, INbreast layout)"


def accepted_rows(upstream) -> pd.DataFrame:
    return pd.read_parquet(upstream.inputs().gate_dir / "accepted.parquet")


def test_load_dataset_round_trip(packaged, upstream):
    out, lineage = packaged
    accepted = accepted_rows(upstream)
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(out.parent / ".hfcache"))
    assert isinstance(ds.features["image"], datasets.Image)
    assert ds.features["label"].names == ["normal", "abnormal"]
    assert len(ds) == len(accepted) == lineage["set"]["rows"]
    assert ds["image_id"] == sorted(accepted["image_id"])  # deterministic order
    by_id = accepted.set_index("image_id")
    samples = upstream.inputs().samples_dir
    for row in ds.select(range(3)):
        assert row["image"].mode == "I;16"
        written = (samples / by_id.loc[row["image_id"], "path"]).read_bytes()
        raw = ds.with_format("arrow")[ds["image_id"].index(row["image_id"])]["image"]
        assert raw[0].as_py()["bytes"] == written  # the sampler's PNG bytes, verbatim
        assert row["seed"] == by_id.loc[row["image_id"], "seed"]


def test_shards_are_deterministic_and_split(upstream, params, tmp_path):
    a = package(upstream, params, tmp_path / "a")
    b = package(upstream, params, tmp_path / "b")
    assert [s["sha256"] for s in a["shards"]] == [s["sha256"] for s in b["shards"]]
    rows = a["set"]["rows"]
    c = package(upstream, params, tmp_path / "c", rows_per_shard=rows // 2 + 1)
    assert [s["path"] for s in c["shards"]] == [
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    ]
    assert sum(s["rows"] for s in c["shards"]) == rows


def test_card_metadata_and_gate_rows(packaged, upstream):
    out, lineage = packaged
    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["task_categories"] == ["image-classification"]
    assert set(meta["tags"]) == {"synthetic", "medical", "mammography"}
    assert meta["annotations_creators"] == ["machine-generated"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    info = meta["dataset_info"]
    assert [f["name"] for f in info["features"]][:3] == ["image", "label", "image_id"]
    assert info["splits"][0]["num_examples"] == lineage["set"]["rows"]
    # One table row per gate row, in the gate's words: its verdict, never re-derived.
    metrics = json.loads((upstream.inputs().gate_dir / "metrics.json").read_text())
    checks = load_checks(metrics)
    assert checks and [c.as_dict() for c in checks] == lineage["gate"]["checks"]
    table = [line for line in card.text.splitlines() if line.startswith("| ")]
    for check in checks:
        (row,) = [r for r in table if r.startswith(f"| {check.name} |")]
        verdict = ("PASS" if check.passed else "FAIL") if check.gated else "not gated"
        assert f"| {verdict} |" in row
    assert "**Gate verdict:** passed" in card.text
    assert "**Benchmark verdict:** not run when the set was packaged" in card.text
    yaml.safe_load(card.content.split("---")[1])


def test_demo_card_yaml_and_lineage_name_the_phantom(packaged):
    """Issue 13 §2: the phantom is not INbreast, though the inbreast adapter reads it."""
    out, lineage = packaged
    record = lineage["source"]["record"]
    assert record["adapter"] == "inbreast" and record["dataset"]["id"] == "factory-phantom"
    assert record["dataset"]["name"] == PHANTOM and record["dataset"]["synthetic"] is True
    card = DatasetCard.load(out / "README.md")
    assert card.data.to_dict()["source_datasets"] == ["extended|factory-phantom"]
    assert f"trained on {PHANTOM}" in card.text
    assert "no real patient's image" in card.text
    assert card.data.to_dict()["license"] == record["terms"]["license"]
    for untrue in ("from inbreast", "extended|inbreast", "real mammograms"):
        assert untrue not in (out / "README.md").read_text().lower()


def test_lineage_links_and_no_source_identifiers(packaged, upstream):
    out, lineage = packaged
    inputs = upstream.inputs()
    assert read_lineage(out) == lineage
    meta = json.loads((inputs.train_dir / "model" / "factory_model.json").read_text())
    assert lineage["model"]["model_hash"] == meta["model_hash"]
    assert lineage["source"]["manifest_sha256"] == lineage["model"]["manifest_sha256"]
    real = read_manifest(inputs.manifest)
    train = real[real["split"] == "train"]
    assert lineage["source"]["splits"]["train"]["patients"] == train["patient_id"].nunique()
    assert lineage["source"]["splits"]["train"]["source_sha256"] == sorted(train["source_sha256"])
    assert set(lineage["dvc_lock"]["stages"]) == {"phantom", "ingest", "train", "sample", "gate"}
    assert all(c["ok"] for c in lineage["checks"])
    assert lineage["gate"]["sampled"] == len(
        pd.read_parquet(inputs.samples_dir / "metadata.parquet")
    )
    rows = read_rows(out)
    assert "nearest_real_id" not in rows.columns
    text = (out / "lineage.json").read_text() + (out / "README.md").read_text()
    text += rows.to_json()
    for value in [*real["patient_id"], *real["image_id"], *real["path"]]:
        assert value not in text


def test_planted_patient_id_upstream_is_refused(upstream, params, tmp_path):
    mine = copy_outputs(upstream, tmp_path)
    patient = read_manifest(mine.inputs().manifest)["patient_id"].iloc[0]
    path = mine.inputs().train_dir / "lineage.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "note": f"worst: {patient}"}))
    with pytest.raises(FactoryError, match="patient_id"):
        package(mine, params, tmp_path / "set")
    assert not (tmp_path / "set").exists()


@pytest.mark.skipif(not gate_has_record_mode(), reason="the gate has no record mode")
def test_record_mode_failed_gate_is_packaged_marked_not_for_publication(upstream, params, tmp_path):
    lineage = package(upstream, params, tmp_path / "set", gate="outputs/gate-record")
    assert lineage["gate"]["passed"] is False and lineage["gate"]["mode"] == "record"
    assert lineage["gate"]["verdict"] == NOT_FOR_PUBLICATION
    text = (tmp_path / "set" / "README.md").read_text()
    assert f"> **{NOT_FOR_PUBLICATION}**" in text
    assert f"**Gate verdict:** {NOT_FOR_PUBLICATION}" in text
    assert "| kid | " in text and "| FAIL |" in text
    assert "passed the gate" not in text.replace("passed the gate's per-image checks", "")


@pytest.mark.skipif(not gate_has_record_mode(), reason="the gate has no on_fail setting")
def test_stop_mode_failed_gate_packages_nothing(upstream, params, tmp_path):
    gate = upstream.inputs("outputs/gate-stop").gate_dir
    assert not (gate / "accepted.parquet").exists()  # what a stop-mode failure leaves
    with pytest.raises(GateFailed, match="did not pass"):
        package(upstream, params, tmp_path / "set", gate="outputs/gate-stop")
    assert not (tmp_path / "set").exists()


def test_missing_source_record_is_refused(upstream, params, tmp_path):
    mine = copy_outputs(upstream, tmp_path)
    (mine.inputs().manifest.parent / "source.json").unlink()
    with pytest.raises(FactoryError, match=r"source\.json"):
        package(mine, params, tmp_path / "set")


def test_wrong_classes_are_refused(upstream, tmp_path):
    from factory.params import params_from_dict

    other = params_from_dict({"common": {"classes": ["benign", "malignant"]}})
    with pytest.raises(FactoryError, match=r"common\.classes"):
        package(upstream, other, tmp_path / "set")


def test_sample_changed_after_gate_is_refused(upstream, params, tmp_path):
    mine = copy_outputs(upstream, tmp_path)
    pngs = sorted((mine.inputs().samples_dir / "images").rglob("*.png"))
    pngs[0].write_bytes(pngs[1].read_bytes())
    with pytest.raises(FactoryError, match="changed after the gate"):
        package(mine, params, tmp_path / "set")


def test_not_a_set(tmp_path):
    with pytest.raises(NotASetError, match="not a packaged set"):
        read_lineage(tmp_path)
