"""Per-image sanity: broken images are caught, real-like ones pass."""

from __future__ import annotations

import numpy as np

from factory.gate.sanity import allowed_ranges, image_stats, sanity_reasons

from .conftest import breast_like


def test_broken_images_are_caught_and_real_like_ones_pass() -> None:
    rng = np.random.default_rng(0)
    real = np.concatenate([breast_like(20, 0, 32, rng), breast_like(20, 1, 32, rng)])
    good = breast_like(3, 1, 32, rng)
    nan = good[0].copy()
    nan[3, 3] = np.nan
    bright = np.clip(good[1] + 0.6, 0, 1)  # whole frame lit: area and low intensity off
    faint = good[2] * 0.1  # breast almost vanishes
    candidates = np.stack([*good, nan, np.full((32, 32), 0.4, np.float32), bright, faint])
    ranges = allowed_ranges(image_stats(real), tolerance=0.25)
    reasons = sanity_reasons(image_stats(candidates), ranges).tolist()
    assert reasons[:3] == ["", "", ""]
    assert "not finite" in reasons[3]
    assert "constant" in reasons[4]
    assert "area_fraction" in reasons[5]
    assert reasons[6] != ""
