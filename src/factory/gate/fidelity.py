"""Class fidelity: do the synthetic images carry the class they were drawn for?

The Classification Accuracy Score (Ravuri and Vinyals 2019) reversed: a small seeded
classifier trained on the real TRAIN images and labels scores the synthetic images. Its
AUC on the synthetic labels is compared with its AUC on real VAL images (what real images
of each class get from the same classifier). A class-conditional generator that ignores
its label scores about 0.5; one that swaps the labels scores below 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from factory.gate import cnn
from factory.gate.config import GateConfig
from factory.gate.detect import AucResult, auc_ci, linear_probe, one_thread, usable_columns


@dataclass(frozen=True)
class Fidelity:
    """AUCs on the synthetic and val labels; per-class agreement (share predicted as its
    own class) on both."""

    synthetic: AucResult
    val: AucResult
    agreement: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    note: str = ""


def _auc(y: np.ndarray, prob: np.ndarray, config: GateConfig, seed: int) -> AucResult:
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    if min(n0, n1) == 0:
        return AucResult(None, None, n0, n1, note="one class only: no AUC")
    auc, ci = auc_ci(y, prob, config.bootstrap, seed)
    return AucResult(auc, ci, n0, n1)


def _linear_scores(
    train_x: np.ndarray, train_y: np.ndarray, others: list[np.ndarray]
) -> list[np.ndarray]:
    """P(label 1) of each row of `others` from a linear probe fitted on the train rows;
    non-finite values (radiomics) are imputed with the train column means."""
    keep = usable_columns(train_x)
    probe = linear_probe().fit(train_x[:, keep], train_y)
    means = train_x[:, keep].mean(axis=0)
    return [
        probe.predict_proba(np.where(np.isfinite(o[:, keep]), o[:, keep], means))[:, 1]
        for o in others
    ]


def _scores(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    fake_x: np.ndarray,
    config: GateConfig,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """P(label 1) of the val and synthetic rows from the classifier trained on train."""
    if config.class_fidelity_model == "cnn":
        # each set resized on its own (a lazy RealSet chunk by chunk): the same pixels
        x = torch.cat(
            [
                cnn.to_pixels(s, config.cnn_image_size, config.chunk_images)
                for s in (train_x, val_x, fake_x)
            ]
        )
        n_t, n_v = len(train_x), len(val_x)
        rows = np.arange(len(x))
        y = np.concatenate([train_y, np.zeros(len(x) - n_t, dtype=train_y.dtype)])
        prob = cnn.train_and_score(x, y, rows[:n_t], rows[n_t:], config, seed)
        return prob[:n_v], prob[n_v:]
    val_p, fake_p = _linear_scores(train_x, train_y, [val_x, fake_x])
    return val_p, fake_p


def class_fidelity(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray],
    fake: tuple[np.ndarray, np.ndarray],
    classes: tuple[str, ...],
    config: GateConfig,
    seed: int,
) -> Fidelity:
    """Train on (train_x, train_y); score val and synthetic (x, labels) pairs.

    x are feature rows for the linear model, images [N, H, W] for the CNN. Two classes:
    the positive class is label 1 (as the benchmark's classifier).
    """
    (val_x, val_y), (fake_x, fake_y) = val, fake
    with one_thread():
        val_p, fake_p = _scores(train_x, train_y, val_x, fake_x, config, seed)
    agreement = {}
    for c, name in enumerate(classes):
        agree = [
            float(((p >= 0.5) == bool(c))[y == c].mean()) if (y == c).any() else None
            for p, y in ((fake_p, fake_y), (val_p, val_y))
        ]
        agreement[name] = (agree[0], agree[1])
    return Fidelity(_auc(fake_y, fake_p, config, seed), _auc(val_y, val_p, config, seed), agreement)
