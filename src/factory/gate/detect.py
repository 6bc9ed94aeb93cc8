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

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from factory import shard
from factory.gate import cnn, metrics
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


def _auc_rows(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of `score` [R, n] against labels `y` [R, n] (Mann-Whitney U,
    ties counted half), vectorised over replicates."""
    from scipy.stats import rankdata

    ranks = rankdata(score, axis=1)
    n1 = (y == 1).sum(axis=1)
    n0 = y.shape[1] - n1
    u = (ranks * (y == 1)).sum(axis=1) - n1 * (n1 + 1) / 2
    return u / (n1 * n0)


def auc_ci(
    y: np.ndarray, score: np.ndarray, replicates: int, seed: int
) -> tuple[float, tuple[float, float]]:
    """ROC AUC and its stratified-bootstrap 95% percentile interval.

    Written here (rank formula of the AUC, vectorised over replicates) because
    scikit-learn has no AUC interval, and calling its roc_auc_score once per replicate
    took 15 s for 500 replicates on the shared machine. Resampling within each class
    keeps both classes in every replicate.
    """
    from sklearn.metrics import roc_auc_score

    auc = float(roc_auc_score(y, score))
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rows = np.concatenate(
        [rng.choice(pos, (replicates, len(pos))), rng.choice(neg, (replicates, len(neg)))], axis=1
    )
    draws = _auc_rows(y[rows], score[rows])
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return auc, (float(lo), float(hi))


@contextmanager
def one_thread() -> Iterator[None]:
    """torch and the BLAS/OpenMP pools of numpy/scikit-learn on one thread in the block.

    Measured on the shared 2-core machine (load 10): a logistic-regression fit on 76 x 240
    features took 0.78 s with the default pools and 0.06 s with one thread; one CNN fold
    30 s with two torch threads and 1.3 s with one.
    """
    from threadpoolctl import threadpool_limits

    with metrics.one_thread(), threadpool_limits(1):
        yield


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
    with one_thread():
        score = cross_val_predict(linear_probe(), x, y, cv=cv, method="predict_proba")[:, 1]
    auc, ci = auc_ci(y, score, config.bootstrap, seed)
    return AucResult(auc, ci, len(real), len(other), score[len(real) :], note)


def _cap(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, cap, replace=False))


def cnn_two_sample(
    real: np.ndarray, other: np.ndarray, config: GateConfig, seed: int, what: str
) -> AucResult:
    """Cross-validated AUC of a small CNN trained from scratch on the pixels.

    At most gate.cnn_max_images of each set take part; `scores` is NaN for the others.
    `real` may be a lazy RealSet: only the capped subset is read.
    """
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    keep_real, keep_other = (
        _cap(len(real), config.cnn_max_images, rng),
        _cap(len(other), config.cnn_max_images, rng),
    )
    y = np.repeat([0, 1], [len(keep_real), len(keep_other)])
    k, note = _folds(y, config.cnn_folds, what, "gate.cnn_folds")
    if k < 2:
        return AucResult(None, None, len(keep_real), len(keep_other), note=note)
    x = cnn.to_pixels(np.concatenate([real[keep_real], other[keep_other]]), config.cnn_image_size)
    score = np.zeros(len(y))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = list(enumerate(cv.split(np.zeros(len(y)), y)))

    def one(fold: tuple[int, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        i, (train, test) = fold
        return cnn.train_and_score(x, y, train, test, config, seed + i)

    with one_thread():  # folds dealt out over the stage's processes; each seeded by fold
        fold_scores = shard.map_shards(one, folds, what)
    for (_, (_, test)), fold_score in zip(folds, fold_scores, strict=True):
        score[test] = fold_score
    auc, ci = auc_ci(y, score, config.bootstrap, seed)
    other_scores = np.full(len(other), np.nan)
    other_scores[keep_other] = score[len(keep_real) :]
    return AucResult(auc, ci, len(keep_real), len(keep_other), other_scores, note)


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
