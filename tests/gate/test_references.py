"""Real-versus-real references, detectability and class fidelity on tiny in-memory sets.

Every new gate has a known-bad input that fails it and a known-good input that passes.
Sets come from `breast_like` (the same recipe as the tiny manifest): a fresh draw is a
known-good "synthetic" set; blurred, label-ignoring or label-flipped draws are known-bad.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from factory.gate import detect, reference
from factory.gate.assess import GateInputs, assess
from factory.gate.config import GateConfig
from factory.gate.features import RandomCNN, extract_features
from factory.gate.fidelity import class_fidelity
from factory.gate.gates import evaluate

from .conftest import CLASSES, breast_like

SIZE = 32
FAST = {
    "extractor": "random_cnn",
    "frd": False,
    "kid_subsets": 10,
    "diversity_pairs": 20,
    "reference_subsets": 4,
    "bootstrap": 100,
}


def draw(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = np.concatenate([breast_like(n_per_class, c, SIZE, rng) for c in (0, 1)])
    return images, np.repeat([0, 1], n_per_class)


def blurred(images: np.ndarray) -> np.ndarray:
    return np.stack([gaussian_filter(i, 2.0) for i in images]).astype(np.float32)


def image_set(images: np.ndarray, labels: np.ndarray) -> reference.ImageSet:
    feats = extract_features(images, RandomCNN(0), 64)
    return reference.ImageSet(images, labels, feats, None)


@pytest.fixture(scope="module")
def real() -> dict[str, reference.ImageSet]:
    train, val = draw(40, 1), draw(12, 2)
    return {"train": image_set(*train), "val": image_set(*val)}


def compare(real, fake, config):
    rng = np.random.default_rng(0)
    train_ms = reference.within_class_ms_ssim(real["train"], config.diversity_pairs, rng)
    whole = reference.set_metrics(real["train"], fake, train_ms, config, 0, rng)
    return reference.compare_scope(
        real["train"], real["val"], fake, "overall", config, 0, train_ms, whole
    )


def test_stratified_subsets_take_the_val_class_counts() -> None:
    labels = np.repeat([0, 1], [30, 10])
    rng = np.random.default_rng(0)
    subsets = reference.stratified_subsets(labels, {0: 5, 1: 3}, 6, rng)
    assert len(subsets) == 6
    for s in subsets:
        assert list(np.bincount(labels[s], minlength=2)) == [5, 3]
    assert len({tuple(s) for s in subsets}) > 1  # random, not the same subset six times
    whole = reference.stratified_subsets(labels, {0: 40, 1: 40}, 6, rng)
    assert len(whole) == 1 and len(whole[0]) == 40  # fewer synthetic than val: all of them


def test_reference_is_real_val_against_train_and_synthetic_is_compared_at_val_size(real):
    config = GateConfig(**FAST, min_reference_images=10)
    good = image_set(*draw(30, 3))
    bad = image_set(blurred(good.images), good.labels)
    fair = compare(real, good, config)
    off = compare(real, bad, config)
    for m in (fair, off):
        assert m["fid"].n_synthetic == m["fid"].n_reference == 24  # val's size
        assert m["fid"].reference == fair["fid"].reference  # the same real-vs-real value
        assert m["fid"].value_sd is not None and m["fid"].value_sd > 0  # 4 random subsets
        assert m["fid"].usable and m["fid"].note == ""
    # the reference itself: val against train, computed by the same function
    rng = np.random.default_rng()
    direct = reference.set_metrics(real["train"], real["val"], None, config, 0, rng)
    assert fair["fid"].reference == pytest.approx(direct["fid"])
    # a fresh draw of the same recipe sits near the real reference; a blurred one far off
    assert fair["fid"].value / fair["fid"].reference < 2.5
    assert off["fid"].value / off["fid"].reference > 5
    assert off["recall"].value < fair["recall"].value
    # MS-SSIM: the whole synthetic set (a mean over pairs does not depend on the set size)
    assert fair["ms_ssim_gap"].n_synthetic == 60 and fair["ms_ssim_gap"].reference is not None
    checks = evaluate(
        {"overall": off}, GateConfig(**FAST, max_fid_ratio=2.5, max_memorized_fraction=None)
    )
    assert [c.name for c in checks if not c.passed] == ["fid"]
    config = GateConfig(**FAST, max_fid_ratio=2.5, max_memorized_fraction=None)
    assert all(c.passed for c in evaluate({"overall": fair}, config))


def test_a_val_set_too_small_for_a_stable_reference_says_so_and_fails_ratio_gates(real):
    config = GateConfig(**FAST, min_reference_images=30, max_fid_ratio=100.0)
    good = image_set(*draw(30, 3))
    measured = compare(real, good, config)
    note = measured["fid"].note
    assert "val too small for a stable reference" in note
    assert "need 30" in note and "gate.min_reference_images" in note and "has 24" in note
    fid = next(c for c in evaluate({"overall": measured}, config) if c.gate == "max_fid_ratio")
    assert fid.compared_value < 100 and not fid.passed  # never passes silently


def test_too_few_val_images_for_any_reference_name_the_count_and_key(real):
    config = GateConfig(**FAST)
    tiny_val = real["val"].take(np.array([0, 1, 12, 13]))  # 4 images: PRDC needs 6
    good = image_set(*draw(10, 3))
    measured = compare({"train": real["train"], "val": tiny_val}, good, config)
    assert measured["recall"].reference is None and not measured["recall"].usable
    assert "need 6" in measured["recall"].note and "ingest.split" in measured["recall"].note
    assert measured["fid"].reference is not None  # FID needs only 2


def features(images: np.ndarray) -> np.ndarray:
    return extract_features(images, RandomCNN(0), 64)


def test_linear_probe_detects_blurred_images_but_not_a_fresh_draw(real) -> None:
    config = GateConfig(**FAST)
    good_images, _ = draw(30, 3)
    good = detect.linear_two_sample(real["train"].feats, features(good_images), config, 0, "t")
    bad = detect.linear_two_sample(
        real["train"].feats, features(blurred(good_images)), config, 0, "t"
    )
    assert bad.auc > 0.95 and bad.ci95[0] > 0.8
    assert good.auc < 0.75
    assert good.ci95[0] <= good.auc <= good.ci95[1]
    assert len(good.scores) == 60 and np.isfinite(good.scores).all()


def test_auc_interval_matches_sklearn_and_contains_the_estimate() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [40, 30])
    score = rng.random(70) + 0.5 * y
    auc, (lo, hi) = detect.auc_ci(y, score, 500, 0)
    assert auc == pytest.approx(roc_auc_score(y, score))
    assert lo < auc < hi and 0.05 < hi - lo < 0.5
    rows = rng.integers(0, 70, (3, 70))
    assert detect._auc_rows(y[rows], score[rows]) == pytest.approx(
        [roc_auc_score(y[r], score[r]) for r in rows]
    )


def test_matched_subset_copies_the_reference_class_mix() -> None:
    labels = np.repeat([0, 1], [50, 50])
    ref = np.repeat([0, 1], [30, 90])  # 25% / 75%
    idx = detect.matched_subset(labels, ref, np.random.default_rng(0))
    counts = np.bincount(labels[idx])
    assert counts[1] == 50 and counts[0] == 16  # 16 / 66 ~ 25%


@pytest.mark.slow
def test_cnn_probe_detects_blurred_images_and_not_a_fresh_draw(real) -> None:
    config = GateConfig(**FAST)  # the default CNN: test_byobnet, 32 px, 12 epochs
    good_images, _ = draw(30, 3)
    bad = detect.cnn_two_sample(real["train"].images, blurred(good_images), config, 0, "t")
    good = detect.cnn_two_sample(real["train"].images, good_images, config, 0, "t")
    assert bad.auc > 0.9
    assert good.auc < 0.8


def test_class_fidelity_passes_a_label_faithful_set_and_fails_label_ignoring_ones(real):
    config = GateConfig(**FAST)
    images, labels = draw(30, 3)
    train = real["train"]
    val = (real["val"].feats, real["val"].labels)
    faithful = class_fidelity(
        train.feats, train.labels, val, (features(images), labels), CLASSES, config, 0
    )
    rng = np.random.default_rng(5)
    ignoring = class_fidelity(  # a generator that ignores its label: random class shown
        train.feats, train.labels, val, (features(images), rng.permutation(labels)), CLASSES,
        config, 0,
    )  # fmt: skip
    flipped = class_fidelity(
        train.feats, train.labels, val, (features(images), 1 - labels), CLASSES, config, 0
    )
    assert faithful.val.auc > 0.9  # the classifier itself works on real images
    assert faithful.synthetic.auc > 0.9
    assert 0.3 < ignoring.synthetic.auc < 0.7
    assert flipped.synthetic.auc < 0.1
    assert faithful.agreement["abnormal"][0] > 0.8 and flipped.agreement["abnormal"][0] < 0.2


def inputs_for(fake: np.ndarray, fake_labels: np.ndarray) -> GateInputs:
    train, train_labels = draw(40, 1)
    val, val_labels = draw(12, 2)
    return GateInputs(
        classes=CLASSES,
        fake=fake,
        fake_labels=fake_labels,
        train=train,
        train_labels=train_labels,
        train_ids=np.array([f"t{i}" for i in range(len(train))]),
        val=val,
        val_labels=val_labels,
    )


GATES = {"max_detectability_auc": 0.8, "min_class_fidelity": 0.7, "max_fid_ratio": 3.0}


@pytest.mark.parametrize(
    ("kind", "failing"),
    [
        ("fresh draw", set()),
        ("blurred", {"detectability_auc_features", "fid"}),
        ("labels shuffled", {"class_fidelity_auc"}),
    ],
)
def test_assess_known_good_passes_and_known_bad_fails_the_named_gate(kind, failing) -> None:
    images, labels = draw(30, 3)
    if kind == "blurred":
        images = blurred(images)
    if kind == "labels shuffled":
        labels = np.random.default_rng(5).permutation(labels)
    config = GateConfig(**FAST, detectability=("features",), min_reference_images=10, **GATES)
    result = assess(inputs_for(images, labels), config)
    failed = {c.name for c in result.checks if not c.passed}
    assert failing <= failed and failed <= failing | {"rejected_fraction", "memorized_fraction"}
    assert result.passed is (not failing)
    det = next(c for c in result.checks if c.metric == "detectability_auc_features")
    assert det.reference is not None and det.reference < 0.8  # val vs train: near chance
