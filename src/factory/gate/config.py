"""Config of the `gate` stage (pydantic and stdlib only: loading it never imports torch).

Thresholds left at `null` are reported, not gated. The defaults are the paper-scale
choices (Inception features); the demo profile in params.yaml switches to the weight-free
extractor so the pipeline runs offline.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from factory.config import Section

ExtractorName = Literal["inception", "timm", "random_cnn"]
Probe = Literal["features", "radiomics", "cnn"]


class GateConfig(Section):
    """Quality, diversity, privacy and sanity checks between the synthetic and real sets."""

    # --- launch and scale (issue 16) ---------------------------------------------------
    processes: int = Field(
        1,
        ge=1,
        description="Worker processes the stage starts (GPUs, or CPU processes with gloo), "
        "as train.processes: features, radiomics and the two-sample classifiers are dealt "
        "out over them; results are identical to one process.",
    )
    chunk_images: int = Field(
        256,
        ge=1,
        le=1_000_000,
        description="Real training images held in memory at once: features, sanity "
        "statistics and the copy search stream the training set in chunks of this many.",
    )
    copy_search: Literal["shortlist", "exhaustive"] = Field(
        "shortlist",
        description="NCC copy search: shortlist = only the gate.copy_shortlist nearest "
        "training images by feature distance are compared at every shift; exhaustive = "
        "every training image (cost grows with N_synthetic x N_train).",
    )
    copy_shortlist: int = Field(
        32,
        ge=1,
        le=100_000,
        description="k of the shortlist copy search: per query, the top k training images "
        "by extractor-feature distance united with the top k by NCC of 32x32 thumbnails "
        "(at most 2k), compared at every shift.",
    )
    radiomics_cache: bool = Field(
        True,
        description="Keep per-image radiomics features under the gate's outputs, keyed by "
        "the image's sha256 and the frd-score/pyradiomics versions: a rerun (new "
        "thresholds) computes none again.",
    )

    # --- features ---------------------------------------------------------------------
    extractor: ExtractorName = Field(
        "inception",
        description="Feature network for FID, KID, precision/recall/density/coverage and "
        "the feature-space memorization search: inception (torch-fidelity's FID "
        "InceptionV3), timm (gate.timm_model, pretrained), random_cnn (weight-free, "
        "fixed-seed random CNN; offline).",
    )
    weights_path: str | None = Field(
        None,
        description="Local weights file for the inception or timm extractor; null = the "
        "usual download (fails offline with a message saying how to provide them).",
    )
    timm_model: str = Field(
        "resnet50.a1_in1k", min_length=1, description="timm model name when extractor=timm."
    )
    feature_seed: int = Field(
        0, ge=0, description="Seed of the random_cnn weights (fixed so values compare across runs)."
    )
    batch_size: int = Field(32, ge=1, le=4096, description="Images per feature forward pass.")

    # --- metric settings --------------------------------------------------------------
    kid_subsets: int = Field(100, ge=1, le=10_000, description="Random subsets KID averages.")
    kid_subset_size: int = Field(
        1000,
        ge=2,
        description="KID subset size; shrinks to min(n_real, n_fake) on smaller sets.",
    )
    prdc_k: int = Field(
        5, ge=1, le=100, description="Nearest neighbours k for precision/recall/density/coverage."
    )
    frd: bool = Field(True, description="Compute FRD (radiomics; the slowest metric).")
    frd_workers: int = Field(2, ge=1, le=256, description="Processes for radiomics features.")
    diversity_pairs: int = Field(
        200, ge=1, le=1_000_000, description="Random image pairs per class and set for MS-SSIM."
    )

    # --- memorization -----------------------------------------------------------------
    memorization_percentile: float = Field(
        1.0,
        ge=0,
        le=100,
        description="A synthetic image closer to a training image than this percentile of "
        "the real val images' nearest-training distances is flagged and removed.",
    )
    max_shift: int = Field(
        2, ge=0, le=16, description="Pixel shifts (+-) searched by the NCC copy detector."
    )
    min_calibration_images: int = Field(
        5, ge=2, description="Fewest real val images the memorization threshold accepts."
    )

    # --- per-image sanity -------------------------------------------------------------
    breast_threshold: float = Field(
        0.05, gt=0, lt=1, description="Intensity (0-1) above which a pixel counts as breast."
    )
    sanity_tolerance: float = Field(
        0.25,
        ge=0,
        le=10,
        description="Widen the real images' [min, max] of area fraction and intensity by "
        "this fraction of its width (plus 0.02 absolute) before judging a synthetic image.",
    )

    # --- what a failed gate does (CONTRACTS.md, contract 2) ----------------------------
    on_fail: Literal["stop", "record"] = Field(
        "stop",
        description="stop: a failed gate exits 1 and writes no accepted.parquet (paper "
        "profiles). record: exit 0, metrics.json says passed: false, accepted.parquet is "
        "written so package and benchmark still run, and the set is marked 'gate FAILED: "
        "not for publication' (demo).",
    )

    # --- real-versus-real reference ---------------------------------------------------
    reference_subsets: int = Field(
        10,
        ge=2,
        le=1000,
        description="Random subsets of the synthetic set, each the size of the real val "
        "set (per class: that class's val count), compared with real train: mean +- sd.",
    )
    min_reference_images: int = Field(
        20,
        ge=2,
        le=100_000,
        description="Fewest real val images (per scope: overall, or per class) for a "
        "stable real-versus-real reference; with fewer, gates on a ratio or difference "
        "fail with a note naming the count needed.",
    )

    # --- detectability: classifier two-sample tests -----------------------------------
    detectability: tuple[Probe, ...] = Field(
        ("features", "radiomics", "cnn"),
        description="Classifier two-sample tests, real train vs synthetic (and real val vs "
        "real train as the reference): features = linear probe on the extractor features, "
        "radiomics = linear probe on the FRD radiomics features (needs gate.frd), cnn = "
        "a small timm CNN trained from scratch on the pixels.",
    )
    detectability_folds: int = Field(
        5, ge=2, le=20, description="Stratified cross-validation folds of the linear probes."
    )
    cnn_folds: int = Field(3, ge=2, le=20, description="Cross-validation folds of the CNN.")
    cnn_model: str = Field(
        "test_byobnet",
        min_length=1,
        description="timm model of the CNN probes (random init; the benchmark's code path).",
    )
    cnn_image_size: int = Field(32, ge=16, le=1024, description="CNN input side in pixels.")
    cnn_epochs: int = Field(12, ge=1, le=1000, description="CNN training epochs per fold.")
    cnn_max_images: int = Field(
        200,
        ge=4,
        le=1_000_000,
        description="At most this many images of each set go into a CNN test (a random, "
        "seeded subset): bounds its cost on large sets.",
    )
    cnn_batch_size: int = Field(32, ge=2, le=4096, description="CNN batch size.")
    cnn_lr: float = Field(5e-3, gt=0, le=1, description="CNN Adam learning rate.")
    bootstrap: int = Field(
        500, ge=50, le=100_000, description="Bootstrap replicates of each AUC's 95% CI."
    )

    # --- class fidelity (Classification Accuracy Score, reversed) ---------------------
    class_fidelity_model: Literal["linear", "cnn"] = Field(
        "linear",
        description="Classifier trained on real train labels that scores the synthetic "
        "images: linear = logistic regression on the extractor (+ radiomics) features, "
        "cnn = the small timm CNN on pixels.",
    )
    class_fidelity: bool = Field(True, description="Run the class-fidelity test.")

    # --- gates (null = reported, not gated) --------------------------------------------
    # Absolute values: synthetic vs real train at the val set's size (mean over subsets).
    max_fid: float | None = Field(None, ge=0, description="Gate: FID at most this.")
    max_kid: float | None = Field(None, description="Gate: KID (mean) at most this.")
    max_frd: float | None = Field(None, description="Gate: FRD (v1, log) at most this.")
    min_precision: float | None = Field(None, ge=0, le=1, description="Gate: precision.")
    min_recall: float | None = Field(None, ge=0, le=1, description="Gate: recall.")
    min_density: float | None = Field(None, ge=0, description="Gate: density.")
    min_coverage: float | None = Field(None, ge=0, le=1, description="Gate: coverage.")
    max_ms_ssim_gap: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Gate: synthetic minus real train mean within-class MS-SSIM (mode "
        "collapse raises it).",
    )
    # Relative to the real-versus-real reference (real val vs real train, same size).
    max_fid_ratio: float | None = Field(
        None, description="Gate: FID(synthetic, train) / FID(val, train) at most this (>= 1)."
    )
    max_frd_ratio: float | None = Field(
        None, description="Gate: FRD(synthetic, train) / FRD(val, train) at most this (>= 1)."
    )
    max_frd_difference: float | None = Field(
        None, ge=0, description="Gate: FRD(synthetic, train) - FRD(val, train) at most this."
    )
    max_kid_difference: float | None = Field(
        None, ge=0, description="Gate: KID(synthetic, train) - KID(val, train) at most this."
    )
    min_precision_ratio: float | None = Field(
        None, description="Gate: precision / val's precision at least this (0-1]."
    )
    min_recall_ratio: float | None = Field(
        None, description="Gate: recall / val's recall at least this (0-1]."
    )
    min_density_ratio: float | None = Field(
        None, description="Gate: density / val's density at least this (0-1]."
    )
    min_coverage_ratio: float | None = Field(
        None, description="Gate: coverage / val's coverage at least this (0-1]."
    )
    max_ms_ssim_gap_difference: float | None = Field(
        None,
        ge=0,
        le=2,
        description="Gate: the synthetic MS-SSIM gap minus val's gap at most this.",
    )
    max_detectability_auc: float | None = Field(
        None,
        ge=0.5,
        le=1,
        description="Gate: every detectability AUC (real train vs synthetic, cross-"
        "validated) at most this; 0.5 = indistinguishable.",
    )
    min_class_fidelity: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Gate: AUC of the real-trained classifier on the synthetic images' "
        "labels at least this (a generator that ignores its label scores 0.5).",
    )
    max_memorized_fraction: float | None = Field(
        0.05, ge=0, le=1, description="Gate: fraction of synthetic images flagged as copies."
    )
    max_rejected_fraction: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Gate: fraction of synthetic images rejected (memorized or insane).",
    )
    gate_per_class: bool = Field(
        False, description="Apply the distribution gates to every class too, not only overall."
    )

    @model_validator(mode="after")
    def _consistent(self) -> GateConfig:
        for key, (metric, direction, compared) in GATES.items():
            value = getattr(self, key)
            if value is None or compared != "ratio":
                continue
            if value <= 0:
                raise ValueError(f"gate.{key} = {value}: a ratio threshold must be above 0")
            if direction == "max" and value < 1:
                raise ValueError(
                    f"gate.{key} = {value}: below 1 asks the synthetic set to be closer to "
                    "the training images than real held-out images are, which only copies "
                    f"achieve; use a value >= 1 (e.g. 2) or the absolute gate.max_{metric}"
                )
            if direction == "min" and value > 1:
                raise ValueError(
                    f"gate.{key} = {value}: above 1 asks the synthetic set to score better "
                    f"than real held-out images; use a value in (0, 1] (e.g. 0.5)"
                )
        if not self.frd:
            for key in ("max_frd", "max_frd_ratio", "max_frd_difference"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"gate.{key} is set but gate.frd is false: FRD is not computed"
                    )
            if "radiomics" in self.detectability and "detectability" in self.model_fields_set:
                raise ValueError(
                    "gate.detectability lists radiomics but gate.frd is false: the radiomics "
                    "features are not computed; set gate.frd: true or drop radiomics"
                )
        if self.max_detectability_auc is not None and not self.detectability:
            raise ValueError("gate.max_detectability_auc is set but gate.detectability is empty")
        if self.min_class_fidelity is not None and not self.class_fidelity:
            raise ValueError("gate.min_class_fidelity is set but gate.class_fidelity is false")
        if len(set(self.detectability)) != len(self.detectability):
            raise ValueError(f"gate.detectability lists a probe twice: {list(self.detectability)}")
        if self.min_reference_images < self.prdc_k + 1:
            raise ValueError(
                f"gate.min_reference_images = {self.min_reference_images} is below "
                f"gate.prdc_k + 1 = {self.prdc_k + 1}: precision/recall cannot be computed "
                "on a reference that small"
            )
        return self


# Gate (params key) -> (metric, direction, what the threshold applies to).
GATES: dict[str, tuple[str, str, str]] = {
    "max_fid": ("fid", "max", "value"),
    "max_fid_ratio": ("fid", "max", "ratio"),
    "max_kid": ("kid", "max", "value"),
    "max_kid_difference": ("kid", "max", "difference"),
    "max_frd": ("frd", "max", "value"),
    "max_frd_ratio": ("frd", "max", "ratio"),
    "max_frd_difference": ("frd", "max", "difference"),
    "min_precision": ("precision", "min", "value"),
    "min_precision_ratio": ("precision", "min", "ratio"),
    "min_recall": ("recall", "min", "value"),
    "min_recall_ratio": ("recall", "min", "ratio"),
    "min_density": ("density", "min", "value"),
    "min_density_ratio": ("density", "min", "ratio"),
    "min_coverage": ("coverage", "min", "value"),
    "min_coverage_ratio": ("coverage", "min", "ratio"),
    "max_ms_ssim_gap": ("ms_ssim_gap", "max", "value"),
    "max_ms_ssim_gap_difference": ("ms_ssim_gap", "max", "difference"),
    "max_detectability_auc": ("detectability_auc", "max", "value"),
    "min_class_fidelity": ("class_fidelity_auc", "min", "value"),
    "max_memorized_fraction": ("memorized_fraction", "max", "value"),
    "max_rejected_fraction": ("rejected_fraction", "max", "value"),
}
# Distribution metrics: each is shown beside real val vs real train (direction, the
# comparison reported when no gate is set on it).
DISTRIBUTION_METRICS: dict[str, tuple[str, str]] = {
    "fid": ("max", "ratio"),
    "kid": ("max", "difference"),
    "frd": ("max", "ratio"),
    "precision": ("min", "ratio"),
    "recall": ("min", "ratio"),
    "density": ("min", "ratio"),
    "coverage": ("min", "ratio"),
    "ms_ssim_gap": ("max", "difference"),
}
PER_CLASS_METRICS = tuple(DISTRIBUTION_METRICS)
