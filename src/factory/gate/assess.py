"""The gate's computation on in-memory images: metrics, references, tests, verdict.

No file I/O here (except frd-score's temporary PNGs): `factory.gate.run` loads the sets
and writes the outputs. `assess` runs, in order: features; every distribution metric
beside its real-versus-real reference (`factory.gate.reference`); the detectability
two-sample tests (`factory.gate.detect`); class fidelity (`factory.gate.fidelity`); the
copy search and per-image sanity; then `factory.gate.gates.evaluate` judges every gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from factory import shard
from factory.errors import FactoryError
from factory.gate import cnn, detect, memorization, metrics, sanity
from factory.gate.config import GateConfig
from factory.gate.detect import AucResult
from factory.gate.features import build_extractor, extract_features
from factory.gate.fidelity import Fidelity, class_fidelity
from factory.gate.gates import Check, Measured, evaluate
from factory.gate.parts import Parts
from factory.gate.realset import RealSet
from factory.gate.reference import ImageSet, compare_scope, set_metrics, within_class_ms_ssim


@dataclass(frozen=True)
class GateInputs:
    """The three image sets the gate compares; images [N, H, W] float32 in [0, 1].

    `train` is read lazily (`factory.gate.realset.RealSet`, gate.chunk_images at a time):
    the gate never holds every training image. An array given here is wrapped in one.
    """

    classes: tuple[str, ...]
    fake: np.ndarray
    fake_labels: np.ndarray
    train: RealSet  # the generator's own training images: the reference
    train_labels: np.ndarray
    train_ids: np.ndarray
    val: np.ndarray  # real held-out images: the real-vs-real reference and copy threshold
    val_labels: np.ndarray
    fake_shas: np.ndarray | None = None  # sha256 of each PNG (radiomics cache keys);
    val_shas: np.ndarray | None = None  # None: computed from the pixels when needed

    def __post_init__(self) -> None:
        if not isinstance(self.train, RealSet):
            train = RealSet.from_array(self.train, self.train_labels, self.train_ids)
            object.__setattr__(self, "train", train)


@dataclass
class GateResult:
    """Everything the report and metrics.json show."""

    overall: dict[str, float | None]  # the whole synthetic set vs train
    per_class: dict[str, dict[str, float | None]]
    per_image: pd.DataFrame  # one row per synthetic image, in input order
    thresholds: dict[str, memorization.Threshold]
    calibration: dict[str, np.ndarray]  # val images' nearest-train distances
    checks: list[Check]
    counts: dict[str, int] = field(default_factory=dict)
    measured: dict[str, dict[str, Measured]] = field(default_factory=dict)
    detectability: dict[str, dict[str, AucResult]] = field(default_factory=dict)
    detect_scores: tuple[str, np.ndarray, np.ndarray] | None = None  # probe, rows, P(synth)
    fidelity: Fidelity | None = None
    parts: dict[str, dict] = field(default_factory=dict)  # factory.gate.parts, per part

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass(frozen=True)
class _Sets:
    """Train (classes with synthetic images), val (same classes) and synthetic sets."""

    train: ImageSet
    val: ImageSet
    fake: ImageSet
    present: list[int]
    train_all_feats: np.ndarray  # every train image (the copy search looks at all)
    val_all_feats: np.ndarray


def _copy_search(
    inputs: GateInputs,
    train_feats: np.ndarray,
    val_feats: np.ndarray,
    fake_feats: np.ndarray,
    config: GateConfig,
) -> tuple[pd.DataFrame, dict[str, memorization.Threshold], dict[str, np.ndarray]]:
    """Nearest training image of every synthetic and val image, thresholds, flags.

    The NCC search is gate.copy_search: `shortlist` compares each query (synthetic, and
    val for the calibration, the same way) only with its gate.copy_shortlist nearest
    training images by extractor-feature distance and its gate.copy_shortlist nearest by
    thumbnail correlation (at most 2 x copy_shortlist; see `factory.gate.memorization`);
    `exhaustive` with every training image, streamed gate.chunk_images at a time.
    """

    train_thumbs = None
    if config.copy_search == "shortlist":  # one more pass over the training images
        train_thumbs = memorization.thumbnails(inputs.train, config.chunk_images)
        shift = memorization.thumbnail_shift(min(inputs.train.shape[1:]), config.max_shift)

    def ncc(queries: np.ndarray, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if train_thumbs is None:
            return memorization.nearest_ncc(
                queries,
                inputs.train,
                config.max_shift,
                ref_chunk=config.chunk_images,
                mapper=shard.map_shards,
            )
        k = config.copy_shortlist
        thumbs = memorization.thumbnails(queries, config.chunk_images)
        candidates = np.concatenate(
            [
                memorization.shortlist(feats, train_feats, k),
                memorization.thumbnail_shortlist(thumbs, train_thumbs, k, shift),
            ],
            axis=1,
        )
        return memorization.shortlist_ncc(
            queries,
            inputs.train,
            candidates,
            config.max_shift,
            config.chunk_images,
            shard.map_shards,
        )

    fake_ncc, fake_ncc_idx = ncc(inputs.fake, fake_feats)
    val_ncc, _ = ncc(inputs.val, val_feats)
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


def _radiomics(images, shas: np.ndarray | None, config: GateConfig, cache) -> np.ndarray:
    """FRD radiomics rows of a set (array or RealSet), one image loaded at a time, from
    the cache where it has them (`factory.gate.radiomics`)."""
    from factory.gate.radiomics import image_sha, radiomics_features

    if shas is None:
        shas = [image_sha(images[i]) for i in range(len(images))]
    return radiomics_features(
        list(shas), images.__getitem__, cache, config.frd_workers, shard.map_shards
    )


def _features(
    inputs: GateInputs, config: GateConfig, present: list[int], parts: Parts, cache=None
) -> _Sets:
    """Extractor features (on the GPU when there is one) and radiomics of the three sets.

    The training images are read one feature batch at a time; batches are dealt out over
    the stage's processes (`factory.shard.map_shards`).
    """
    with parts.part("features"):
        extractor = build_extractor(
            config.extractor,
            weights_path=config.weights_path,
            timm_model=config.timm_model,
            seed=config.feature_seed,
        )
        dev = cnn.device()
        feats = [
            extract_features(
                images, extractor, config.batch_size, f"{what} features", dev, shard.map_shards
            )
            for images, what in (
                (inputs.fake, "synthetic"),
                (inputs.train, "train"),
                (inputs.val, "val"),
            )
        ]
    ref = np.isin(inputs.train_labels, present)
    val_ref = np.isin(inputs.val_labels, present)
    train = inputs.train.subset(ref)
    frd = [None, None, None]
    if config.frd:
        metrics.require("FRD", int(ref.sum()), len(inputs.fake), metrics.MIN_IMAGES["frd"])
        val_shas = None if inputs.val_shas is None else inputs.val_shas[val_ref]
        with parts.part("radiomics"):
            frd = [
                _radiomics(images, shas, config, cache) if len(images) else None
                for images, shas in (
                    (inputs.fake, inputs.fake_shas),
                    (train, train.shas),
                    (inputs.val[val_ref], val_shas),
                )
            ]
    return _Sets(
        train=ImageSet(train, inputs.train_labels[ref], feats[1][ref], frd[1]),
        val=ImageSet(inputs.val[val_ref], inputs.val_labels[val_ref], feats[2][val_ref], frd[2]),
        fake=ImageSet(inputs.fake, inputs.fake_labels, feats[0], frd[0]),
        present=present,
        train_all_feats=feats[1],
        val_all_feats=feats[2],
    )


def _of_class(s: ImageSet, c: int) -> ImageSet:
    return s.take(np.flatnonzero(s.labels == c))


def _distribution(
    sets: _Sets, classes: tuple[str, ...], config: GateConfig, seed: int
) -> tuple[dict, dict, dict[str, dict[str, Measured]]]:
    """Whole-set values (overall, per class) and the equal-size comparisons per scope."""
    rng = np.random.default_rng(seed)
    scopes = {"overall": (sets.train, sets.val, sets.fake)}
    for c in sets.present:
        scopes[classes[c]] = tuple(_of_class(s, c) for s in (sets.train, sets.val, sets.fake))
    whole, measured = {}, {}
    for scope, (train, val, fake) in scopes.items():
        train_ms = within_class_ms_ssim(train, config.diversity_pairs, rng)
        whole[scope] = set_metrics(train, fake, train_ms, config, seed, rng)
        measured[scope] = compare_scope(
            train, val, fake, scope, config, seed, train_ms, whole[scope]
        )
    overall = whole.pop("overall")
    for scope, values in whole.items():
        values["count"] = float(len(scopes[scope][2]))
    return overall, whole, measured


def _detectability(
    sets: _Sets, config: GateConfig, seed: int
) -> tuple[dict[str, dict[str, AucResult]], tuple | None]:
    """Each probe: real train vs (class-matched) synthetic, and real val vs real train."""
    rng = np.random.default_rng(seed)
    matched = detect.matched_subset(sets.fake.labels, sets.train.labels, rng)
    views = {"features": "feats", "radiomics": "frd", "cnn": "images"}
    out, best = {}, None
    for probe in config.detectability:
        if probe == "radiomics" and sets.train.frd is None:
            continue  # gate.frd off and radiomics left at its default: nothing to test
        test = detect.cnn_two_sample if probe == "cnn" else detect.linear_two_sample
        real = getattr(sets.train, views[probe])
        fake = getattr(sets.fake, views[probe])[matched]
        val = getattr(sets.val, views[probe])
        out[probe] = {
            "synthetic": test(real, fake, config, seed, f"detectability ({probe})"),
            "reference": test(real, val, config, seed, f"detectability reference ({probe})")
            if len(val)
            else AucResult(None, None, len(real), 0, note="no val images"),
        }
        syn = out[probe]["synthetic"]
        if syn.auc is not None and (best is None or syn.auc > out[best]["synthetic"].auc):
            best = probe
    scores = None if best is None else (best, matched, out[best]["synthetic"].scores)
    return out, scores


def _fidelity(sets: _Sets, classes: tuple[str, ...], config: GateConfig, seed: int):
    if not config.class_fidelity or len(classes) != 2 or len(sets.present) != 2:
        return None
    if config.class_fidelity_model == "cnn":
        parts = [s.images for s in (sets.train, sets.val, sets.fake)]
    else:
        parts = [
            s.feats if s.frd is None else np.concatenate([s.feats, s.frd], axis=1)
            for s in (sets.train, sets.val, sets.fake)
        ]
    return class_fidelity(
        parts[0],
        sets.train.labels,
        (parts[1], sets.val.labels),
        (parts[2], sets.fake.labels),
        classes,
        config,
        seed,
    )


def _auc_measured(syn: AucResult, ref: AucResult | None) -> Measured:
    sd = None if syn.ci95 is None else (syn.ci95[1] - syn.ci95[0]) / (2 * 1.96)
    ref_sd = None if ref is None or ref.ci95 is None else (ref.ci95[1] - ref.ci95[0]) / 3.92
    notes = [n for n in (syn.note, "" if ref is None else ref.note) if n]
    return Measured(
        value=syn.auc,
        value_sd=sd,
        reference=None if ref is None else ref.auc,
        reference_sd=ref_sd,
        n_synthetic=syn.n_other,
        n_reference=None if ref is None else ref.n_other,
        note="; ".join(notes),
    )


def _tests_measured(result: GateResult, classes: tuple[str, ...]) -> None:
    """Detectability and class-fidelity results as rows of `result.measured`."""
    overall = result.measured.setdefault("overall", {})
    for probe, pair in result.detectability.items():
        overall[f"detectability_auc_{probe}"] = _auc_measured(pair["synthetic"], pair["reference"])
    fid = result.fidelity
    if fid is None:
        return
    overall["class_fidelity_auc"] = _auc_measured(fid.synthetic, fid.val)
    for name, (syn, val) in fid.agreement.items():
        result.measured.setdefault(name, {})["class_agreement"] = Measured(
            syn,
            reference=val,
            note="share of images the real-trained classifier puts in their own class",
        )


def _per_image(
    inputs: GateInputs, sets: _Sets, config: GateConfig, parts: Parts
) -> tuple[pd.DataFrame, dict[str, memorization.Threshold], dict[str, np.ndarray]]:
    """Copy search and sanity flags of every synthetic image; `accepted` = neither."""
    with parts.part("copy_search"):
        per_image, thresholds, calibration = _copy_search(
            inputs, sets.train_all_feats, sets.val_all_feats, sets.fake.feats, config
        )
    with parts.part("sanity"):
        real_stats = sanity.set_stats(inputs.train, config.breast_threshold, config.chunk_images)
        fake_stats = sanity.image_stats(inputs.fake, config.breast_threshold)
    ranges = sanity.allowed_ranges(real_stats, config.sanity_tolerance)
    per_image = pd.concat([per_image, fake_stats[list(sanity.RANGE_STATS)]], axis=1)
    per_image["sanity"] = sanity.sanity_reasons(fake_stats, ranges).to_numpy()
    per_image["accepted"] = ~per_image["memorized"] & (per_image["sanity"] == "")
    return per_image, thresholds, calibration


def _fractions(result: GateResult, inputs: GateInputs) -> None:
    """Memorized and rejected fractions into the values and the measured rows."""
    table = result.per_image
    memorized, rejected = float(table["memorized"].mean()), float(1 - table["accepted"].mean())
    result.overall |= {"memorized_fraction": memorized, "rejected_fraction": rejected}
    n = len(table)
    result.measured["overall"]["memorized_fraction"] = Measured(memorized, n_synthetic=n)
    result.measured["overall"]["rejected_fraction"] = Measured(rejected, n_synthetic=n)
    for name, values in result.per_class.items():
        in_c = inputs.fake_labels == inputs.classes.index(name)
        values["memorized_fraction"] = float(table["memorized"][in_c].mean())


def assess(
    inputs: GateInputs,
    config: GateConfig,
    seed: int = 0,
    parts: Parts | None = None,
    radiomics_cache=None,
) -> GateResult:
    """Compute every metric and test, flag copies and insane images, judge the gates.

    `parts` (`factory.gate.parts.Parts`) times and measures each part (a fresh one when
    None; `GateResult.parts` holds its table). `radiomics_cache`: a
    `factory.gate.radiomics.RadiomicsCache` (None: radiomics kept in memory only).

    The reference for the distribution metrics is the training images of the classes that
    have synthetic images (a class sampled 0 times is left out rather than counted as
    missing); the same metrics of real val images against them are the real-vs-real
    reference. Whole-set values (`overall`, `per_class`) use every synthetic image.
    """
    present = [c for c in range(len(inputs.classes)) if (inputs.fake_labels == c).any()]
    _check_sizes(inputs, config, present)  # fail before minutes of features, not after
    parts = Parts() if parts is None else parts
    sets = _features(inputs, config, present, parts, radiomics_cache)
    with detect.one_thread():
        with parts.part("references"):
            overall, per_class, measured = _distribution(sets, inputs.classes, config, seed)
        with parts.part("two_sample"):
            detectability, scores = _detectability(sets, config, seed)
            fidelity = _fidelity(sets, inputs.classes, config, seed)
    per_image, thresholds, calibration = _per_image(inputs, sets, config, parts)
    result = GateResult(
        overall=overall,
        per_class=per_class,
        per_image=per_image,
        thresholds=thresholds,
        calibration=calibration,
        checks=[],
        measured=measured,
        detectability=detectability,
        detect_scores=scores,
        fidelity=fidelity,
        parts=parts.as_dict(),
    )
    _fractions(result, inputs)
    _tests_measured(result, inputs.classes)
    result.overall = {k: _finite_or_none(v) for k, v in result.overall.items()}
    result.per_class = {
        c: {k: _finite_or_none(v) for k, v in d.items()} for c, d in result.per_class.items()
    }
    result.checks = evaluate(result.measured, config)
    result.counts = {
        "synthetic": len(per_image),
        "accepted": int(per_image["accepted"].sum()),
        "memorized": int(per_image["memorized"].sum()),
        "failed_sanity": int((per_image["sanity"] != "").sum()),
        "real_train": len(inputs.train),
        "real_reference": len(sets.train),
        "real_val": len(inputs.val),
    }
    return result


def _finite_or_none(value: float | None) -> float | None:
    """NaN/inf cannot go into JSON metrics: they become null (and fail any gate)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
