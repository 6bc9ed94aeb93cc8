"""Metrics agree with scikit-learn; patient bootstrap intervals cover the truth."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    precision_recall_fscore_support,
    recall_score,
    roc_auc_score,
)

from factory.benchmark.metrics import (
    METRIC_ORDER,
    batch_metrics,
    bootstrap_metrics,
    classification_metrics,
    interval,
    paired_difference,
    patient_bootstrap,
    summarise,
)


def _fixed(n: int = 60, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    prob = np.clip(0.35 * y + rng.uniform(0, 0.65, n), 0, 1)
    return y, prob


@pytest.mark.parametrize("weighted", [False, True])
def test_metrics_equal_sklearn(weighted: bool) -> None:
    y, prob = _fixed()
    w = np.random.default_rng(0).integers(0, 4, len(y)).astype(float) if weighted else None
    pred = (prob > 0.5).astype(int)
    got = classification_metrics(y, prob, 0.5, w)
    p, r, f, _ = precision_recall_fscore_support(
        y, pred, labels=[0, 1], sample_weight=w, zero_division=0
    )
    keep = w > 0 if w is not None else slice(None)
    expected = {
        "accuracy": accuracy_score(y, pred, sample_weight=w),
        "balanced_accuracy": balanced_accuracy_score(y, pred, sample_weight=w),
        "auc": roc_auc_score(y[keep], prob[keep], sample_weight=None if w is None else w[keep]),
        "sensitivity": recall_score(y, pred, pos_label=1, sample_weight=w),
        "specificity": recall_score(y, pred, pos_label=0, sample_weight=w),
        "precision_negative": p[0],
        "recall_negative": r[0],
        "f1_negative": f[0],
        "precision_positive": p[1],
        "recall_positive": r[1],
        "f1_positive": f[1],
    }
    assert set(got) == set(METRIC_ORDER)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_batch_metrics_equal_sklearn_row_by_row() -> None:
    y, prob = _fixed(40)
    prob = np.round(prob, 1)  # ties, which AUC must count one half
    w = patient_bootstrap([f"p{i // 2}" for i in range(40)], 30, seed=4)
    got = batch_metrics(y, prob, 0.5, w)
    for b in range(len(w)):
        expected = classification_metrics(y, prob, 0.5, w[b])
        for j, name in enumerate(METRIC_ORDER):
            assert got[b, j] == pytest.approx(expected[name], abs=1e-12, nan_ok=True), name


def test_no_predicted_positive_gives_zero_precision_like_sklearn() -> None:
    y = np.array([0, 1, 0, 1])
    got = classification_metrics(y, np.full(4, 0.1), 0.5)
    assert got["precision_positive"] == 0.0
    assert got["sensitivity"] == 0.0 and got["specificity"] == 1.0


def test_patient_bootstrap_draws_whole_patients_and_pairs() -> None:
    patients = ["a", "a", "b", "c", "c", "c"]
    w = patient_bootstrap(patients, 50, seed=1)
    assert w.shape == (50, 6)
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 3] == w[:, 5]).all()
    # three patients drawn per replicate
    per_patient = w[:, [0, 2, 3]]
    assert (per_patient.sum(axis=1) == 3).all()
    # same patients (any order) -> same draws: that is what makes differences paired
    again = patient_bootstrap(["a", "a", "b", "c", "c", "c"], 50, seed=1)
    assert (again == w).all()
    assert not (patient_bootstrap(patients, 50, seed=2) == w).all()


def _simulated_case(rng: np.random.Generator, patients: int = 40, per: int = 3):
    """Each patient is called correctly with its own rate q ~ Beta(4, 1): accuracy 0.8."""
    q = rng.beta(4, 1, patients)
    y = np.repeat(rng.integers(0, 2, patients), per)
    correct = rng.uniform(size=patients * per) < np.repeat(q, per)
    prob = np.where(correct == (y == 1), 0.9, 0.1)
    ids = np.repeat([f"p{i}" for i in range(patients)], per)
    return y, prob, ids


def test_bootstrap_interval_covers_the_truth() -> None:
    rng = np.random.default_rng(0)
    j = METRIC_ORDER.index("accuracy")
    covered = 0
    sims = 100
    for s in range(sims):
        y, prob, ids = _simulated_case(rng)
        reps = bootstrap_metrics(y, [prob], patient_bootstrap(ids, 500, seed=s), 0.5)
        lo, hi = interval(reps[:, j])
        covered += lo <= 0.8 <= hi
    assert covered >= 88  # nominal 95%; fewer than 88/100 means the intervals are too narrow


def test_patient_interval_wider_than_image_interval_for_clustered_images() -> None:
    y, prob, ids = _simulated_case(np.random.default_rng(5), patients=30, per=4)
    j = METRIC_ORDER.index("accuracy")
    by_patient = interval(bootstrap_metrics(y, [prob], patient_bootstrap(ids, 200, 0), 0.5)[:, j])
    by_image = interval(
        bootstrap_metrics(y, [prob], patient_bootstrap(np.arange(len(y)).astype(str), 200, 0), 0.5)[
            :, j
        ]
    )
    assert by_patient[1] - by_patient[0] > by_image[1] - by_image[0]


def test_summary_and_paired_difference() -> None:
    base = [dict.fromkeys(METRIC_ORDER, 0.5), dict.fromkeys(METRIC_ORDER, 0.7)]
    scen = [dict.fromkeys(METRIC_ORDER, 0.6), dict.fromkeys(METRIC_ORDER, 0.9)]
    reps_b = np.full((10, len(METRIC_ORDER)), 0.6)
    reps_s = np.full((10, len(METRIC_ORDER)), 0.75)
    s = summarise(base, reps_b)["auc"]
    assert s["mean"] == pytest.approx(0.6) and s["sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    d = paired_difference(scen, base, reps_s, reps_b)["auc"]
    assert d["mean"] == pytest.approx(0.15)
    assert d["sd"] == pytest.approx(np.std([0.1, 0.2], ddof=1))
    assert d["ci95_low"] == pytest.approx(0.15) and d["ci95_high"] == pytest.approx(0.15)
