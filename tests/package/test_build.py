"""package: accepted samples -> a loadable, deterministic, traceable Hub-layout set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from huggingface_hub import DatasetCard
from package_fakes import SECRET_SOURCE_FILE, make_upstream, package

import datasets
from factory.errors import FactoryError, GateFailed
from factory.manifest import read_manifest
from factory.package.card import gate_rows
from factory.package.dataset import read_rows
from factory.package.lineage import NotASetError, read_lineage


def test_load_dataset_round_trip(packaged, upstream):
    out, lineage = packaged
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(out.parent / ".hfcache"))
    assert isinstance(ds.features["image"], datasets.Image)
    assert ds.features["label"].names == ["normal", "abnormal"]
    for column in (
        "seed",
        "scheduler",
        "steps",
        "guidance",
        "model_hash",
        "nearest_real_ncc",
        "nearest_real_feature_distance",
        "image_sha256",
    ):
        assert column in ds.features
    assert len(ds) == 6 == lineage["set"]["rows"]
    assert sorted(ds["label"]) == [0, 0, 0, 1, 1, 1]
    assert ds["image_id"] == sorted(ds["image_id"])  # deterministic order
    for row in ds:
        image = row["image"]
        assert image.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(image), upstream.images[row["image_id"]])


def test_shards_are_deterministic_and_split(upstream, params, tmp_path):
    a = package(upstream, params, tmp_path / "a")
    b = package(upstream, params, tmp_path / "b")
    assert [s["sha256"] for s in a["shards"]] == [s["sha256"] for s in b["shards"]]
    small = params.model_copy(
        update={
            "sections": {
                **params.sections,
                "package": params.package.model_copy(update={"rows_per_shard": 4}),
            }
        }
    )
    c = package(upstream, small, tmp_path / "c")
    assert [s["path"] for s in c["shards"]] == [
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    ]
    assert [s["rows"] for s in c["shards"]] == [3, 3]  # balanced, at most rows_per_shard


def test_card_metadata_and_gate_table(packaged):
    out, _ = packaged
    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["task_categories"] == ["image-classification"]
    assert set(meta["tags"]) == {"synthetic", "medical", "mammography"}
    assert meta["annotations_creators"] == ["machine-generated"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["license"] == "other" and meta["pretty_name"]
    assert meta["source_datasets"] == ["extended|tiny"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    info = meta["dataset_info"]
    assert [f["name"] for f in info["features"]][:3] == ["image", "label", "image_id"]
    assert info["splits"][0]["num_examples"] == 6 and info["splits"][0]["num_bytes"] > 0
    text = card.text
    assert "| frd | 12.5 | <= 40 | yes |" in text
    assert "| coverage | 0.71 | >= 0.5 | yes |" in text
    assert "| fid | 80 |  |  |" in text  # reported, not gated
    assert "| ncc | 0.93 | val-train | 1 | 12 |" in text  # calibrated copy threshold
    assert "Pending" in text  # benchmark runs after package
    for cited in ("Sutjiadi", "Prodan", "Konz", "Naeem"):
        assert cited in text
    yaml.safe_load(card.content.split("---")[1])


def test_gate_rows_of_other_layouts():
    checks = {
        "passed": True,
        "checks": [{"name": "fid", "value": 3.0, "threshold": 9.0, "passed": True}],
    }
    assert gate_rows(checks) == [("fid", 3.0, 9.0, True)]
    flat = {"passed": True, "fid": 3.0, "thresholds": {"fid": 9.0}, "note": "text"}
    assert gate_rows(flat) == [("fid", 3.0, 9.0, None)]


def test_lineage_links_and_no_source_identifiers(packaged, tiny_manifest):
    out, lineage = packaged
    assert read_lineage(out) == lineage
    assert lineage["model"]["model_hash"] == "a" * 64
    assert lineage["model"]["train_steps"] == 120
    assert lineage["source"]["manifest_sha256"] == lineage["model"]["manifest_sha256"]
    real = read_manifest(tiny_manifest)
    train = real[real["split"] == "train"]
    assert lineage["source"]["splits"]["train"]["patients"] == train["patient_id"].nunique()
    assert lineage["source"]["splits"]["train"]["source_sha256"] == sorted(train["source_sha256"])
    assert set(lineage["dvc_lock"]["stages"]) == {"ingest", "train", "sample", "gate"}
    assert lineage["params"]["package"]["name"] == "phantom-demo"
    assert all(c["ok"] for c in lineage["checks"])
    assert lineage["shards"][0]["sha256"]
    rows = read_rows(out)
    assert "nearest_real_id" not in rows.columns
    text = (out / "lineage.json").read_text() + (out / "README.md").read_text()
    text += rows.to_json()
    for value in [*real["patient_id"], *real["image_id"], *real["path"], SECRET_SOURCE_FILE]:
        assert value not in text


def test_planted_patient_id_upstream_is_refused(upstream, params, tiny_manifest, tmp_path):
    patient = read_manifest(tiny_manifest)["patient_id"].iloc[0]
    path = upstream.inputs.train_dir / "lineage.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "note": f"worst: {patient}"}))
    with pytest.raises(FactoryError, match="patient_id"):
        package(upstream, params, tmp_path / "set")
    assert not (tmp_path / "set").exists()


def test_failed_gate_packages_nothing(tmp_path, tiny_manifest, params):
    failed = make_upstream(tmp_path, tiny_manifest, passed=False)
    with pytest.raises(GateFailed, match="did not pass"):
        package(failed, params, tmp_path / "set")
    assert not (tmp_path / "set").exists()


def test_wrong_classes_are_refused(upstream, tmp_path):
    from factory.config import params_from_dict

    other = params_from_dict({"common": {"classes": ["benign", "malignant"]}})
    with pytest.raises(FactoryError, match=r"common\.classes"):
        package(upstream, other, tmp_path / "set")


def test_sample_changed_after_gate_is_refused(upstream, params, tmp_path):
    first = sorted(upstream.inputs.samples_dir.rglob("*.png"))[0]
    first.write_bytes((sorted(upstream.inputs.samples_dir.rglob("*.png"))[1]).read_bytes())
    with pytest.raises(FactoryError, match="changed after the gate"):
        package(upstream, params, tmp_path / "set")


def test_not_a_set(tmp_path):
    with pytest.raises(NotASetError, match="not a packaged set"):
        read_lineage(tmp_path)
