"""Config of the `benchmark` stage: the downstream classifier test of a synthetic set.

Defaults are the Sutjiadi et al. (2025) settings on the leakage-safe `heldout` protocol
(EfficientNetV2-L, ImageNet weights, Adam 1e-4 with AMSGrad, balanced class weights,
binary cross-entropy, batch 16, 50 epochs, 256 px). The `demo` profile in params.yaml
scales this down; profiles/ holds the papers' own settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from factory.config import Section

SYNTHETIC_ONLY = "synthetic-only"
# Fewest patient-bootstrap replicates when an interval decides: below ~40, numpy's 2.5th
# percentile is the smallest draw or interpolated next to it.
MIN_BOOTSTRAP = 50


RULES = ("superiority", "non_inferiority", "point_estimate")
RENAMED_RULES = {
    "gain": "point_estimate (accepts on the mean gain alone, noise included)",
    "ci_lower": "superiority (the lower end of the gain's 95% interval must exceed min_gain)",
}


class AcceptanceConfig(Section):
    """Which comparison decides whether the synthetic set is accepted, and by how much.

    `superiority` (default) and `non_inferiority` decide on the lower end of the paired
    gain's 95% patient-bootstrap interval; `point_estimate` decides on the mean gain alone
    and is labelled as such in every output. Independently, the TSTR condition (train on
    synthetic, test on real) asks the synthetic-only classifier to beat chance.
    """

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
    rule: Literal["superiority", "non_inferiority", "point_estimate"] = Field(
        "superiority",
        description="superiority: the lower end of the paired gain's 95% interval must be "
        "above min_gain. non_inferiority: it must be above -margin. point_estimate: the mean "
        "gain must reach min_gain (no evidence needed: noise can pass; labelled as such).",
    )
    min_gain: float = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description="superiority / point_estimate: the gain (scenario - baseline) to beat.",
    )
    margin: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="non_inferiority only: the largest loss accepted (the interval's lower "
        "end must be above -margin).",
    )
    tstr_required: bool = Field(
        True,
        description="TSTR: the synthetic-only classifier's AUC on the held-out real patients "
        "must have its 95% lower bound above tstr_min_auc (needs synthetic_only: true).",
    )
    tstr_min_auc: float = Field(0.5, ge=0.5, lt=1.0, description="TSTR threshold; 0.5 is chance.")

    @field_validator("rule", mode="before")
    @classmethod
    def _renamed(cls, value: object) -> object:
        if isinstance(value, str) and value in RENAMED_RULES:
            raise ValueError(
                f"rule {value!r} was renamed: use {RENAMED_RULES[value]}; one of {list(RULES)}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AcceptanceConfig:
        if self.rule == "non_inferiority":
            if self.margin is None:
                raise ValueError(
                    "rule non_inferiority needs acceptance.margin (> 0): the largest loss in "
                    f"{self.metric} accepted"
                )
            if self.min_gain != 0.0:
                raise ValueError(
                    f"rule non_inferiority uses acceptance.margin, not min_gain "
                    f"({self.min_gain}): remove min_gain or use rule superiority"
                )
        elif self.margin is not None:
            raise ValueError(
                f"acceptance.margin is set ({self.margin}) but rule is {self.rule}: margin is "
                "for rule non_inferiority only; remove it or change the rule"
            )
        if self.rule == "superiority" and self.min_gain < 0:
            raise ValueError(
                f"rule superiority with min_gain {self.min_gain} < 0 is a non-inferiority "
                f"test: use rule non_inferiority with margin {-self.min_gain}"
            )
        return self


class BenchmarkConfig(Section):
    """The downstream benchmark: does the synthetic set help a classifier on unseen patients?"""

    processes: int = Field(
        1,
        ge=1,
        description="Worker processes the stage starts (GPUs, or CPU processes with gloo), "
        "as train.processes: the jobs (backbone x size x scenario x seed x fold) are dealt "
        "out one per rank at a time; results are identical to one process.",
    )
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
        self._check_acceptance()
        return self

    def _check_acceptance(self) -> None:
        """Acceptance settings that contradict the rest of the section, named by key."""
        acc, counts = self.acceptance, self.synthetic_counts
        if acc.scenario == SYNTHETIC_ONLY:
            if not self.synthetic_only:
                raise ValueError("acceptance.scenario is 'synthetic-only' but synthetic_only=false")
            if self.protocol != "heldout":
                raise ValueError(
                    f"acceptance.scenario 'synthetic-only' runs on the heldout protocol only, "
                    f"not {self.protocol}: pick a count from synthetic_counts {list(counts)}"
                )
        elif acc.scenario not in counts or acc.scenario == 0:
            raise ValueError(
                f"acceptance.scenario {acc.scenario} must be a non-zero entry of synthetic_counts "
                f"{list(counts)} or 'synthetic-only'"
            )
        if self.protocol == "heldout" and acc.tstr_required and not self.synthetic_only:
            raise ValueError(
                "synthetic_only is false but acceptance.tstr_required is true: the TSTR "
                "condition needs the synthetic-only scenario; set synthetic_only: true, or "
                "acceptance.tstr_required: false (the verdict then says TSTR was not checked)"
            )
        needs_interval = acc.rule != "point_estimate" or acc.tstr_required
        if needs_interval and self.bootstrap < MIN_BOOTSTRAP:
            raise ValueError(
                f"bootstrap = {self.bootstrap}, but acceptance (rule {acc.rule}, tstr_required "
                f"{acc.tstr_required}) decides on 95% intervals: set bootstrap >= "
                f"{MIN_BOOTSTRAP} (1000 recommended)"
            )
