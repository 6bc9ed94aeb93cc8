"""Scenarios (how many synthetic images join the real ones) and each protocol's splits.

A scenario fixes the training-set composition; a protocol decides who is trained on and
who is evaluated:

- heldout: train = the manifest's train patients (+ synthetic), evaluate = its test
  patients (real only), monitor = its val patients. Leakage-safe; decides acceptance.
- sutjiadi2025: the combined real+synthetic set split 80:20 at image level, stratified by
  class, as in the paper; its test set includes synthetic images (comparison only).
- prodan2023: stratified k-fold cross-validation grouped by patient over the real images;
  synthetic images join the training folds only; out-of-fold predictions are evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory.errors import FactoryError

from .config import SYNTHETIC_ONLY, BenchmarkConfig
from .data import REAL, SYNTHETIC

BASELINE = "real+0"
SUTJIADI_NOTE = "includes synthetic images in the test set"
PRODAN_NOTE = "validation folds include patients the generator was trained on"


@dataclass(frozen=True)
class Scenario:
    name: str
    synthetic: int  # synthetic images in the training set, balanced per class
    real: bool  # whether the real training images are used


@dataclass(frozen=True)
class Split:
    """Pool row indices of one train/evaluate partition."""

    name: str
    train: np.ndarray
    evaluate: np.ndarray
    monitor: np.ndarray  # for training curves only; never for model selection

    def __post_init__(self) -> None:
        # own, writable int64 copies: pandas hands out read-only views, and torch warns
        # when indexing a tensor with a read-only array
        for name in ("train", "evaluate", "monitor"):
            object.__setattr__(self, name, np.array(getattr(self, name), dtype=np.int64))


def scenario_name(count: int | str) -> str:
    return SYNTHETIC_ONLY if count == SYNTHETIC_ONLY else f"real+{count}"


def scenarios(cfg: BenchmarkConfig) -> list[Scenario]:
    """One per synthetic count (sorted, baseline first), plus synthetic-only on heldout."""
    found = [Scenario(scenario_name(n), n, True) for n in sorted(cfg.synthetic_counts)]
    if cfg.synthetic_only and cfg.protocol == "heldout":
        found.append(Scenario(SYNTHETIC_ONLY, max(cfg.synthetic_counts), False))
    return found


def synthetic_order(rows: pd.DataFrame, n_classes: int, seed: int) -> list[np.ndarray]:
    """Per class, the synthetic pool indices in a seeded random order.

    Scenarios take prefixes of these lists, so smaller scenarios are subsets of larger
    ones and a comparison between them changes one thing only.
    """
    rng = np.random.default_rng([seed, 7])
    synth = rows.index[rows["origin"] == SYNTHETIC].to_numpy()
    ys = rows.loc[synth, "y"].to_numpy()
    return [rng.permutation(synth[ys == c]) for c in range(n_classes)]


def pick_synthetic(
    order: list[np.ndarray],
    count: int,
    classes: tuple[str, ...],
    only: tuple[str, ...] | None = None,
) -> np.ndarray:
    """`count` synthetic indices, split evenly over `only` (default: every class)."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    drawn = only or classes
    unknown = sorted(set(drawn) - set(classes))
    if unknown:
        raise FactoryError(
            f"benchmark.synthetic_classes: {unknown} are not in common.classes {list(classes)}"
        )
    per_class, rest = divmod(count, len(drawn))
    if rest:
        raise FactoryError(
            f"benchmark.synthetic_counts: {count} cannot be split evenly over {len(drawn)} "
            f"classes; use a multiple of {len(drawn)}"
        )
    picked = []
    for name, have in zip(classes, order, strict=True):
        if name not in drawn:
            continue
        if len(have) < per_class:
            raise FactoryError(
                f"benchmark.synthetic_counts: {count} asks for {per_class} synthetic {name!r} "
                f"images but the set has {len(have)}; lower the count or sample more"
            )
        picked.append(have[:per_class])
    return np.concatenate(picked).astype(np.int64)


def _real(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["origin"] == REAL]


def require_both_classes(y: np.ndarray, classes: tuple[str, ...], where: str) -> None:
    present = set(np.unique(y).tolist())
    if present != set(range(len(classes))):
        have = [classes[i] for i in sorted(present)]
        raise FactoryError(
            f"{where} holds class(es) {have} only; metrics like AUC and sensitivity need "
            f"every class of {list(classes)}: re-split the data (ingest) so each split has both"
        )


def heldout_splits(rows: pd.DataFrame, synthetic: np.ndarray, use_real: bool) -> list[Split]:
    real = _real(rows)
    train = real.index[real["split"] == "train"].to_numpy() if use_real else np.zeros(0, int)
    return [
        Split(
            "test",
            train=np.concatenate([train, synthetic]).astype(np.int64),
            evaluate=real.index[real["split"] == "test"].to_numpy(),
            monitor=real.index[real["split"] == "val"].to_numpy(),
        )
    ]


def sutjiadi_splits(
    rows: pd.DataFrame, synthetic: np.ndarray, test_fraction: float, seed: int
) -> list[Split]:
    """Their 80:20 image-level split of the combined set (real + this scenario's synthetic)."""
    from sklearn.model_selection import train_test_split

    combined = np.concatenate([_real(rows).index.to_numpy(), synthetic]).astype(np.int64)
    train, test = train_test_split(
        combined,
        test_size=test_fraction,
        random_state=seed,
        stratify=rows.loc[combined, "y"].to_numpy(),
    )
    return [Split("test", np.sort(train), np.sort(test), np.sort(test))]


def fold_assignment(rows: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """Fold of each real row: the manifest's `fold` column when it has `folds` folds,
    else StratifiedGroupKFold by patient."""
    from sklearn.model_selection import StratifiedGroupKFold

    real = _real(rows)
    if sorted(real["fold"].unique().tolist()) == list(range(folds)):
        return real["fold"].to_numpy()
    assigned = np.zeros(len(real), dtype=np.int64)
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, held) in enumerate(cv.split(real, real["y"], groups=real["patient_id"])):
        assigned[held] = k
    return assigned


def prodan_splits(rows: pd.DataFrame, synthetic: np.ndarray, folds: int, seed: int) -> list[Split]:
    real_idx = _real(rows).index.to_numpy()
    fold = fold_assignment(rows, folds, seed)
    found = []
    for k in range(folds):
        held = real_idx[fold == k]
        if len(held) == 0:
            raise FactoryError(
                f"benchmark.folds = {folds}, but fold {k} holds no real image; lower folds"
            )
        train = np.concatenate([real_idx[fold != k], synthetic]).astype(np.int64)
        found.append(Split(f"fold-{k}", train, held, held))
    return found


def protocol_splits(
    cfg: BenchmarkConfig, rows: pd.DataFrame, scenario: Scenario, synthetic: np.ndarray, seed: int
) -> list[Split]:
    """The train/evaluate partitions of one scenario under `cfg.protocol`."""
    if cfg.protocol == "heldout":
        return heldout_splits(rows, synthetic, scenario.real)
    if cfg.protocol == "sutjiadi2025":
        return sutjiadi_splits(rows, synthetic, cfg.test_fraction, seed)
    return prodan_splits(rows, synthetic, cfg.folds, seed)


def oversample(indices: np.ndarray, y: np.ndarray, times: int) -> np.ndarray:
    """Repeat each positive (y == 1) training index `times` times (Prodan et al.: 5)."""
    if times == 1:
        return indices
    positives = indices[y[indices] == 1]
    return np.concatenate([indices, *([positives] * (times - 1))])
