"""The gate's computation on in-memory images: metrics, copy search, sanity, verdict.

No file I/O here (except frd-score's temporary PNGs): `factory.gate.run` loads the sets
and writes the outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from factory.errors import FactoryError
from factory.gate import memorization, metrics, sanity
from factory.gate.config import GateConfig
from factory.gate.features import build_extractor, extract_features
from factory.gate.gates import Check, evaluate


@dataclass(frozen=True)
class GateInputs:
    """The three image sets the gate compares; images [N, H, W] float32 in [0, 1]."""

    classes: tuple[str, ...]
    fake: np.ndarray
    fake_labels: np.ndarray
    train: np.ndarray  # the generator's own training images: the reference
    train_labels: np.ndarray
    train_ids: np.ndarray
    val: np.ndarray  # real held-out images: calibrate the copy threshold


@dataclass
class GateResult:
    """Everything the report and metrics.json show."""

    overall: dict[str, float | None]
    per_class: dict[str, dict[str, float | None]]
    per_image: pd.DataFrame  # one row per synthetic image, in input order
    thresholds: dict[str, memorization.Threshold]
    calibration: dict[str, np.ndarray]  # val images' nearest-train distances
    checks: list[Check]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _distribution_metrics(
    real_feats: np.ndarray,
    fake_feats: np.ndarray,
    real_frd: np.ndarray | None,
    fake_frd: np.ndarray | None,
    config: GateConfig,
    seed: int,
    where: str,
) -> dict[str, float | None]:
    for name, need in (("FID", 2), ("KID", 2), (f"PRDC (k={config.prdc_k})", config.prdc_k + 1)):
        metrics.require(name, len(real_feats), len(fake_feats), need, where)
    kid_mean, kid_std = metrics.kid(
        real_feats,
        fake_feats,
        subset_size=config.kid_subset_size,
        subsets=config.kid_subsets,
        seed=seed,
    )
    values: dict[str, float | None] = {
        "fid": metrics.fid(real_feats, fake_feats),
        "kid": kid_mean,
        "kid_std": kid_std,
        **metrics.prdc(real_feats, fake_feats, config.prdc_k),
    }
    if real_frd is not None and fake_frd is not None:
        metrics.require("FRD", len(real_frd), len(fake_frd), metrics.MIN_IMAGES["frd"], where)
        values["frd"] = metrics.frd_from_features(real_frd, fake_frd)
    else:
        values["frd"] = None
    return values


def _copy_search(
    inputs: GateInputs,
    train_feats: np.ndarray,
    val_feats: np.ndarray,
    fake_feats: np.ndarray,
    config: GateConfig,
) -> tuple[pd.DataFrame, dict[str, memorization.Threshold], dict[str, np.ndarray]]:
    """Nearest training image of every synthetic and val image, thresholds, flags."""
    fake_ncc, fake_ncc_idx = memorization.nearest_ncc(inputs.fake, inputs.train, config.max_shift)
    val_ncc, _ = memorization.nearest_ncc(inputs.val, inputs.train, config.max_shift)
    fake_fd, fake_fd_idx = memorization.nearest_feature(fake_feats, train_feats)
    val_fd, _ = memorization.nearest_feature(val_feats, train_feats)
    calibration = {"ncc_distance": 1 - val_ncc, "feature_distance": val_fd}
    thresholds = {
        name: memorization.calibrate(
            d, config.memorization_percentile, config.min_calibration_images, name
        )
        for name, d in calibration.items()
    }
    table = pd.DataFrame(
        {
            "nearest_real_ncc": fake_ncc,
            "nearest_real_id": inputs.train_ids[fake_ncc_idx],
            "nearest_real_feature_distance": fake_fd,
            "nearest_real_feature_id": inputs.train_ids[fake_fd_idx],
        }
    )
    table["memorized_ncc"] = (1 - fake_ncc) < thresholds["ncc_distance"].value
    table["memorized_feature"] = fake_fd < thresholds["feature_distance"].value
    table["memorized"] = table["memorized_ncc"] | table["memorized_feature"]
    return table, thresholds, calibration


def _check_sizes(inputs: GateInputs, config: GateConfig, present: list[int]) -> None:
    """Every metric's minimum set size, per class, checked up front."""
    if len(inputs.val) < config.min_calibration_images:
        raise FactoryError(
            f"memorization calibration needs at least {config.min_calibration_images} real "
            f"val images, got {len(inputs.val)}; give the val split more images or lower "
            "gate.min_calibration_images"
        )
    needs = {"FID": 2, "KID": 2, f"PRDC (k={config.prdc_k})": config.prdc_k + 1}
    if config.frd:
        needs["FRD"] = metrics.MIN_IMAGES["frd"]
    for c in present:
        n_real = int((inputs.train_labels == c).sum())
        n_fake = int((inputs.fake_labels == c).sum())
        for name, need in needs.items():
            metrics.require(name, n_real, n_fake, need, f"class {inputs.classes[c]!r}")


def assess(inputs: GateInputs, config: GateConfig, seed: int = 0) -> GateResult:
    """Compute every metric, flag copies and insane images, and judge the gates.

    The reference for the distribution metrics is the training images of the classes that
    have synthetic images (a class sampled 0 times is left out rather than counted as
    missing). Distribution metrics use all synthetic images: they describe the generator.
    """
    present = [c for c in range(len(inputs.classes)) if (inputs.fake_labels == c).any()]
    _check_sizes(inputs, config, present)  # fail before minutes of features, not after
    extractor = build_extractor(
        config.extractor,
        weights_path=config.weights_path,
        timm_model=config.timm_model,
        seed=config.feature_seed,
    )
    fake_feats = extract_features(inputs.fake, extractor, config.batch_size, "synthetic features")
    train_feats = extract_features(inputs.train, extractor, config.batch_size, "train features")
    val_feats = extract_features(inputs.val, extractor, config.batch_size, "val features")

    ref = np.isin(inputs.train_labels, present)
    train_frd = fake_frd = None
    if config.frd:
        metrics.require("FRD", int(ref.sum()), len(inputs.fake), metrics.MIN_IMAGES["frd"])
        train_frd = metrics.frd_features(inputs.train[ref], config.frd_workers)
        fake_frd = metrics.frd_features(inputs.fake, config.frd_workers)
    ref_labels = inputs.train_labels[ref]

    rng = np.random.default_rng(seed)
    overall = _distribution_metrics(
        train_feats[ref], fake_feats, train_frd, fake_frd, config, seed, "all classes"
    )
    per_class: dict[str, dict[str, float | None]] = {}
    for c in present:
        name = inputs.classes[c]
        fake_c = inputs.fake_labels == c
        real_c = ref_labels == c
        values = _distribution_metrics(
            train_feats[ref][real_c],
            fake_feats[fake_c],
            None if train_frd is None else train_frd[real_c],
            None if fake_frd is None else fake_frd[fake_c],
            config,
            seed,
            f"class {name!r}",
        )
        synth = metrics.mean_pairwise_ms_ssim(inputs.fake[fake_c], config.diversity_pairs, rng)
        real = metrics.mean_pairwise_ms_ssim(inputs.train[ref][real_c], config.diversity_pairs, rng)
        values.update(ms_ssim_synthetic=synth, ms_ssim_real=real, ms_ssim_gap=synth - real)
        values["count"] = float(fake_c.sum())
        per_class[name] = values
    for key in ("ms_ssim_synthetic", "ms_ssim_real", "ms_ssim_gap"):
        overall[key] = float(np.mean([v[key] for v in per_class.values()]))

    per_image, thresholds, calibration = _copy_search(
        inputs, train_feats, val_feats, fake_feats, config
    )
    real_stats = sanity.image_stats(inputs.train, config.breast_threshold)
    fake_stats = sanity.image_stats(inputs.fake, config.breast_threshold)
    ranges = sanity.allowed_ranges(real_stats, config.sanity_tolerance)
    per_image = pd.concat([per_image, fake_stats[list(sanity.RANGE_STATS)]], axis=1)
    per_image["sanity"] = sanity.sanity_reasons(fake_stats, ranges).to_numpy()
    per_image["accepted"] = ~per_image["memorized"] & (per_image["sanity"] == "")

    n = len(per_image)
    overall["memorized_fraction"] = float(per_image["memorized"].mean())
    overall["rejected_fraction"] = float(1 - per_image["accepted"].mean())
    for c in present:
        in_c = inputs.fake_labels == c
        per_class[inputs.classes[c]]["memorized_fraction"] = float(
            per_image["memorized"][in_c].mean()
        )
    overall = {k: _finite_or_none(v) for k, v in overall.items()}
    per_class = {c: {k: _finite_or_none(v) for k, v in d.items()} for c, d in per_class.items()}
    return GateResult(
        overall=overall,
        per_class=per_class,
        per_image=per_image,
        thresholds=thresholds,
        calibration=calibration,
        checks=evaluate(overall, per_class, config),
        counts={
            "synthetic": n,
            "accepted": int(per_image["accepted"].sum()),
            "memorized": int(per_image["memorized"].sum()),
            "failed_sanity": int((per_image["sanity"] != "").sum()),
            "real_train": len(inputs.train),
            "real_reference": int(ref.sum()),
            "real_val": len(inputs.val),
        },
    )


def _finite_or_none(value: float | None) -> float | None:
    """NaN/inf cannot go into JSON metrics: they become null (and fail any gate)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
