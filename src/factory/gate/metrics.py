"""Distribution metrics between real and synthetic sets: small pure functions.

Feature-based metrics take precomputed features [N, D] (see `factory.gate.features`), so
one pass of the network serves FID, KID, PRDC and the copy search, overall and per class.
FID and KID are torchmetrics' own, fed through a pass-through "feature network".
FRD uses the `frd-score` package's radiomics extractor and Fréchet distance.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from factory.errors import FactoryError

# Fewest images per set each metric needs (FactoryError names the metric otherwise).
MIN_IMAGES = {"fid": 2, "kid": 2, "frd": 3, "ms_ssim": 2}

# Standard MS-SSIM scale weights (Wang et al. 2003), finest first.
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_KERNEL = 11


def require(metric: str, n_real: int, n_fake: int, needed: int, where: str = "") -> None:
    """Raise a one-line error when a set is too small for `metric`."""
    if min(n_real, n_fake) < needed:
        scope = f" for {where}" if where else ""
        raise FactoryError(
            f"{metric} needs at least {needed} real and {needed} synthetic images{scope}, "
            f"got {n_real} real and {n_fake} synthetic; sample more images or lower the "
            "metric's settings"
        )


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, then restore the previous count.

    The metrics work on small matrices (hundreds x hundreds) in many small steps, where
    OpenMP hand-offs between threads cost more than they save; on a busy shared machine
    they stall badly (measured at load 12 on 2 cores: FID 8.9 s with 2 threads, 0.09 s
    with 1; KID 16 s vs 1.8 s).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Precomputed(nn.Module):
    """Identity 'feature network' so torchmetrics' FID/KID run on features we already have."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fid(real_feats: np.ndarray, fake_feats: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the two feature sets (torchmetrics)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    require("FID", len(real_feats), len(fake_feats), MIN_IMAGES["fid"])
    # sync_on_compute=False: under torch.distributed every rank holds all the features
    # already; torchmetrics would otherwise sum the ranks' states (n doubled, other value)
    metric = FrechetInceptionDistance(
        feature=_Precomputed(real_feats.shape[1]), sync_on_compute=False
    )
    with one_thread():
        metric.update(torch.from_numpy(np.asarray(real_feats, np.float64)), real=True)
        metric.update(torch.from_numpy(np.asarray(fake_feats, np.float64)), real=False)
        return max(float(metric.compute()), 0.0)


def kid(
    real_feats: np.ndarray,
    fake_feats: np.ndarray,
    *,
    subset_size: int = 1000,
    subsets: int = 100,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over random subsets), torchmetrics' estimator.

    The subset size shrinks to min(n_real, n_fake) on small sets, where torchmetrics'
    default of 1000 would fail. Subsets are drawn from a fixed seed (deterministic).
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    require("KID", len(real_feats), len(fake_feats), MIN_IMAGES["kid"])
    size = min(subset_size, len(real_feats), len(fake_feats))
    with warnings.catch_warnings():  # "will save all features in buffer": we mean to
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(
            feature=_Precomputed(real_feats.shape[1]),
            subsets=subsets,
            subset_size=size,
            sync_on_compute=False,  # as in fid: each rank has every feature
        )
    metric.update(torch.from_numpy(np.asarray(real_feats, np.float64)), real=True)
    metric.update(torch.from_numpy(np.asarray(fake_feats, np.float64)), real=False)
    with one_thread(), torch.random.fork_rng(devices=[]):  # subsets come from the global RNG
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def prdc(real_feats: np.ndarray, fake_feats: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) with k nearest neighbours.

    Written here (30 lines of torch) because no maintained package provides it: the
    authors' `prdc` package is a 2020 numpy reference, not installed, and torchmetrics has
    none. Follows that reference: radii are the distance to the k-th nearest neighbour
    within the same set (self excluded), comparisons are strict.
    """
    require(f"precision/recall/density/coverage (k={k})", len(real_feats), len(fake_feats), k + 1)
    real = torch.from_numpy(np.asarray(real_feats, np.float64))
    fake = torch.from_numpy(np.asarray(fake_feats, np.float64))
    with one_thread():
        real_radius = _kth_neighbour_distance(real, k)
        fake_radius = _kth_neighbour_distance(fake, k)
        d = torch.cdist(real, fake)  # [n_real, n_fake]
    inside_real = d < real_radius[:, None]
    return {
        "precision": float(inside_real.any(dim=0).double().mean()),
        "recall": float((d < fake_radius[None, :]).any(dim=1).double().mean()),
        "density": float(inside_real.double().sum(dim=0).mean() / k),
        "coverage": float((d.min(dim=1).values < real_radius).double().mean()),
    }


def _kth_neighbour_distance(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the point itself (0)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), NVlabs/edm style (scipy sqrtm)."""
    import scipy.linalg

    covmean, _ = scipy.linalg.sqrtm(sigma1 @ sigma2, disp=False)
    return float(np.square(mu1 - mu2).sum() + np.trace(sigma1 + sigma2 - 2 * np.real(covmean)))


# --- FRD ----------------------------------------------------------------------------------


def frd_features(images: np.ndarray, workers: int = 2) -> np.ndarray:
    """Radiomics features (FRD v1: original + LoG + wavelet images, ~400 values) per image.

    frd-score reads images from files, so the images are written as 16-bit PNGs to a
    temporary folder and each goes through its `process_image_mask_pair` (what its
    `compute_features` maps over a pool) with the extractor `compute_frd` builds for 2-D
    images; the pool is ours only to show progress. Rows may hold NaN: see
    `frd_from_features`.
    """
    from frd_score import frd as frd_lib

    from factory.io import write_png16

    frd_lib._ensure_radiomics()
    frd_lib.setVerbosity(60)  # pyradiomics logs every image otherwise
    # ... and through the root logger too once any library has configured logging
    # (seen in benchmarks/gate_time.py: thousands of INFO lines per run).
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = frd_lib.get_feature_extractor(frd_version="v1", image_dim=2)
    one = partial(frd_lib.process_image_mask_pair, feature_extractor=extractor, frd_version="v1")
    with tempfile.TemporaryDirectory(prefix="frd-") as tmp:
        pairs = []
        for i, image in enumerate(images):
            path = Path(tmp) / f"{i:06d}.png"
            write_png16(path, np.round(np.clip(image, 0, 1) * 65535).astype(np.uint16))
            pairs.append((path, None))
        progress = {"desc": "FRD radiomics", "unit": "img", "total": len(pairs), "leave": False}
        if workers <= 1:
            results = [one(pair) for pair in tqdm(pairs, **progress)]
        else:
            with mp.Pool(processes=workers) as pool:
                results = list(tqdm(pool.imap(one, pairs, chunksize=4), **progress))
    failed = sum(r is None for r in results)
    if failed:
        raise FactoryError(
            f"FRD: radiomics features failed for {failed} of {len(images)} images "
            "(empty or constant images?)"
        )
    return np.asarray([r[0] for r in results], dtype=np.float64).reshape(len(images), -1)


def frd_from_features(real_feats: np.ndarray, fake_feats: np.ndarray) -> float:
    """FRD v1 from radiomics features, as `frd_score.compute_frd` does it.

    Rows with NaN are dropped, features are z-scored with the real set's statistics
    (paper Eq. 3), columns left non-finite are dropped, and the value is log(d_F^2).
    """
    from frd_score import frd as frd_lib

    real = real_feats[~np.isnan(real_feats).any(axis=1)].astype(np.float32)
    fake = fake_feats[~np.isnan(fake_feats).any(axis=1)].astype(np.float32)
    require("FRD", len(real), len(fake), MIN_IMAGES["frd"])
    normed = [
        frd_lib.z_score_normalize(
            features=f,
            new_min=0.0,
            new_max=1.0,
            feature_names=None,
            base_distribution=real,
            replace_nan=False,
            handle_std_zero=False,
        )
        for f in (real, fake)
    ]
    keep = np.ones(real.shape[1], dtype=bool)
    for f in normed:
        keep &= np.isfinite(f).all(axis=0)
    normed = [f[:, keep] for f in normed]
    d2 = frd_lib.calculate_frechet_distance(
        normed[0].mean(axis=0),
        np.cov(normed[0], rowvar=False),
        normed[1].mean(axis=0),
        np.cov(normed[1], rowvar=False),
    )
    return float(np.log(d2)) if d2 > 0 else float("-inf")


def frd(real_images: np.ndarray, fake_images: np.ndarray, workers: int = 2) -> float:
    """Fréchet Radiomics Distance (v1) between two image sets [N, H, W] in [0, 1]."""
    require("FRD", len(real_images), len(fake_images), MIN_IMAGES["frd"])
    return frd_from_features(frd_features(real_images, workers), frd_features(fake_images, workers))


# --- diversity ------------------------------------------------------------------------


def ms_ssim_settings(size: int) -> tuple[tuple[float, ...], int]:
    """MS-SSIM scale weights and kernel size that fit an image side of `size` pixels.

    torchmetrics needs size // (scales - 1)^2 > kernel - 1. At 256 px and up the standard
    five scales and 11 px kernel fit; smaller images keep the 11 px kernel and drop the
    coarsest scales (64 px: 3 scales, 32 and 16 px: 2), renormalising the remaining
    standard weights to sum to 1.
    """
    for scales in range(len(MS_SSIM_BETAS), 1, -1):
        if size // (scales - 1) ** 2 > MS_SSIM_KERNEL - 1 and size >= 2**scales:
            betas = np.asarray(MS_SSIM_BETAS[:scales])
            return tuple(float(b) for b in betas / betas.sum()), MS_SSIM_KERNEL
    raise FactoryError(f"MS-SSIM needs images of at least 16 px, got {size} px")


def mean_pairwise_ms_ssim(
    images: np.ndarray, pairs: int, rng: np.random.Generator, batch_size: int = 64
) -> float:
    """Mean MS-SSIM over `pairs` random distinct pairs (all pairs if there are fewer).

    High values mean the images look alike: within a class, a synthetic set far above the
    real set's value has collapsed onto a few modes.
    """
    n = len(images)
    if n < MIN_IMAGES["ms_ssim"]:
        raise FactoryError(f"MS-SSIM diversity needs at least 2 images per set, got {n}")
    all_pairs = n * (n - 1) // 2
    if all_pairs <= pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        i = rng.integers(0, n, size=pairs)
        j = (i + rng.integers(1, n, size=pairs)) % n  # j != i
    betas, kernel = ms_ssim_settings(min(images.shape[-2:]))
    with one_thread():
        values = _ms_ssim_pairs(images, i, j, betas, kernel, batch_size)
    return float(torch.cat(values).mean())


def _ms_ssim_pairs(
    images: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    betas: tuple[float, ...],
    kernel: int,
    batch_size: int,
) -> list[torch.Tensor]:
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    values = []
    for start in range(0, len(i), batch_size):
        a = torch.from_numpy(images[i[start : start + batch_size]]).float()[:, None]
        b = torch.from_numpy(images[j[start : start + batch_size]]).float()[:, None]
        values.append(
            multiscale_structural_similarity_index_measure(
                a, b, data_range=1.0, kernel_size=kernel, betas=betas, reduction="none"
            )
        )
    return values
