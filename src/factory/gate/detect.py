"""Detectability: classifier two-sample tests (Lopez-Paz and Oquab 2017).

If a classifier can tell synthetic images from real training images on held-out folds,
the two sets differ, whatever any distance says. Cross-validated AUC (stratified k-fold,
scikit-learn): 0.5 = indistinguishable, 1.0 = every synthetic image is recognisable. The
reference runs the same test on real val against real train: the AUC an honest new sample
of the same population gets (about 0.5, with the noise of a small val set).

Probes: a linear probe (standardised logistic regression) on the extractor features, one
on the FRD radiomics features, and a small timm CNN trained from scratch on the pixels
(`factory.gate.cnn`, the benchmark's code path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factory.gate import cnn
from factory.gate.config import GateConfig


@dataclass(frozen=True)
class AucResult:
    """A cross-validated (or held-out) AUC with its bootstrap 95% interval."""

    auc: float | None
    ci95: tuple[float, float] | None
    n_real: int
    n_other: int
    scores: np.ndarray | None = None  # out-of-fold P(other) of each `other` row
    note: str = ""


def auc_ci(
    y: np.ndarray, score: np.ndarray, replicates: int, seed: int
) -> tuple[float, tuple[float, float]]:
    """ROC AUC and its stratified-bootstrap 95% percentile interval.

    Written here (a few lines over sklearn's roc_auc_score) because scikit-learn has no
    AUC interval; resampling within each class keeps both classes in every replicate.
    """
    from sklearn.metrics import roc_auc_score

    auc = float(roc_auc_score(y, score))
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = []
    for _ in range(replicates):
        i = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        draws.append(roc_auc_score(y[i], score[i]))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return auc, (float(lo), float(hi))


def usable_columns(x: np.ndarray) -> np.ndarray:
    """Columns finite everywhere and not constant (radiomics has NaN/constant ones)."""
    finite = np.isfinite(x).all(axis=0)
    spread = np.nanstd(np.where(np.isfinite(x), x, np.nan), axis=0) > 0
    return finite & spread


def linear_probe():
    """Standardised L2 logistic regression with balanced class weights (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    )


def _folds(y: np.ndarray, folds: int, what: str, key: str) -> tuple[int, str]:
    fewest = int(np.bincount(y, minlength=2).min())
    if fewest < 2:
        return 0, f"{what}: {fewest} images in the smaller set, need at least 2 ({key})"
    if fewest < folds:
        return fewest, f"{what}: {fewest}-fold CV (the smaller set has {fewest} images < {key})"
    return folds, ""


def linear_two_sample(
    real: np.ndarray, other: np.ndarray, config: GateConfig, seed: int, what: str
) -> AucResult:
    """Cross-validated AUC of a linear probe separating `other` rows from `real` rows."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.concatenate([real, other])
    x = x[:, usable_columns(x)]
    y = np.repeat([0, 1], [len(real), len(other)])
    k, note = _folds(y, config.detectability_folds, what, "gate.detectability_folds")
    if k < 2 or x.shape[1] == 0:
        return AucResult(None, None, len(real), len(other), note=note or f"{what}: no features")
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    score = cross_val_predict(linear_probe(), x, y, cv=cv, method="predict_proba")[:, 1]
    auc, ci = auc_ci(y, score, config.bootstrap, seed)
    return AucResult(auc, ci, len(real), len(other), score[len(real) :], note)


def cnn_two_sample(
    real: np.ndarray, other: np.ndarray, config: GateConfig, seed: int, what: str
) -> AucResult:
    """Cross-validated AUC of a small CNN trained from scratch on the pixels."""
    from sklearn.model_selection import StratifiedKFold

    y = np.repeat([0, 1], [len(real), len(other)])
    k, note = _folds(y, config.cnn_folds, what, "gate.cnn_folds")
    if k < 2:
        return AucResult(None, None, len(real), len(other), note=note)
    x = cnn.to_pixels(np.concatenate([real, other]), config.cnn_image_size)
    score = np.zeros(len(y))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(cv.split(np.zeros(len(y)), y)):
        score[test] = cnn.train_and_score(x, y, train, test, config, seed + fold)
    auc, ci = auc_ci(y, score, config.bootstrap, seed)
    return AucResult(auc, ci, len(real), len(other), score[len(real) :], note)


def matched_subset(
    labels: np.ndarray, reference_labels: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Indices of `labels` with the class proportions of `reference_labels`.

    The synthetic set's class mix is the user's choice (sample.per_class), not a flaw of
    the generator: without matching, a probe could detect the mix instead of the images.
    """
    classes = np.unique(labels)
    share = np.array([(reference_labels == c).mean() for c in classes])
    have = np.array([(labels == c).sum() for c in classes])
    if share.sum() == 0:
        return np.arange(len(labels))
    share = share / share.sum()
    total = min(have[i] / share[i] for i in range(len(classes)) if share[i] > 0)
    take = np.minimum(np.floor(total * share + 1e-9).astype(int), have)
    parts = [
        rng.choice(np.flatnonzero(labels == c), n, replace=False)
        for c, n in zip(classes, take, strict=False)
    ]
    return np.sort(np.concatenate(parts))
