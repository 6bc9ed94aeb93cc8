"""Config of the `benchmark` stage: the downstream classifier test of a synthetic set.

Defaults are the Sutjiadi et al. (2025) settings on the leakage-safe `heldout` protocol
(EfficientNetV2-L, ImageNet weights, Adam 1e-4 with AMSGrad, balanced class weights,
binary cross-entropy, batch 16, 50 epochs, 256 px). The `demo` profile in params.yaml
scales this down; profiles/ holds the papers' own settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from factory.config import Section

SYNTHETIC_ONLY = "synthetic-only"


class AcceptanceConfig(Section):
    """Which comparison decides whether the synthetic set is accepted, and by how much."""

    metric: Literal[
        "auc",
        "accuracy",
        "balanced_accuracy",
        "sensitivity",
        "specificity",
        "f1_positive",
        "f1_negative",
    ] = Field("auc", description="Metric compared between the scenario and the baseline.")
    scenario: int | Literal["synthetic-only"] = Field(
        500,
        description="Scenario compared with the real-only baseline: a synthetic count from "
        "`synthetic_counts`, or 'synthetic-only'.",
    )
    min_gain: float = Field(
        0.0, ge=-1.0, le=1.0, description="Smallest paired gain (scenario - baseline) accepted."
    )
    rule: Literal["gain", "ci_lower"] = Field(
        "gain",
        description="'gain': the mean paired gain must reach min_gain; 'ci_lower': the lower "
        "end of its 95% bootstrap interval must (stricter).",
    )


class BenchmarkConfig(Section):
    """The downstream benchmark: does the synthetic set help a classifier on unseen patients?"""

    protocol: Literal["heldout", "sutjiadi2025", "prodan2023"] = Field(
        "heldout",
        description="heldout: train on the manifest's train patients (+ synthetic), test on "
        "its test patients, real images only (decides acceptance). sutjiadi2025: their 80:20 "
        "split of the combined real+synthetic set (synthetic images in the test set; "
        "comparison only). prodan2023: stratified 5-fold CV grouped by patient.",
    )
    backbones: tuple[str, ...] = Field(
        ("tf_efficientnetv2_l",),
        min_length=1,
        description="timm model names; the first is the main one (acceptance, Grad-CAM).",
    )
    pretrained: bool = Field(
        True,
        description="Start from timm's ImageNet weights (HF cache or download); false = "
        "random initialisation.",
    )
    image_sizes: tuple[int, ...] = Field(
        (256,), min_length=1, description="Square input sides in px; the first is the main one."
    )
    synthetic_counts: tuple[int, ...] = Field(
        (0, 100, 250, 500),
        min_length=1,
        description="Synthetic images added (in total, balanced per class) to the real "
        "training patients, one scenario each; 0 is the real-only baseline.",
    )
    synthetic_classes: tuple[str, ...] | None = Field(
        None,
        description="Classes the synthetic images are drawn from, each count split evenly "
        "over them; null = every class (balanced). Prodan et al. added positives only.",
    )
    synthetic_only: bool = Field(
        True,
        description="Also train on synthetic images only (the largest count), heldout only.",
    )
    seeds: int = Field(3, ge=1, le=100, description="Repeats with different seeds.")
    epochs: int = Field(50, ge=1, le=10_000, description="Training epochs per model.")
    batch_size: int = Field(16, ge=1, le=4096, description="Images per optimiser step.")
    lr: float = Field(1e-4, gt=0, le=1.0, description="Adam learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")
    amsgrad: bool = Field(True, description="AMSGrad variant of Adam.")
    weight_decay: float = Field(0.0, ge=0, le=1.0, description="Adam weight decay.")
    class_weight: Literal["balanced", "none"] = Field(
        "balanced", description="Per-sample loss weights (sklearn compute_class_weight)."
    )
    oversample_positive: int = Field(
        1, ge=1, le=100, description="Repeat each positive training image this many times."
    )
    hflip: bool = Field(False, description="Random horizontal flips during training.")
    folds: int = Field(5, ge=2, le=20, description="Cross-validation folds (prodan2023).")
    test_fraction: float = Field(
        0.2, gt=0, lt=1, description="Test share of the combined set (sutjiadi2025)."
    )
    threshold: float = Field(
        0.5, gt=0, lt=1, description="Probability above which an image is called positive."
    )
    bootstrap: int = Field(
        1000, ge=0, le=100_000, description="Patient-level bootstrap replicates for 95% CIs."
    )
    acceptance: AcceptanceConfig = Field(
        default_factory=AcceptanceConfig, description="The acceptance rule."
    )
    gradcam_images: int = Field(
        16, ge=0, le=10_000, description="Grad-CAM overlays for test images called positive."
    )
    bbox_fraction: float = Field(
        0.25, gt=0, le=1, description="Side of the centred saliency box, as image fraction."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto = CUDA when available."
    )
    amp: bool = Field(True, description="Mixed precision (bf16/fp16 autocast) on CUDA only.")
    workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes.")
    threads: int = Field(
        0,
        ge=0,
        le=256,
        description="torch CPU threads while training (0 = torch's default). 1 avoids "
        "thread contention on a busy shared CPU.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkConfig:
        counts = self.synthetic_counts
        if 0 not in counts:
            raise ValueError("synthetic_counts must include 0 (the real-only baseline)")
        if any(c < 0 for c in counts) or len(set(counts)) != len(counts):
            raise ValueError(f"synthetic_counts must be distinct and >= 0, got {list(counts)}")
        if any(s < 16 for s in self.image_sizes):
            raise ValueError(f"image_sizes must be >= 16 px, got {list(self.image_sizes)}")
        scenario = self.acceptance.scenario
        if scenario == SYNTHETIC_ONLY:
            if not self.synthetic_only:
                raise ValueError("acceptance.scenario is 'synthetic-only' but synthetic_only=false")
        elif scenario not in counts or scenario == 0:
            raise ValueError(
                f"acceptance.scenario {scenario} must be a non-zero entry of synthetic_counts "
                f"{list(counts)} or 'synthetic-only'"
            )
        return self
