"""Config of the `train` stage: the generator's architecture, noise schedule and training.

Defaults are the paper-scale values (a 256 px UNet with the widths of diffusers' DDPM 256
models, trained on one GPU or more); the demo profile in params.yaml shrinks them to
minutes on 2 CPU cores. Imports only pydantic and the standard library (no torch).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from factory.config import Section

# Fields that define the network and its noise schedule: a checkpoint trained with other
# values cannot be resumed (see factory.train.checkpoint).
MODEL_FIELDS = (
    "block_out_channels",
    "layers_per_block",
    "attention_resolutions",
    "mid_attention",
    "attention_head_dim",
    "norm_num_groups",
    "dropout",
    "num_train_timesteps",
    "beta_schedule",
    "prediction_type",
)
# Recipe fields: how the network was trained (loss weighting, schedule rescaling,
# augmentation, label dropout). A checkpoint trained with another recipe is refused as
# well: resuming it would silently mix two recipes in one model.
RECIPE_FIELDS = (
    "zero_terminal_snr",
    "snr_gamma",
    "augment",
    "label_dropout",
)


class TrainConfig(Section):
    """Everything the `train` stage needs besides `common` (seed, classes, image size)."""

    # -- launch ---------------------------------------------------------------------------
    processes: int = Field(
        1,
        ge=1,
        description="Processes (GPUs, or CPU workers with gloo) the stage is launched with; "
        "dvc.yaml passes it to torchrun. Read by the launcher, checked by the library.",
    )
    # -- network: diffusers UNet2DModel ---------------------------------------------------
    block_out_channels: tuple[int, ...] = Field(
        (128, 128, 256, 256, 512, 512),
        min_length=1,
        description="Channel width of each UNet level; each level halves the resolution.",
    )
    layers_per_block: int = Field(2, ge=1, le=8, description="ResNet blocks per UNet level.")
    attention_resolutions: tuple[int, ...] = Field(
        (16,),
        description="Feature-map sides (px) whose UNet levels get self-attention (SDPA).",
    )
    mid_attention: bool = Field(True, description="Self-attention in the UNet's middle block.")
    attention_head_dim: int = Field(8, ge=1, description="Channels per attention head.")
    norm_num_groups: int = Field(32, ge=1, description="GroupNorm groups; divides every width.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout inside ResNet blocks.")
    # -- diffusion ------------------------------------------------------------------------
    num_train_timesteps: int = Field(1000, ge=10, description="DDPM noise steps.")
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = Field(
        "linear", description="DDPMScheduler beta schedule."
    )
    prediction_type: Literal["epsilon", "v_prediction"] = Field(
        "epsilon", description="What the UNet predicts: the noise or the velocity."
    )
    zero_terminal_snr: bool = Field(
        False,
        description="Rescale the betas to zero terminal SNR (Lin et al. 2024; diffusers' "
        "rescale_betas_zero_snr): the last training step is pure noise, so the sampler "
        "starts where the model was trained and backgrounds can reach black. Needs "
        "prediction_type v_prediction and trailing timesteps at sampling.",
    )
    snr_gamma: float | None = Field(
        None,
        gt=0.0,
        description="Min-SNR-gamma loss weighting (Hang et al. 2023; diffusers' "
        "compute_snr): each timestep's MSE is weighted by min(SNR, gamma) / SNR "
        "(epsilon) or / (SNR + 1) (v_prediction); 5 is the paper's value. null = off.",
    )
    augment: Literal["none", "vflip", "hflip"] = Field(
        "none",
        description="Training augmentation: vflip mirrors top and bottom with probability "
        "1/2 (cranio-caudal order changes, the anatomy only trivially). hflip is refused: "
        "the ingest stage aligns every breast to the left edge.",
    )
    label_dropout: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Probability a label is replaced by the null class (classifier-free "
        "guidance); the guidance scale is the sample stage's.",
    )
    class_weighting: Literal["sampler", "loss", "none"] = Field(
        "sampler",
        description="Balance classes by sampling (with replacement), by weighting the loss, "
        "or not at all; weights are scikit-learn's compute_class_weight('balanced').",
    )
    # -- optimisation ---------------------------------------------------------------------
    steps: int = Field(20000, ge=1, description="Optimizer steps in total.")
    batch_size: int = Field(16, ge=1, description="Images per process per micro-batch.")
    gradient_accumulation: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    learning_rate: float = Field(1e-4, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    adam_beta1: float = Field(0.95, ge=0.0, lt=1.0, description="AdamW beta1.")
    adam_beta2: float = Field(0.999, ge=0.0, lt=1.0, description="AdamW beta2.")
    weight_decay: float = Field(1e-6, ge=0.0, description="AdamW weight decay.")
    lr_schedule: Literal["constant", "constant_with_warmup", "linear", "cosine"] = Field(
        "cosine", description="diffusers.optimization.get_scheduler name."
    )
    warmup_steps: int = Field(500, ge=0, description="Linear learning-rate warmup steps.")
    max_grad_norm: float = Field(1.0, ge=0.0, description="Gradient clipping norm; 0 = off.")
    ema_max_decay: float = Field(0.9999, ge=0.0, le=1.0, description="EMA decay ceiling.")
    ema_power: float = Field(
        0.75, gt=0.0, le=1.0, description="EMA warmup power (decay = 1 - (1 + step)^-power)."
    )
    # -- speed ----------------------------------------------------------------------------
    mixed_precision: Literal["no", "fp16", "bf16"] = Field(
        "no", description="Autocast precision (fp16 needs a CUDA GPU; bf16 works on CPU)."
    )
    channels_last: bool = Field(True, description="NHWC memory format for convolutions.")
    compile: bool = Field(False, description="torch.compile the UNet (slow first steps).")
    workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes.")
    in_memory_max_mb: int = Field(
        4096,
        ge=0,
        description="Decode the training images once into memory (uint16) up to this size; "
        "stream them from disk beyond it.",
    )
    # -- outputs --------------------------------------------------------------------------
    log_every: int = Field(10, ge=1, description="Steps per logged loss/lr/images-per-s point.")
    checkpoint_every: int = Field(1000, ge=1, description="Steps between checkpoints.")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept (newest first).")
    resume: bool = Field(
        True,
        description="Resume from the newest complete checkpoint; false deletes the old "
        "checkpoints and starts over.",
    )
    preview_every: int = Field(
        5000, ge=0, description="Steps between preview grids; 0 = only the final one."
    )
    preview_per_class: int = Field(4, ge=1, le=64, description="Preview images per class.")
    preview_scheduler: Literal["ddpm", "ddim", "dpmsolver++", "unipc"] = Field(
        "ddpm", description="Sampler of the previews (the sample stage's schedulers)."
    )
    preview_steps: int = Field(100, ge=1, le=1000, description="Denoising steps per preview.")
    preview_guidance: float = Field(
        1.0, ge=0.0, description="Classifier-free guidance scale of the previews."
    )

    @field_validator("augment")
    @classmethod
    def _no_horizontal_flip(cls, v: str) -> str:
        if v == "hflip":
            raise ValueError(
                "not valid for mammograms here: the ingest stage aligns every breast to "
                "the left edge, and a horizontal flip would teach the model right-aligned "
                "breasts that no real image shows; use 'vflip' or 'none'"
            )
        return v

    @model_validator(mode="after")
    def _recipe_is_supported(self) -> TrainConfig:
        if self.zero_terminal_snr and self.prediction_type == "epsilon":
            raise ValueError(
                "train.zero_terminal_snr = true with train.prediction_type = 'epsilon': "
                "at zero terminal SNR the last training step is pure "
                "noise, so predicting the noise tells nothing about the image (x0 = "
                "(x - sigma eps) / alpha divides by 0); set prediction_type: "
                "v_prediction, or zero_terminal_snr: false"
            )
        return self

    @model_validator(mode="after")
    def _widths_fit_groups(self) -> TrainConfig:
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(
                f"block_out_channels {list(self.block_out_channels)} must all be multiples "
                f"of norm_num_groups={self.norm_num_groups} (GroupNorm); {bad} are not"
            )
        return self

    def model_signature(self, classes: tuple[str, ...], image_size: int) -> dict:
        """The settings that fix the network's shape, noise schedule and training recipe,
        as plain data (a checkpoint with another signature is not resumed)."""
        fields = {name: getattr(self, name) for name in MODEL_FIELDS + RECIPE_FIELDS}
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
        return {"classes": list(classes), "image_size": image_size, **fields}
