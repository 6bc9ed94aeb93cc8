"""The denoising loop: diffusers schedulers, classifier-free guidance, per-image noise.

Kept as one visible function in the spirit of NVlabs/edm's sampler. Every image owns a
`torch.Generator` (EDM's StackedRandomGenerator idea): its initial noise and any noise a
stochastic scheduler adds per step come from that generator alone, so an image is the
same whatever batch it is drawn in.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    UniPCMultistepScheduler,
)

from factory.errors import FactoryError

SCHEDULERS = ("ddpm", "ddim", "dpmsolver++", "unipc")


def build_scheduler(
    name: str,
    training_config: Any,
    *,
    prediction_type: str,
    timestep_spacing: str = "trailing",
) -> Any:
    """An inference scheduler on the model's training noise schedule (`from_config`).

    A model trained at zero terminal SNR (`rescale_betas_zero_snr` in its scheduler config)
    must start sampling at the last training step, which only trailing spacing does (Lin
    et al. 2024); other spacings start below it from pure noise and are refused.
    """
    if training_config.get("rescale_betas_zero_snr") and timestep_spacing != "trailing":
        raise FactoryError(
            f"sample.timestep_spacing = {timestep_spacing!r} with a model trained with "
            "train.zero_terminal_snr: true: only 'trailing' starts at the pure-noise step "
            "the model was trained for; set sample.timestep_spacing: trailing (or retrain "
            "with train.zero_terminal_snr: false)"
        )
    common = {"prediction_type": prediction_type, "timestep_spacing": timestep_spacing}
    if name == "ddpm":
        return DDPMScheduler.from_config(training_config, **common)
    if name == "ddim":
        return DDIMScheduler.from_config(training_config, **common)
    # The multistep solvers extrapolate from x0 predictions; an eps-model's x0 at high noise
    # is wild early in training, so clip it to the data range [-1, 1] as DDPM and DDIM do
    # (clip_sample). diffusers spells that "thresholding" with sample_max_value 1.
    clip_x0 = {"thresholding": True, "sample_max_value": 1.0}
    if name == "dpmsolver++":
        return DPMSolverMultistepScheduler.from_config(
            training_config, algorithm_type="dpmsolver++", solver_order=2, **clip_x0, **common
        )
    if name == "unipc":
        return UniPCMultistepScheduler.from_config(training_config, **clip_x0, **common)
    raise FactoryError(f"sample.scheduler = {name!r}: expected one of {', '.join(SCHEDULERS)}")


def image_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One seeded torch.Generator per image, on the CPU so that every device gets the same
    noise (it is moved to the model's device after drawing)."""
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def guided_prediction(
    unet: Any, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, null_class: int, w: float
) -> torch.Tensor:
    """Model output with classifier-free guidance; the class and null passes share a batch."""
    if w == 1.0:  # plain conditional model: one pass, no null branch needed
        return unet(x, t, class_labels=labels).sample
    if w == 0.0:  # unconditional
        return unet(x, t, class_labels=torch.full_like(labels, null_class)).sample
    null = torch.full_like(labels, null_class)
    both = unet(torch.cat([x, x]), t, class_labels=torch.cat([labels, null])).sample
    cond, uncond = both.chunk(2)
    return uncond + w * (cond - uncond)


@torch.no_grad()
def sample(
    unet: Any,
    scheduler: Any,
    labels: torch.Tensor,
    generators: list,
    *,
    steps: int,
    guidance: float,
    null_class: int,
) -> torch.Tensor:
    """Draw one image per label, in [-1, 1] (not clamped), shape [B, C, H, W].

    `generators[i]` supplies every random number image i ever sees. Resets `scheduler`.
    """
    if len(generators) != len(labels):
        raise ValueError(f"{len(generators)} generators for {len(labels)} labels")
    cfg = unet.config
    shape = (1, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    device = labels.device
    x = torch.cat([torch.randn(shape, generator=g) for g in generators]).to(device)
    scheduler.set_timesteps(steps, device=device)
    x = x * scheduler.init_noise_sigma
    # A list of generators makes diffusers draw each image's step noise from its own.
    stochastic = "generator" in inspect.signature(scheduler.step).parameters
    noise = {"generator": list(generators)} if stochastic else {}
    for t in scheduler.timesteps:
        x_in = scheduler.scale_model_input(x, t)
        out = guided_prediction(unet, x_in, t, labels, null_class, guidance)
        x = scheduler.step(out, t, x, **noise).prev_sample
    return x


def to_uint16(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] float images [B, 1, H, W] to uint16 [B, H, W] on [0, 65535]."""
    x = images.detach().float().cpu().clamp(-1, 1)
    return ((x[:, 0] + 1) * 32767.5).round().numpy().astype(np.uint16)


def nonfinite_rows(images: torch.Tensor) -> list[int]:
    """Indices of images holding a NaN or an Inf (a diverged model's output)."""
    bad = ~torch.isfinite(images).flatten(1).all(dim=1)
    return [int(i) for i in torch.nonzero(bad).flatten()]
