"""FID, KID, PRDC, FRD and MS-SSIM diversity on tiny sets."""

from __future__ import annotations

import numpy as np
import pytest

from factory.errors import FactoryError
from factory.gate import metrics


def gaussian(n: int, d: int = 8, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, size=(n, d))


def test_kid_at_n50_adapts_its_subset_size_and_separates_distributions() -> None:
    real, same, other = gaussian(50, seed=1), gaussian(50, seed=2), gaussian(50, shift=1, seed=3)
    close, _ = metrics.kid(real, same)  # subset_size 1000 > 50: must shrink, not fail
    far, far_std = metrics.kid(real, other)
    assert abs(close) < 0.05 < far
    assert far_std >= 0
    assert metrics.kid(real, other) == (far, far_std)  # fixed seed: deterministic


def test_fid_matches_the_pure_frechet_formula() -> None:
    real, fake = gaussian(200, seed=1), gaussian(150, shift=0.5, seed=2)
    pure = metrics.frechet_distance(
        real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False)
    )
    assert metrics.fid(real, fake) == pytest.approx(pure, rel=1e-4)
    assert metrics.fid(real, real) == pytest.approx(0, abs=1e-6)
    assert pure > 8 * 0.25 * 0.8  # ~ ||delta mu||^2 = 2


def test_prdc_identical_and_disjoint_sets() -> None:
    real = gaussian(60, seed=1)
    same = metrics.prdc(real, real.copy(), k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] == pytest.approx(1.0, abs=0.2)
    apart = metrics.prdc(real, gaussian(60, shift=50, seed=2), k=5)
    assert apart == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_half_mode_collapse_halves_recall_not_precision() -> None:
    real = np.concatenate([gaussian(100, seed=1), gaussian(100, shift=20, seed=2)])
    fake = gaussian(100, seed=3)  # only the first mode
    values = metrics.prdc(real, fake, k=5)
    assert values["precision"] > 0.8
    assert 0.3 < values["recall"] < 0.7
    assert 0.3 < values["coverage"] < 0.7


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.prdc(gaussian(5), gaussian(40), k=5), "needs at least 6"),
        (lambda: metrics.fid(gaussian(1), gaussian(40)), "FID needs at least 2"),
        (lambda: metrics.kid(gaussian(40), gaussian(1)), "KID needs at least 2"),
        (lambda: metrics.frd_from_features(gaussian(2), gaussian(40)), "FRD needs at least 3"),
    ],
)
def test_too_few_images_name_the_metric_and_the_count(call, message) -> None:
    with pytest.raises(FactoryError, match=message):
        call()


@pytest.mark.parametrize(("size", "scales"), [(16, 2), (32, 2), (64, 3), (128, 4), (256, 5)])
def test_ms_ssim_settings_fit_the_image_size(size: int, scales: int) -> None:
    betas, kernel = metrics.ms_ssim_settings(size)
    assert len(betas) == scales and kernel == 11
    assert sum(betas) == pytest.approx(1.0)


def test_ms_ssim_diversity_runs_at_64px_and_ranks_collapse_higher() -> None:
    rng = np.random.default_rng(0)
    varied = rng.random((10, 64, 64)).astype(np.float32)
    base = rng.random((64, 64)).astype(np.float32)
    collapsed = np.clip(base + 0.02 * rng.standard_normal((10, 64, 64)), 0, 1).astype(np.float32)
    low = metrics.mean_pairwise_ms_ssim(varied, 20, np.random.default_rng(1))
    high = metrics.mean_pairwise_ms_ssim(collapsed, 20, np.random.default_rng(1))
    assert low < 0.5 < high <= 1.0


@pytest.mark.slow
def test_frd_on_tiny_sets_matches_frd_score_compute_frd(tmp_path) -> None:
    """Our in-memory path gives compute_frd's value on the same images written to folders."""
    from frd_score import compute_frd

    from factory.io import write_png16

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 32
    disk = (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.16).astype(float)
    real = np.clip(disk * 0.5 + 0.1 * rng.random((6, 32, 32)), 0, 1)
    fake = np.clip(disk * 0.6 + 0.2 * rng.random((6, 32, 32)), 0, 1)
    for name, images in (("real", real), ("fake", fake)):
        (tmp_path / name).mkdir()
        for i, image in enumerate(images):
            write_png16(tmp_path / name / f"{i}.png", np.round(image * 65535).astype(np.uint16))
    ours = metrics.frd(real, fake, workers=1)
    theirs = compute_frd([str(tmp_path / "real"), str(tmp_path / "fake")], num_workers=1)
    assert np.isfinite(ours)
    assert ours == pytest.approx(float(theirs), rel=1e-5)
    assert metrics.frd(real, real[::-1].copy(), workers=1) < ours
