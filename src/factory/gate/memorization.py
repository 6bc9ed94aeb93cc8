"""Copy detection: is a synthetic image (nearly) one of the generator's training images?

Two nearest-neighbour searches against the real TRAINING images:

- pixels: normalized cross-correlation (NCC), the best over small shifts (+-`max_shift` px),
  so intensity scaling, additive noise and small translations do not hide a copy;
  distance = 1 - NCC;
- features: Euclidean distance in the gate's feature space.

A threshold for each distance is calibrated on real held-out (val) images: how close
does an honest new image of the same population come to the training set? A synthetic
image closer than the `percentile`-th percentile of those distances is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from tqdm.auto import tqdm

from factory.errors import FactoryError
from factory.gate.metrics import one_thread


def _normalised_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows minus their mean, divided by their norm (a constant row stays all zero)."""
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def nearest_ncc(
    queries: np.ndarray, references: np.ndarray, max_shift: int = 2, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """For each query image, the highest NCC with any reference image over all shifts.

    The query's centre (its border of `max_shift` px cut off) is compared with every
    reference window shifted by dy, dx in [-max_shift, max_shift]. Returns (best NCC [Nq],
    index of that reference [Nq]). Images are [N, H, W] floats.
    """
    if queries.shape[1:] != references.shape[1:]:
        raise FactoryError(
            f"copy search: image sizes differ, {queries.shape[1:]} vs {references.shape[1:]}"
        )
    h, w = queries.shape[1:]
    s = max_shift
    if min(h, w) <= 2 * s + 1:
        raise FactoryError(f"copy search: images of {h}x{w} px are too small for +-{s} px")
    q_all = torch.from_numpy(np.ascontiguousarray(queries[:, s : h - s, s : w - s])).float()
    q_all = _normalised_rows(q_all.flatten(1))
    ref = torch.from_numpy(np.ascontiguousarray(references)).float()
    best = torch.full((len(queries),), -2.0)
    best_idx = torch.zeros(len(queries), dtype=torch.long)
    shifts = [(dy, dx) for dy in range(-s, s + 1) for dx in range(-s, s + 1)]
    for dy, dx in tqdm(shifts, desc="copy search (NCC)", unit="shift", leave=False):
        window = ref[:, s + dy : h - s + dy, s + dx : w - s + dx].flatten(1)
        window = _normalised_rows(window)
        for start in range(0, len(q_all), chunk):
            ncc = q_all[start : start + chunk] @ window.T
            value, idx = ncc.max(dim=1)
            part = slice(start, start + len(value))
            better = value > best[part]
            best[part] = torch.where(better, value, best[part])
            best_idx[part] = torch.where(better, idx, best_idx[part])
    return best.clamp(-1, 1).numpy().astype(np.float64), best_idx.numpy()  # float round-off


def nearest_feature(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query feature vector, the Euclidean distance to and index of the nearest."""
    with one_thread():
        d = torch.cdist(torch.from_numpy(queries).double(), torch.from_numpy(references).double())
        value, idx = d.min(dim=1)
    return value.numpy(), idx.numpy()


@dataclass(frozen=True)
class Threshold:
    """A calibrated distance threshold: smaller distances are flagged as copies."""

    value: float
    percentile: float
    method: str  # "empirical" or "weibull fit"
    n_calibration: int


def calibrate(
    distances: np.ndarray, percentile: float, min_images: int = 5, what: str = "distance"
) -> Threshold:
    """The `percentile`-th percentile of real held-out images' nearest-training distances.

    With n calibration images the empirical percentile is only resolved down to about
    100/n %: below that it collapses onto the smallest distance, and a new real image
    falls under it with probability ~1/(n+1), far above `percentile`. So when
    n * percentile / 100 < 1 the percentile comes from a Weibull distribution (location 0)
    fitted to the distances: a nearest-neighbour distance is the minimum of non-negative
    distances over the training set, and the Weibull is the extreme-value law of such
    minima; it stays above 0 (a Gumbel or normal fit can put the 1st percentile below 0
    and then flags nothing, not even exact copies). The fitted value is capped at the
    empirical one, so a poor fit can only make the test more lenient towards borderline
    images, never flag more. With n >= 100 / percentile the empirical percentile (linear
    interpolation) is used as it is.
    """
    d = np.asarray(distances, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) < min_images:
        raise FactoryError(
            f"memorization calibration ({what}) needs at least {min_images} real val "
            f"images, got {len(d)}; give the val split more images or lower "
            "gate.min_calibration_images"
        )
    empirical = float(np.percentile(d, percentile))
    if percentile <= 0 or len(d) * percentile / 100 >= 1:
        return Threshold(empirical, percentile, "empirical", len(d))
    shape, _, scale = stats.weibull_min.fit(np.clip(d, 1e-9, None), floc=0)
    fitted = float(stats.weibull_min.ppf(percentile / 100, shape, 0, scale))
    if not np.isfinite(fitted):
        fitted = empirical
    return Threshold(min(fitted, empirical), percentile, "weibull fit", len(d))
