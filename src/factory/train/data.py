"""Training data: the manifest's `train` split only, class weights, and the batch order.

The batch order is a pure function of (seed, micro-step, rank): no sampler state has to be
saved for an exact resume, and each process of a multi-process run takes its own slice of
every global batch. (accelerate's prepared DataLoader shards too, but its position lives
inside the loader; `skip_first_batches` would have to replay it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import Dataset

from factory.errors import FactoryError
from factory.io import read_png16
from factory.manifest import class_index, load_images

TRAIN_SPLIT = "train"


def training_rows(df: pd.DataFrame, classes: tuple[str, ...], where: str) -> pd.DataFrame:
    """The rows of the `train` split; every class must have at least one image.

    Val and test rows belong to the benchmark's held-out patients and never reach training.
    """
    rows = df[df["split"] == TRAIN_SPLIT].reset_index(drop=True)
    counts = rows["label"].value_counts()
    empty = [c for c in classes if counts.get(c, 0) == 0]
    if empty:
        raise FactoryError(
            f"{where}: class(es) {empty} have no images in the train split; check the "
            "ingest label map and split, or common.classes in params.yaml"
        )
    return rows


def class_counts(rows: pd.DataFrame, classes: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """Patients and images per class (counts only, never identifiers), for the lineage."""
    return {
        c: {
            "patients": int(rows.loc[rows["label"] == c, "patient_id"].nunique()),
            "images": int((rows["label"] == c).sum()),
        }
        for c in classes
    }


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """scikit-learn's 'balanced' weights, n_samples / (n_classes * count(class))."""
    return compute_class_weight("balanced", classes=np.arange(num_classes), y=labels)


def effective_weights(mode: str, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sampling weights, loss weights) per class for `train.class_weighting`."""
    ones = np.ones_like(weights)
    if mode == "sampler":
        return weights, ones
    if mode == "loss":
        return ones, weights
    return ones, ones


class TrainImages(Dataset):
    """Training images as float tensors [1, H, W] in [-1, 1], with their class index.

    Small sets are decoded once and kept as uint16 (2 bytes a pixel); large ones are read
    from disk per item (`streamed`).
    """

    def __init__(
        self,
        rows: pd.DataFrame,
        root: Path,
        classes: tuple[str, ...],
        image_size: int,
        in_memory_max_mb: int,
        where: str = "manifest",
    ) -> None:
        leaked = sorted(set(rows["split"]) - {TRAIN_SPLIT})
        if leaked:  # a programming error upstream, never to be trained on
            raise FactoryError(f"{where}: rows from split(s) {leaked} reached training")
        self.root = Path(root)
        self.image_size = image_size
        self.where = where
        self.image_ids = rows["image_id"].tolist()
        self.paths = rows["path"].tolist()
        self.labels = class_index(rows["label"], classes, where)
        self.streamed = len(rows) * image_size**2 * 2 > in_memory_max_mb * 2**20
        self.pixels: np.ndarray | None = None
        if not self.streamed:
            self.pixels = load_images(rows, self.root)
            self._check_size(self.pixels.shape[1:], self.paths[0])
        else:
            self._check_size(read_png16(self.root / self.paths[0]).shape, self.paths[0])

    def _check_size(self, shape: tuple[int, ...], path: str) -> None:
        if tuple(shape) != (self.image_size, self.image_size):
            raise FactoryError(
                f"{self.root / path}: image is {shape[1]}x{shape[0]} px but common.image_size "
                f"is {self.image_size}; re-run ingest with this image size or fix params.yaml"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.pixels is not None:
            pixels = self.pixels[i]
        else:
            pixels = read_png16(self.root / self.paths[i])
            self._check_size(pixels.shape, self.paths[i])
        x = torch.from_numpy(pixels.astype(np.float32)).mul_(2.0 / 65535.0).sub_(1.0)
        return x.unsqueeze(0), int(self.labels[i])


@dataclass
class BatchPlan:
    """Which dataset indices each process takes at each micro-step.

    Epoch `e` is a permutation of the dataset (or, for class-balanced sampling, `n` draws
    with replacement by weight), drawn from a generator seeded by (seed, e). Micro-step
    `m` takes the next `batch_size * world_size` positions of that endless stream and rank
    `r` the r-th slice of them.
    """

    n: int
    batch_size: int
    world_size: int
    seed: int
    sample_weights: np.ndarray | None = None  # per item; None = uniform permutation
    _orders: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def epoch_order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:  # a small cache: consecutive steps share epochs
            if len(self._orders) > 2:
                self._orders.pop(min(self._orders))
            self._orders[epoch] = self._draw_order(epoch)
        return self._orders[epoch]

    def _draw_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        if self.sample_weights is None:
            return rng.permutation(self.n)
        p = self.sample_weights / self.sample_weights.sum()
        return rng.choice(self.n, size=self.n, replace=True, p=p)

    def indices(self, micro_step: int, rank: int) -> list[int]:
        start = (micro_step * self.world_size + rank) * self.batch_size
        out: list[int] = []
        epoch, offset = divmod(start, self.n)
        while len(out) < self.batch_size:
            order = self.epoch_order(epoch)
            out.extend(order[offset : offset + self.batch_size - len(out)].tolist())
            epoch, offset = epoch + 1, 0
        return out


class PlannedBatches(torch.utils.data.Sampler[list[int]]):
    """A DataLoader batch_sampler over a BatchPlan from a given micro-step on, endlessly."""

    def __init__(self, plan: BatchPlan, rank: int, start_micro_step: int) -> None:
        self.plan, self.rank, self.start = plan, rank, start_micro_step

    def __iter__(self) -> Iterator[list[int]]:
        m = self.start
        while True:
            yield self.plan.indices(m, self.rank)
            m += 1
