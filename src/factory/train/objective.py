"""The DDPM training objective with classifier-free-guidance label dropout (pure maths)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def step_generator(seed: int, rank: int, micro_step: int, device: torch.device) -> torch.Generator:
    """The generator of one micro-step on one process: noise, timesteps and label dropout.

    Derived from (seed, rank, micro-step) alone, so a resumed run draws exactly what an
    uninterrupted one would, with no generator state to save.
    """
    state = np.random.SeedSequence([seed, rank, micro_step]).generate_state(2, dtype=np.uint32)
    g = torch.Generator(device=device)
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g


def drop_labels(
    labels: torch.Tensor, null_class: int, p: float, generator: torch.Generator
) -> torch.Tensor:
    """Replace each label by the null class with probability `p` (classifier-free guidance)."""
    drop = torch.rand(labels.shape, generator=generator, device=labels.device) < p
    return torch.where(drop, torch.full_like(labels, null_class), labels)


def diffusion_loss(
    unet: Any,
    noise_scheduler: Any,
    x0: torch.Tensor,
    labels: torch.Tensor,
    *,
    null_class: int,
    label_dropout: float,
    generator: torch.Generator,
    sample_weights: torch.Tensor | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Weighted MSE between the UNet's prediction and its target at random noise levels.

    The target is the noise (`epsilon`) or the velocity (`v_prediction`), as the noise
    scheduler's config says. `sample_weights` (per image, mean 1 over the data) is the loss
    form of class weighting; None weighs images equally.
    """
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    t = torch.randint(
        0,
        noise_scheduler.config.num_train_timesteps,
        (x0.shape[0],),
        generator=generator,
        device=x0.device,
    )
    xt = noise_scheduler.add_noise(x0, noise, t)
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(x0, noise, t)
    else:
        target = noise
    cond = drop_labels(labels, null_class, label_dropout, generator)
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    pred = unet(xt, t, class_labels=cond).sample
    per_image = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    if sample_weights is not None:
        per_image = per_image * sample_weights
    return per_image.mean()
