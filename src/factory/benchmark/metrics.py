"""Classification metrics, patient-level bootstrap intervals, seeds and paired differences.

Every metric comes from scikit-learn (the confusion matrix and ROC AUC, both with sample
weights). A patient bootstrap replicate is a set of weights: how many times each image's
patient was drawn. Using weights instead of concatenating resampled rows gives the same
numbers for less work, so the bootstrap is just the metrics under other weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METRIC_ORDER = (
    "accuracy",
    "balanced_accuracy",
    "auc",
    "sensitivity",
    "specificity",
    "precision_negative",
    "recall_negative",
    "f1_negative",
    "precision_positive",
    "recall_positive",
    "f1_positive",
)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den == 0 (sklearn's zero_division=0)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def metrics_from_counts(tp: Any, fp: Any, tn: Any, fn: Any, auc: Any) -> dict[str, Any]:
    """The threshold metrics from (possibly weighted, possibly arrays of) confusion counts."""
    sens, spec = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    prec_pos, prec_neg = _ratio(tp, tp + fp), _ratio(tn, tn + fn)
    return {
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "balanced_accuracy": (sens + spec) / 2,
        "auc": auc,
        "sensitivity": sens,
        "specificity": spec,
        "precision_negative": prec_neg,
        "recall_negative": spec,
        "f1_negative": _ratio(2 * prec_neg * spec, prec_neg + spec),
        "precision_positive": prec_pos,
        "recall_positive": sens,
        "f1_positive": _ratio(2 * prec_pos * sens, prec_pos + sens),
    }


def classification_metrics(
    y: np.ndarray, prob: np.ndarray, threshold: float, weights: np.ndarray | None = None
) -> dict[str, float]:
    """All the benchmark's metrics of positive-class probabilities `prob` against `y` (0/1),
    from scikit-learn's confusion matrix and ROC AUC. AUC is NaN when `y` has one class."""
    from sklearn.metrics import confusion_matrix, roc_auc_score

    pred = (prob > threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion_matrix(y, pred, labels=[0, 1], sample_weight=weights)
    keep = weights > 0 if weights is not None else slice(None)
    yk, wk = y[keep], None if weights is None else weights[keep]
    auc = (
        float(roc_auc_score(yk, prob[keep], sample_weight=wk))
        if len(np.unique(yk)) == 2
        else np.nan
    )
    return {k: float(v) for k, v in metrics_from_counts(tp, fp, tn, fn, auc).items()}


def batch_metrics(
    y: np.ndarray, prob: np.ndarray, threshold: float, weights: np.ndarray
) -> np.ndarray:
    """[replicates, metrics] for many weight vectors [replicates, n] at once.

    Hand-written because scikit-learn's per-call overhead (milliseconds) times thousands
    of bootstrap replicates dominated the stage; the tests check it equals
    `classification_metrics` (scikit-learn) row by row. AUC is the weighted Mann-Whitney
    statistic (ties count one half), which is what roc_auc_score's trapezoid computes.
    """
    w = np.asarray(weights, dtype=float)
    pos, pred = (y == 1).astype(float), (prob > threshold).astype(float)
    tp, fn = w @ (pos * pred), w @ (pos * (1 - pred))
    fp, tn = w @ ((1 - pos) * pred), w @ ((1 - pos) * (1 - pred))
    order = np.argsort(prob, kind="stable")
    sorted_prob = prob[order]
    starts = np.flatnonzero(np.r_[True, sorted_prob[1:] != sorted_prob[:-1]])
    wp = np.add.reduceat(w[:, order] * pos[order], starts, axis=1)  # positive weight per score
    wn = np.add.reduceat(w[:, order] * (1 - pos[order]), starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn  # negative weight strictly below each score
    P, N = wp.sum(axis=1), wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where((P > 0) & (N > 0), (wp * (below + wn / 2)).sum(axis=1) / (P * N), np.nan)
    found = metrics_from_counts(tp, fp, tn, fn, auc)
    return np.stack([found[k] for k in METRIC_ORDER], axis=1)


def _stable_seed(seed: int, patients: Sequence[str]) -> list[int]:
    digest = hashlib.sha256("\n".join(sorted(set(patients))).encode()).digest()
    return [seed, int.from_bytes(digest[:8], "little")]


def patient_bootstrap(patients: Sequence[str], replicates: int, seed: int) -> np.ndarray:
    """Weights [replicates, n_images]: times each image's patient was drawn (with replacement).

    The draws depend only on `seed` and the set of patients, so two scenarios evaluated on
    the same patients get the same replicates (a paired bootstrap).
    """
    patients = np.asarray(patients)
    unique, inverse = np.unique(patients, return_inverse=True)
    rng = np.random.default_rng(_stable_seed(seed, list(unique)))
    draws = rng.integers(0, len(unique), size=(replicates, len(unique)))
    counts = np.zeros((replicates, len(unique)), dtype=np.int64)
    np.add.at(counts, (np.arange(replicates)[:, None], draws), 1)
    return counts[:, inverse]


def bootstrap_metrics(
    y: np.ndarray, probs: Sequence[np.ndarray], weights: np.ndarray, threshold: float
) -> np.ndarray:
    """[replicates, metrics]: each replicate's metrics averaged over seeds (`probs`).

    Replicates that draw one class only are left out (NaN): most metrics are undefined there.
    """
    out = np.mean([batch_metrics(y, p, threshold, weights) for p in probs], axis=0)
    w = np.asarray(weights)
    one_class = ((w * (y == 1)).sum(axis=1) == 0) | ((w * (y == 0)).sum(axis=1) == 0)
    out[one_class] = np.nan
    return out


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap samples (NaN replicates ignored)."""
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def summarise(
    per_seed: Sequence[Mapping[str, float]], replicates: np.ndarray | None
) -> dict[str, dict[str, float]]:
    """Per metric: mean and sd over seeds, and the 95% bootstrap interval."""
    found = {}
    for j, name in enumerate(METRIC_ORDER):
        values = np.array([m[name] for m in per_seed], dtype=float)
        lo, hi = interval(replicates[:, j]) if replicates is not None else (np.nan, np.nan)
        found[name] = {
            "mean": float(np.mean(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "ci95_low": lo,
            "ci95_high": hi,
        }
    return found


def paired_difference(
    scenario_seeds: Sequence[Mapping[str, float]],
    baseline_seeds: Sequence[Mapping[str, float]],
    scenario_reps: np.ndarray | None,
    baseline_reps: np.ndarray | None,
) -> dict[str, dict[str, float]]:
    """Scenario minus baseline per metric: mean and sd over seeds, bootstrap 95% interval.

    Seeds pair up one to one (same seed, same test patients); the replicates pair up when
    both were drawn on the same patients (see `patient_bootstrap`).
    """
    diff = [
        {k: s[k] - b[k] for k in METRIC_ORDER}
        for s, b in zip(scenario_seeds, baseline_seeds, strict=True)
    ]
    reps = None
    if scenario_reps is not None and baseline_reps is not None:
        reps = scenario_reps - baseline_reps
    return summarise(diff, reps)
