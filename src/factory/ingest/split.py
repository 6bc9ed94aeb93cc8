"""Patient-grouped, label-stratified assignment of images to splits and folds.

Hand-written rather than scikit-learn's StratifiedGroupKFold because that one makes only
equal-sized folds (train/val/test are 0.7/0.1/0.2) and refuses datasets with fewer
patients than folds; we need both, deterministically, down to a handful of patients.

The rule (documented in docs/ingest.md): patients are visited in an order drawn from the
seed; each goes whole to the part whose per-class quota, relative to its target, is
least filled for that patient's images. The relative deficit makes the first patients of
every class land in every part before any part gets a second, so small datasets still
have each class in each split when they have enough patients of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def assign_groups(
    patients: Sequence[str],
    labels: Sequence[str],
    fractions: Sequence[float],
    rng: np.random.Generator,
) -> dict[str, int]:
    """Map each patient to a part index 0..len(fractions)-1.

    `patients[i]` and `labels[i]` describe image i; all images of a patient go to one
    part. Parts with fraction 0 get nobody.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    classes = sorted(set(labels))
    cls_index = {c: i for i, c in enumerate(classes)}
    per_patient: dict[str, np.ndarray] = {}
    for patient, label in zip(patients, labels, strict=True):
        counts = per_patient.setdefault(patient, np.zeros(len(classes)))
        counts[cls_index[label]] += 1
    totals = np.sum(list(per_patient.values()), axis=0) if per_patient else np.zeros(0)
    target = fractions[:, None] * totals[None, :]  # [part, class]
    filled = np.zeros_like(target)
    order = sorted(per_patient)
    order = [order[i] for i in rng.permutation(len(order))]
    assignment: dict[str, int] = {}
    open_parts = fractions > 0
    for patient in order:
        counts = per_patient[patient]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(target > 0, (target - filled) / target, 0.0)
        score = np.where(open_parts, (relative * counts[None, :]).sum(axis=1), -np.inf)
        part = int(np.argmax(score))  # ties: the first (largest-by-position) part
        assignment[patient] = part
        filled[part] += counts
    return assignment


def split_and_fold(
    patients: Sequence[str],
    labels: Sequence[str],
    fractions: Sequence[float],
    folds: int,
    seed: int,
) -> tuple[dict[str, int], dict[str, int]]:
    """Patient -> split index (train/val/test) and patient -> fold (0..folds-1).

    Folds are drawn over all patients, independently of the split, each stratified.
    """
    rng = np.random.default_rng([seed, 0x5B11])
    split = assign_groups(patients, labels, fractions, rng)
    fold = assign_groups(patients, labels, [1.0 / folds] * folds, rng)
    return split, fold
