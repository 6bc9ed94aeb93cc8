"""Scenario compositions, protocol splits and the bad-input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.benchmark import scenarios as sc
from factory.benchmark.config import BenchmarkConfig
from factory.benchmark.data import load_pool, load_synthetic
from factory.config import ConfigError
from factory.errors import FactoryError
from factory.io import sha256_file
from factory.params import validate_section

CLASSES = ("normal", "abnormal")


@pytest.fixture
def pool(tmp_path, tiny_manifest_maker, synthetic_set):
    manifest = tiny_manifest_maker(tmp_path / "ingest", patients=20)
    ds = synthetic_set(tmp_path / "syn", manifest_sha256=sha256_file(manifest), per_class=6)
    return load_pool(ds, manifest, CLASSES)


def test_scenarios_baseline_first_and_synthetic_only_on_heldout() -> None:
    cfg = BenchmarkConfig(synthetic_counts=(250, 0, 100, 500))
    got = [(s.name, s.synthetic, s.real) for s in sc.scenarios(cfg)]
    assert got == [
        ("real+0", 0, True),
        ("real+100", 100, True),
        ("real+250", 250, True),
        ("real+500", 500, True),
        ("synthetic-only", 500, False),
    ]
    other = BenchmarkConfig(protocol="sutjiadi2025", acceptance={"scenario": 500})
    assert "synthetic-only" not in [s.name for s in sc.scenarios(other)]


def test_synthetic_picks_are_balanced_and_nested(pool) -> None:
    order = sc.synthetic_order(pool.rows, 2, seed=0)
    small, large = (sc.pick_synthetic(order, n, CLASSES) for n in (4, 10))
    for picked, n in ((small, 4), (large, 10)):
        rows = pool.rows.loc[picked]
        assert len(picked) == n and (rows["origin"] == "synthetic").all()
        assert rows["y"].value_counts().to_dict() == {0: n // 2, 1: n // 2}
    assert set(small) <= set(large)


def test_more_synthetic_than_exist_and_uneven_counts_are_clear_errors(pool) -> None:
    order = sc.synthetic_order(pool.rows, 2, seed=0)
    with pytest.raises(
        FactoryError, match="asks for 7 synthetic 'normal' images but the set has 6"
    ):
        sc.pick_synthetic(order, 14, CLASSES)
    with pytest.raises(FactoryError, match="cannot be split evenly over 2 classes"):
        sc.pick_synthetic(order, 5, CLASSES)


def test_heldout_composition(pool) -> None:
    rows = pool.rows
    synth = sc.pick_synthetic(sc.synthetic_order(rows, 2, 0), 8, CLASSES)
    (split,) = sc.heldout_splits(rows, synth, use_real=True)
    train, test = rows.loc[split.train], rows.loc[split.evaluate]
    n_real_train = int(((rows["origin"] == "real") & (rows["split"] == "train")).sum())
    assert (train["origin"] == "real").sum() == n_real_train
    assert (train["origin"] == "synthetic").sum() == 8
    assert set(test["split"]) == {"test"} and set(test["origin"]) == {"real"}
    assert set(rows.loc[split.monitor, "split"]) == {"val"}
    (only,) = sc.heldout_splits(rows, synth, use_real=False)
    assert set(rows.loc[only.train, "origin"]) == {"synthetic"}
    assert (only.evaluate == split.evaluate).all()


def test_sutjiadi_split_is_80_20_of_the_combined_set(pool) -> None:
    rows = pool.rows
    synth = sc.pick_synthetic(sc.synthetic_order(rows, 2, 0), 12, CLASSES)
    (split,) = sc.sutjiadi_splits(rows, synth, 0.2, seed=0)
    combined = int((rows["origin"] == "real").sum()) + 12
    assert len(split.train) + len(split.evaluate) == combined
    assert len(split.evaluate) == pytest.approx(0.2 * combined, abs=1)
    assert not set(split.train) & set(split.evaluate)


def test_prodan_folds_are_grouped_by_patient_and_oversample_positives(pool) -> None:
    rows = pool.rows
    synth = sc.pick_synthetic(sc.synthetic_order(rows, 2, 0), 4, CLASSES)
    splits = sc.prodan_splits(rows, synth, folds=5, seed=0)
    evaluated = np.concatenate([s.evaluate for s in splits])
    assert sorted(evaluated) == sorted(rows.index[rows["origin"] == "real"])
    for s in splits:
        assert not set(rows.loc[s.train, "patient_id"]) & set(rows.loc[s.evaluate, "patient_id"])
        assert set(rows.loc[s.evaluate, "origin"]) == {"real"}
    # a fold count the manifest does not have -> StratifiedGroupKFold by patient
    folds = sc.fold_assignment(rows, 3, seed=0)
    real = rows[rows["origin"] == "real"]
    assert (pd.Series(folds).groupby(real["patient_id"].to_numpy()).nunique() == 1).all()
    y = rows["y"].to_numpy()
    idx = np.array([0, 1, 2, 3])
    more = sc.oversample(idx, y, 5)
    assert len(more) == len(idx) + 4 * int((y[idx] == 1).sum())


def test_one_class_split_is_a_clear_error() -> None:
    with pytest.raises(FactoryError, match=r"the test split holds class\(es\) \['abnormal'\] only"):
        sc.require_both_classes(np.array([1, 1]), CLASSES, "the test split")


def test_synthetic_classes_must_match(tmp_path, synthetic_set) -> None:
    ds = synthetic_set(tmp_path / "syn", manifest_sha256=None, classes=("benign", "malignant"))
    with pytest.raises(FactoryError, match=r"synthetic classes \['benign', 'malignant'\] differ"):
        load_synthetic(ds, CLASSES)


def test_synthetic_set_is_read_as_16_bit(tmp_path, synthetic_set) -> None:
    ds = synthetic_set(tmp_path / "syn", manifest_sha256=None, per_class=2)
    rows, images = load_synthetic(ds, CLASSES)
    assert images.dtype == np.uint16 and images.max() > 255
    assert rows["y"].tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"synthetic_counts": [100, 500]}, "must include 0"),
        ({"acceptance": {"scenario": 300}}, "must be a non-zero entry"),
        ({"acceptance": {"scenario": "synthetic-only"}, "synthetic_only": False}, "synthetic_only"),
        ({"protocol": "random"}, "protocol"),
    ],
)
def test_config_errors_are_one_line(raw, message) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_section("benchmark", raw)


def test_synthetic_classes_draws_from_the_named_classes_only(pool) -> None:
    order = sc.synthetic_order(pool.rows, 2, seed=0)
    picked = sc.pick_synthetic(order, 6, CLASSES, only=(CLASSES[1],))
    assert len(picked) == 6
    assert set(pool.rows.loc[picked, "y"]) == {1}
    with pytest.raises(FactoryError, match="synthetic_classes"):
        sc.pick_synthetic(order, 6, CLASSES, only=("nope",))
