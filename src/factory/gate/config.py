"""Config of the `gate` stage (pydantic and stdlib only: loading it never imports torch).

Thresholds left at `null` are reported, not gated. The defaults are the paper-scale
choices (Inception features); the demo profile in params.yaml switches to the weight-free
extractor so the pipeline runs offline.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from factory.config import Section

ExtractorName = Literal["inception", "timm", "random_cnn"]


class GateConfig(Section):
    """Quality, diversity, privacy and sanity checks between the synthetic and real sets."""

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

    # --- gates (null = reported, not gated) --------------------------------------------
    max_fid: float | None = Field(None, ge=0, description="Gate: overall FID at most this.")
    max_kid: float | None = Field(None, description="Gate: overall KID (mean) at most this.")
    max_frd: float | None = Field(None, description="Gate: overall FRD (v1, log) at most this.")
    min_precision: float | None = Field(None, ge=0, le=1, description="Gate: precision.")
    min_recall: float | None = Field(None, ge=0, le=1, description="Gate: recall.")
    min_density: float | None = Field(None, ge=0, description="Gate: density.")
    min_coverage: float | None = Field(None, ge=0, le=1, description="Gate: coverage.")
    max_ms_ssim_gap: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Gate: synthetic minus real mean within-class MS-SSIM (mode collapse "
        "raises it).",
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


# Gate name -> (metric key in the overall values, direction).
GATES: dict[str, tuple[str, str]] = {
    "max_fid": ("fid", "max"),
    "max_kid": ("kid", "max"),
    "max_frd": ("frd", "max"),
    "min_precision": ("precision", "min"),
    "min_recall": ("recall", "min"),
    "min_density": ("density", "min"),
    "min_coverage": ("coverage", "min"),
    "max_ms_ssim_gap": ("ms_ssim_gap", "max"),
    "max_memorized_fraction": ("memorized_fraction", "max"),
    "max_rejected_fraction": ("rejected_fraction", "max"),
}
PER_CLASS_METRICS = (
    "fid",
    "kid",
    "frd",
    "precision",
    "recall",
    "density",
    "coverage",
    "ms_ssim_gap",
)
