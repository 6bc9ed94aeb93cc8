"""The leakage guard fires on a planted training patient and on a planted synthetic image."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from factory.benchmark.config import BenchmarkConfig
from factory.benchmark.data import load_pool, pixel_hash
from factory.benchmark.leakage import LeakageError, assert_no_leakage, generator_patients
from factory.benchmark.run import run_benchmark
from factory.config import CommonConfig
from factory.io import png16_bytes, sha256_bytes, sha256_file

CLASSES = ("normal", "abnormal")


def _rows(patients, origins=None, hashes=None) -> pd.DataFrame:
    n = len(patients)
    return pd.DataFrame(
        {
            "image_id": [f"img{i}" for i in range(n)],
            "patient_id": patients,
            "origin": origins or ["real"] * n,
            "pixel_sha256": hashes or [f"h{i}" for i in range(n)],
        }
    )


def test_clean_evaluation_passes() -> None:
    assert_no_leakage(
        _rows(["t1", "t2"]),
        classifier_patients={"a", "b"},
        generator_patients={"a"},
        synthetic_pixel_hashes={"s1"},
    )


def test_fires_on_a_planted_classifier_training_patient() -> None:
    with pytest.raises(LeakageError, match=r"classifier's training data.*t2"):
        assert_no_leakage(
            _rows(["t1", "t2"]),
            classifier_patients={"a", "t2"},
            generator_patients=set(),
            synthetic_pixel_hashes=set(),
        )


def test_fires_on_a_planted_generator_training_patient() -> None:
    with pytest.raises(LeakageError, match="generator's training data"):
        assert_no_leakage(
            _rows(["t1", "t2"]),
            classifier_patients={"a"},
            generator_patients={"t1"},
            synthetic_pixel_hashes=set(),
        )


def test_fires_on_a_synthetic_row_and_on_synthetic_pixels_under_a_real_name() -> None:
    with pytest.raises(LeakageError, match="synthetic"):
        assert_no_leakage(
            _rows(["t1", "t2"], origins=["real", "synthetic"]),
            classifier_patients=set(),
            generator_patients=set(),
            synthetic_pixel_hashes=set(),
        )
    with pytest.raises(LeakageError, match="1 evaluated image"):
        assert_no_leakage(
            _rows(["t1", "t2"], hashes=["h0", "s1"]),
            classifier_patients=set(),
            generator_patients=set(),
            synthetic_pixel_hashes={"s1"},
        )


def _cfg(**kw) -> BenchmarkConfig:
    base = dict(
        backbones=("test_resnet",),
        pretrained=False,
        image_sizes=(32,),
        synthetic_counts=(0, 4),
        seeds=1,
        epochs=1,
        batch_size=8,
        bootstrap=50,
        acceptance={"scenario": 4},
        threads=1,
    )
    return BenchmarkConfig(**(base | kw))


def test_generator_patients_are_the_lineage_manifest_train_split(
    tmp_path, tiny_manifest_maker, synthetic_set
):
    manifest = tiny_manifest_maker(tmp_path / "ingest", patients=20)
    ds = synthetic_set(tmp_path / "syn", manifest_sha256=sha256_file(manifest), per_class=2)
    pool = load_pool(ds, manifest, CLASSES)
    df = pd.read_parquet(manifest)
    assert generator_patients(pool) == set(df.loc[df["split"] == "train", "patient_id"])


def test_a_different_generator_manifest_is_refused(tmp_path, tiny_manifest_maker, synthetic_set):
    manifest = tiny_manifest_maker(tmp_path / "ingest", patients=20)
    ds = synthetic_set(tmp_path / "syn", manifest_sha256="0" * 64, per_class=2)
    with pytest.raises(LeakageError, match="cannot prove the test patients were unseen"):
        run_benchmark(_cfg(), CommonConfig(), ds, manifest, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (ds / "lineage.json").write_text(json.dumps({"schema": "x"}))
    with pytest.raises(LeakageError, match="records no training-manifest sha256"):
        run_benchmark(_cfg(), CommonConfig(), ds, manifest, tmp_path / "out")


def test_stage_fails_on_a_synthetic_image_planted_in_the_test_split(
    tmp_path, tiny_manifest_maker, synthetic_set
):
    manifest = tiny_manifest_maker(tmp_path / "ingest", patients=20)
    df = pd.read_parquet(manifest)
    # a synthetic picture, copied into the real test split under a real image's name
    planted = (np.random.default_rng(9).uniform(0, 1, (32, 32)) * 65535).astype(np.uint16)
    row = df.index[df["split"] == "test"][0]
    data = png16_bytes(planted)
    (manifest.parent / df.loc[row, "path"]).write_bytes(data)
    df.loc[row, "sha256"] = sha256_bytes(data)
    df.to_parquet(manifest, index=False)
    ds = synthetic_set(
        tmp_path / "syn",
        manifest_sha256=sha256_file(manifest),
        per_class=2,
        extra_images=[(planted, 1)],
    )
    pool = load_pool(ds, manifest, CLASSES)
    assert pixel_hash(planted) in set(
        pool.rows.loc[pool.rows["origin"] == "synthetic", "pixel_sha256"]
    )
    with pytest.raises(LeakageError, match=r"1 evaluated image.*synthetic"):
        run_benchmark(_cfg(), CommonConfig(), ds, manifest, tmp_path / "out")
    assert not (tmp_path / "out").exists()
