"""Config of the `sample` stage (pydantic and stdlib only: loading it never imports torch)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from factory.config import Section

SchedulerName = Literal["ddpm", "ddim", "dpmsolver++", "unipc"]
Count = Annotated[int, Field(ge=0)]


class SampleConfig(Section):
    """How many synthetic images to draw per class, and with which sampler."""

    per_class: Annotated[int, Field(ge=1)] | dict[str, Count] = Field(
        250,
        description="Images per class: one number for every class, or a mapping "
        "{class: count} (a class left out gets 0), e.g. {normal: 0, abnormal: 1000}.",
    )
    scheduler: SchedulerName = Field(
        "dpmsolver++",
        description="diffusers scheduler built from the model's training schedule: ddpm "
        "(ancestral), ddim (eta 0), dpmsolver++ (multistep, order 2), unipc.",
    )
    steps: int = Field(
        25, ge=1, le=10_000, description="Denoising steps (model evaluations per image)."
    )
    guidance_scale: float = Field(
        1.0,
        ge=0,
        le=50,
        description="Classifier-free guidance weight w: eps = eps_null + w (eps_class - "
        "eps_null). 1 = plain class-conditional (one model pass per step), 0 = unconditional.",
    )
    timestep_spacing: Literal["leading", "trailing", "linspace"] = Field(
        "trailing",
        description="How the few inference timesteps are picked from the training ones; "
        "trailing starts at the last training step (Lin et al. 2023), best for few steps.",
    )
    ema: bool = Field(True, description="Sample with the EMA weights (unet_ema/).")
    batch_size: int = Field(
        16, ge=1, le=4096, description="Images per forward pass; does not change the images."
    )
    grid_per_class: int = Field(
        16, ge=0, le=256, description="Images per class in the preview grids (0 = none)."
    )
    processes: int = Field(
        1, ge=1, le=1024, description="Processes `accelerate launch` starts for the stage."
    )
