"""The copy search flags planted copies of training images and spares real held-out ones."""

from __future__ import annotations

import numpy as np
import pytest

from factory.errors import FactoryError
from factory.gate import memorization
from factory.gate.assess import GateInputs, assess
from factory.gate.config import GateConfig
from factory.manifest import class_index, load_images, read_manifest

from .conftest import CLASSES, breast_like, make_tiny_manifest


def planted_copies(train: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Four kinds of copies of the same five training images."""
    picks = train[rng.choice(len(train), size=5, replace=False)]
    return {
        "exact": picks,
        "noise 0.02": np.clip(picks + 0.02 * rng.standard_normal(picks.shape), 0, 1),
        "shift 2 px": np.roll(picks, shift=(2, 2), axis=(1, 2)),
        "intensity x0.9": picks * 0.9,
    }


@pytest.fixture(scope="module")
def real_sets(tmp_path_factory) -> dict[str, np.ndarray]:
    root = tmp_path_factory.mktemp("ingest")
    manifest = make_tiny_manifest(root, patients=60, size=32)
    df = read_manifest(manifest)
    out = {}
    for split in ("train", "val", "test"):
        part = df[df["split"] == split]
        out[split] = (load_images(part, root) / 65535).astype(np.float32)
        out[f"{split}_labels"] = class_index(part["label"], CLASSES)
    out["train_ids"] = df.loc[df["split"] == "train", "image_id"].to_numpy()
    return out


@pytest.mark.slow
def test_every_planted_copy_is_flagged_and_few_held_out_images_are(real_sets) -> None:
    rng = np.random.default_rng(11)
    copies = planted_copies(real_sets["train"], rng)
    # Real held-out images the generator never saw: the test split and fresh draws.
    held_out = np.concatenate(
        [real_sets["test"], breast_like(100, 0, 32, rng), breast_like(100, 1, 32, rng)]
    )
    fake = np.concatenate([*copies.values(), held_out]).astype(np.float32)
    labels = np.concatenate(
        [np.arange(20) % 2, real_sets["test_labels"], np.zeros(100, int), np.ones(100, int)]
    )
    inputs = GateInputs(
        classes=CLASSES,
        fake=fake,
        fake_labels=labels,
        train=real_sets["train"],
        train_labels=real_sets["train_labels"],
        train_ids=real_sets["train_ids"],
        val=real_sets["val"],
        val_labels=real_sets["val_labels"],
    )
    config = GateConfig(
        extractor="random_cnn", frd=False, kid_subsets=10, detectability=(), class_fidelity=False
    )
    result = assess(inputs, config)
    flags = result.per_image["memorized"].to_numpy()
    for i, kind in enumerate(copies):
        assert flags[5 * i : 5 * i + 5].all(), f"a planted copy ({kind}) was not flagged"
    false_positive = flags[20:].mean()
    assert false_positive <= 0.05, f"{false_positive:.1%} of real held-out images flagged"
    assert not result.per_image["accepted"][:20].any()  # copies leave the accepted set


def test_nearest_ncc_is_scale_invariant_and_finds_shifted_copies() -> None:
    rng = np.random.default_rng(0)
    train = rng.random((6, 24, 24)).astype(np.float32)
    queries = np.stack([train[3] * 0.5, np.roll(train[1], (-2, 1), axis=(0, 1)), train[4] + 0.3])
    ncc, idx = memorization.nearest_ncc(queries, train, max_shift=2)
    assert idx.tolist() == [3, 1, 4]
    assert np.allclose(ncc, 1.0, atol=1e-5)
    ncc0, _ = memorization.nearest_ncc(queries[1:2], train, max_shift=0)
    assert ncc0[0] < 0.5  # without the shift search the shifted copy hides


def test_constant_images_have_zero_ncc_not_nan() -> None:
    ncc, _ = memorization.nearest_ncc(np.zeros((2, 16, 16)), np.ones((3, 16, 16)), 1)
    assert np.isfinite(ncc).all()


def test_calibration_uses_the_empirical_percentile_when_it_is_resolved() -> None:
    d = np.linspace(0.1, 1.0, 200)
    t = memorization.calibrate(d, 1.0)
    assert t.method == "empirical" and t.value == pytest.approx(np.percentile(d, 1))


def test_calibration_on_few_images_fits_a_tail_below_the_empirical_value() -> None:
    d = np.random.default_rng(0).normal(0.15, 0.01, size=12)
    t = memorization.calibrate(d, 1.0)
    assert t.method == "weibull fit"
    assert t.value <= np.percentile(d, 1)
    assert t.value > 0.05  # not absurdly far below the data


def test_calibration_threshold_stays_positive_on_spread_out_distances() -> None:
    """Phantom-like spread (mean 0.05, sd 0.018): a normal or Gumbel tail goes below 0."""
    d = np.abs(np.random.default_rng(1).normal(0.053, 0.018, size=27))
    t = memorization.calibrate(d, 1.0)
    assert 1e-4 < t.value <= np.percentile(d, 1)


def test_calibration_needs_enough_val_images() -> None:
    with pytest.raises(FactoryError, match="needs at least 5 real val images, got 3"):
        memorization.calibrate(np.array([0.1, 0.2, 0.3]), 1.0)


def test_too_few_val_images_fail_before_any_feature_is_computed(real_sets) -> None:
    inputs = GateInputs(
        classes=CLASSES,
        fake=real_sets["test"],
        fake_labels=real_sets["test_labels"],
        train=real_sets["train"],
        train_labels=real_sets["train_labels"],
        train_ids=real_sets["train_ids"],
        val=real_sets["val"][:3],
        val_labels=real_sets["val_labels"][:3],
    )
    with pytest.raises(FactoryError, match="needs at least 5 real val images, got 3"):
        assess(inputs, GateConfig(extractor="inception", weights_path="/no/such/file"))
