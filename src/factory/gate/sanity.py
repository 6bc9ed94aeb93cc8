"""Per-image sanity: finite, not constant, and breast area and intensity like the real set."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Per-image statistics judged against the real images' range.
RANGE_STATS = ("area_fraction", "intensity_low", "intensity_high")


def image_stats(images: np.ndarray, breast_threshold: float = 0.05) -> pd.DataFrame:
    """One row per image [N, H, W] (values in [0, 1]) with the statistics sanity judges.

    area_fraction: share of pixels brighter than `breast_threshold` (the breast);
    intensity_low / intensity_high: 1st percentile inside the breast and 99th percentile of
    the whole image, robust ends of the intensity range.
    """
    flat = images.reshape(len(images), -1).astype(np.float64)
    finite = np.isfinite(flat).all(axis=1)
    safe = np.where(np.isfinite(flat), flat, 0.0)
    breast = safe > breast_threshold
    low = np.array(
        [np.percentile(row[m], 1) if m.any() else 0.0 for row, m in zip(safe, breast, strict=True)]
    )
    return pd.DataFrame(
        {
            "finite": finite,
            "constant": safe.std(axis=1) < 1e-6,
            "area_fraction": breast.mean(axis=1),
            "intensity_low": low,
            "intensity_high": np.percentile(safe, 99, axis=1),
        }
    )


def set_stats(images, breast_threshold: float = 0.05, chunk: int = 256) -> pd.DataFrame:
    """`image_stats` of an array or a lazy RealSet, `chunk` images at a time (same rows)."""
    if isinstance(images, np.ndarray):
        return image_stats(images, breast_threshold)
    parts = [image_stats(batch, breast_threshold) for _, batch in images.chunks(chunk)]
    if not parts:
        return image_stats(np.zeros((0, *images.shape[1:]), np.float32), breast_threshold)
    return pd.concat(parts, ignore_index=True)


def allowed_ranges(real: pd.DataFrame, tolerance: float) -> dict[str, tuple[float, float]]:
    """The real images' [min, max] of each statistic, widened by `tolerance` x width + 0.02."""
    ranges = {}
    for name in RANGE_STATS:
        lo, hi = float(real[name].min()), float(real[name].max())
        margin = tolerance * (hi - lo) + 0.02
        ranges[name] = (lo - margin, hi + margin)
    return ranges


def sanity_reasons(stats: pd.DataFrame, ranges: dict[str, tuple[float, float]]) -> pd.Series:
    """Why each image fails sanity ('' when it passes), e.g. 'constant; area_fraction'."""
    reasons: list[list[str]] = [[] for _ in range(len(stats))]
    for i, row in enumerate(stats.itertuples(index=False)):
        if not row.finite:
            reasons[i].append("not finite")
        if row.constant:
            reasons[i].append("constant")
        for name in RANGE_STATS:
            lo, hi = ranges[name]
            if not lo <= getattr(row, name) <= hi:
                reasons[i].append(name)
    return pd.Series(["; ".join(r) for r in reasons], index=stats.index, dtype="string")
