"""Distribution metrics beside their real-versus-real reference, at equal set sizes.

Every metric here is "a set against the real TRAIN images". The reference is the real
VAL set against train: what an honest new sample of the same population scores. FID, KID,
FRD and PRDC all depend on the set size (FID and FRD are biased upwards on small sets), so
the synthetic set is compared at the val set's size: `reference_subsets` random subsets,
each with the val set's count of every class, give a mean and a standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factory.gate import metrics
from factory.gate.config import DISTRIBUTION_METRICS, GateConfig
from factory.gate.gates import Measured
from factory.gate.realset import RealSet


@dataclass(frozen=True)
class ImageSet:
    """One set in every representation the metrics need (rows aligned)."""

    images: np.ndarray | RealSet  # [N, H, W] in [0, 1]; train: read lazily
    labels: np.ndarray
    feats: np.ndarray  # extractor features [N, D]
    frd: np.ndarray | None  # radiomics features [N, R], None when gate.frd is off

    def take(self, index: np.ndarray) -> ImageSet:
        frd = None if self.frd is None else self.frd[index]
        return ImageSet(_take(self.images, index), self.labels[index], self.feats[index], frd)

    def __len__(self) -> int:
        return len(self.labels)


def _take(images: np.ndarray | RealSet, index: np.ndarray) -> np.ndarray | RealSet:
    """Rows of an array, or a lazy view on rows of a RealSet (nothing read)."""
    return images.subset(index) if isinstance(images, RealSet) else images[index]


def needs(config: GateConfig) -> dict[str, int]:
    """Fewest images per set each metric needs."""
    prdc = config.prdc_k + 1
    return {
        "fid": metrics.MIN_IMAGES["fid"],
        "kid": metrics.MIN_IMAGES["kid"],
        "frd": metrics.MIN_IMAGES["frd"],
        "precision": prdc,
        "recall": prdc,
        "density": prdc,
        "coverage": prdc,
        "ms_ssim_gap": metrics.MIN_IMAGES["ms_ssim"],
    }


def within_class_ms_ssim(s: ImageSet, pairs: int, rng: np.random.Generator) -> float | None:
    """Mean over classes of the mean pairwise MS-SSIM within the class (None if no class
    has two images)."""
    # A RealSet's subset stays lazy: MS-SSIM reads only the sampled pairs' images.
    values = [
        metrics.mean_pairwise_ms_ssim(_take(s.images, s.labels == c), pairs, rng)
        for c in np.unique(s.labels)
        if (s.labels == c).sum() >= metrics.MIN_IMAGES["ms_ssim"]
    ]
    return float(np.mean(values)) if values else None


def set_metrics(
    real: ImageSet,
    other: ImageSet,
    real_ms_ssim: float | None,
    config: GateConfig,
    seed: int,
    rng: np.random.Generator,
) -> dict[str, float | None]:
    """Every distribution metric of `other` against `real` (None where too few images)."""
    n = min(len(real), len(other))
    need = needs(config)
    out: dict[str, float | None] = dict.fromkeys(DISTRIBUTION_METRICS)
    if n >= need["fid"]:
        out["fid"] = metrics.fid(real.feats, other.feats)
        out["kid"] = metrics.kid(
            real.feats,
            other.feats,
            subset_size=config.kid_subset_size,
            subsets=config.kid_subsets,
            seed=seed,
        )[0]
    if n >= need["precision"]:
        out.update(metrics.prdc(real.feats, other.feats, config.prdc_k))
    if real.frd is not None and other.frd is not None and n >= need["frd"]:
        out["frd"] = metrics.frd_from_features(real.frd, other.frd)
    if real_ms_ssim is not None:  # None: skipped (see compare_scope)
        ms = within_class_ms_ssim(other, config.diversity_pairs, rng)
        out["ms_ssim_gap"] = None if ms is None else ms - real_ms_ssim
    return out


def stratified_subsets(
    labels: np.ndarray, counts: dict[int, int], repeats: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """`repeats` index sets with counts[c] images of every class c (all of them if fewer)."""
    pools = {c: np.flatnonzero(labels == c) for c in counts}
    if all(len(pools[c]) <= counts[c] for c in counts):
        repeats = 1  # every subset would be the whole set
    return [
        np.sort(
            np.concatenate(
                [rng.choice(pools[c], min(counts[c], len(pools[c])), replace=False) for c in counts]
            )
        )
        for _ in range(repeats)
    ]


def _note(scope: str, n_val: int, need: int, config: GateConfig) -> tuple[str, bool]:
    where = "val" if scope == "overall" else f"val class {scope!r}"
    if n_val < need:
        return (
            f"{where} has {n_val} images, too few for a reference (need {need}); give the val "
            "split more images (ingest.split)",
            False,
        )
    if n_val < config.min_reference_images:
        return (
            f"val too small for a stable reference: {where} has {n_val} images, need "
            f"{config.min_reference_images} (gate.min_reference_images; or more val "
            "images via ingest.split)",
            False,
        )
    return "", True


def compare_scope(
    train: ImageSet,
    val: ImageSet,
    fake: ImageSet,
    scope: str,
    config: GateConfig,
    seed: int,
    train_ms_ssim: float | None,
    whole: dict[str, float | None],
) -> dict[str, Measured]:
    """Each metric of synthetic subsets (val's class counts) and of val, against train.

    MS-SSIM is the exception: a mean over image pairs does not depend on the set size, so
    its synthetic value is the whole set's (`whole`, from `set_metrics` on every synthetic
    image), and `train_ms_ssim` (train's within-class MS-SSIM) is computed once.
    """
    rng = np.random.default_rng(seed)
    reference = set_metrics(train, val, train_ms_ssim, config, seed, rng)
    counts = {int(c): int((val.labels == c).sum()) for c in np.unique(fake.labels)}
    counts = {c: n for c, n in counts.items() if n > 0}
    if counts:
        subsets = stratified_subsets(fake.labels, counts, config.reference_subsets, rng)
    else:  # no val image of these classes: the whole synthetic set, without a reference
        subsets = [np.arange(len(fake))]
    runs = [set_metrics(train, fake.take(i), None, config, seed, rng) for i in subsets]
    n_syn = len(subsets[0])
    out = {}
    for name, need in needs(config).items():
        note, usable = _note(scope, len(val), need, config)
        values = [r[name] for r in runs if r[name] is not None and np.isfinite(r[name])]
        n = n_syn
        if name == "ms_ssim_gap":
            values, n = [whole[name]] if whole.get(name) is not None else [], len(fake)
        elif n_syn < sum(counts.values()):
            note = (note + "; " if note else "") + (
                f"fewer synthetic than val images: all {n_syn} compared"
            )
        out[name] = Measured(
            value=float(np.mean(values)) if values else None,
            value_sd=float(np.std(values, ddof=1)) if len(values) > 1 else None,
            reference=reference[name],
            n_synthetic=n,
            n_reference=len(val),
            note=note,
            usable=usable and reference[name] is not None,
        )
    return out
