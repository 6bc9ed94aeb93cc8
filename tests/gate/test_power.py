"""Gate power on tiny sets: planted known-bad sets fail the gate naming the gate, known-good pass.

The full table (real phantom images, five seeds) is benchmarks/gate_power.py; these are its
fast cases, on the tiny breast-like manifest of tests/conftest.py (class 1 carries a
bright blob, so a classifier can tell the classes apart).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from factory.errors import FactoryError
from factory.gate import planted

from .conftest import CLASSES, make_tiny_manifest


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> planted.RealSets:
    root = tmp_path_factory.mktemp("power")
    make_tiny_manifest(root / "ingest", patients=60, size=32, seed=3)
    return planted.load_real(root / "ingest", CLASSES)


def test_load_real_splits(real: planted.RealSets) -> None:
    assert real.train.dtype == np.float32 and real.train.shape[1:] == (32, 32)
    assert real.train.min() >= 0 and real.train.max() <= 1
    assert set(real.val_patients).isdisjoint(real.test_patients)
    assert len(real.train_ids) == len(real.train) == len(real.train_labels)


def test_load_real_names_a_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(FactoryError, match=r"manifest\.parquet: no manifest"):
        planted.load_real(tmp_path, CLASSES)


def test_heldout_is_a_patient_resplit(real: planted.RealSets) -> None:
    a, b = planted.heldout(real, 0), planted.heldout(real, 1)
    assert a.kind == planted.GOOD
    pooled = np.concatenate([real.val, real.test])
    assert len(a.images) + len(a.val) == len(pooled)
    # no image on both sides, every image from val or test, and never a training image
    flat = {im.tobytes() for im in pooled}
    assert {im.tobytes() for im in a.images} <= flat and {im.tobytes() for im in a.val} <= flat
    assert {im.tobytes() for im in a.images}.isdisjoint(im.tobytes() for im in a.val)
    assert {im.tobytes() for im in a.images}.isdisjoint(im.tobytes() for im in real.train)
    for labels in (a.labels, a.val_labels):
        assert np.bincount(labels, minlength=2).min() >= 6
    assert planted.heldout(real, 0).images.tobytes() == a.images.tobytes()  # seeded
    assert a.images.tobytes() != b.images.tobytes()  # another seed, another draw


def test_bad_builders_do_what_they_say(real: planted.RealSets) -> None:
    sets = {name: build(real, 0) for name, build in planted.BAD_BUILDERS.items()}
    assert all(s.kind == planted.BAD for s in sets.values())
    train = {im.tobytes() for im in real.train}
    assert all(im.tobytes() in train for im in sets["exact_copies"].images)
    perturbed = sets["perturbed_copies"].images
    assert not any(im.tobytes() in train for im in perturbed)
    blurred = sets["blurred_train"].images
    grad = np.abs(np.diff(blurred, axis=-1)).mean()
    assert grad < 0.5 * np.abs(np.diff(real.train, axis=-1)).mean()
    noisy = sets["noisy_background"].images
    background = real.test <= 1 / 65535
    assert (noisy[background] > 0.02).mean() > 0.5 and np.array_equal(
        noisy[~background], real.test[~background]
    )
    shuffled = sets["shuffled_labels"]
    assert np.array_equal(np.sort(shuffled.labels), np.sort(real.test_labels))
    assert not np.array_equal(shuffled.labels, real.test_labels)
    collapsed = sets["mode_collapse"]
    for c in (0, 1):
        group = collapsed.images[collapsed.labels == c]
        assert np.abs(group - group[0]).max() < 0.1  # one image, small noise
    for s in sets.values():
        assert s.images.dtype == np.float32 and s.images.min() >= 0 and s.images.max() <= 1
        assert len(s.images) == len(s.labels)


# Fast settings (tiny sets, one linear probe, few subsets, no FRD); the thresholds are
# params.yaml's demo gate values for these gates.
FAST = {
    "extractor": "random_cnn",
    "frd": False,
    "kid_subsets": 5,
    "diversity_pairs": 10,
    "reference_subsets": 2,
    "bootstrap": 50,
    "detectability": ("features",),
    "min_reference_images": 10,
}


def _config(**gates):
    from factory.gate.config import GateConfig

    return GateConfig(**{**FAST, **gates})


GATED = {
    "max_memorized_fraction": 0.05,
    "max_rejected_fraction": 0.5,
    "max_detectability_auc": 0.8,
    "min_class_fidelity": 0.6,
    "min_coverage_ratio": 0.5,
}


def _judge(real: planted.RealSets, set_: planted.Planted, **gates):
    from factory.gate.assess import assess

    result = assess(planted.gate_inputs(real, set_), _config(**gates), seed=set_.seed)
    failed = {c.gate for c in result.checks if c.gated and not c.passed}
    return result, failed


@pytest.mark.slow
def test_known_good_heldout_passes_every_gate(real: planted.RealSets) -> None:
    result, failed = _judge(real, planted.heldout(real, 0), **GATED)
    assert result.passed, failed
    gated = {c.gate for c in result.checks if c.gated}
    assert gated == set(GATED)  # every gate above was applied, none silently skipped


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "gate"),
    [
        ("exact_copies", "max_memorized_fraction"),
        ("shuffled_labels", "min_class_fidelity"),
        ("noisy_background", "max_detectability_auc"),
    ],
)
def test_known_bad_fails_naming_its_gate(real: planted.RealSets, name: str, gate: str) -> None:
    bad = planted.BAD_BUILDERS[name](real, 0)
    result, failed = _judge(real, bad, **GATED)
    assert not result.passed
    assert gate in failed, f"{name} failed {failed}, not {gate}"


@pytest.mark.slow
def test_ungated_known_bad_passes(real: planted.RealSets) -> None:
    """With every threshold null nothing fails: the verdicts above come from the gates."""
    result, _ = _judge(
        real, planted.BAD_BUILDERS["shuffled_labels"](real, 0), **dict.fromkeys(GATED)
    )
    assert result.passed and not any(c.gated for c in result.checks)
