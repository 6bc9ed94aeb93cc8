"""The DDPM training objective with classifier-free-guidance label dropout (pure maths).

Recipe levers (`LossRecipe`): min-SNR-gamma weighting (Hang et al. 2023) through
diffusers' `compute_snr`, and a vertical-flip augmentation drawn from the step's own
generator (so a resumed run flips exactly the images an uninterrupted one would).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossRecipe:
    """How the loss treats a batch: SNR weighting and augmentation."""

    snr_gamma: float | None = None  # None = plain (uniform) MSE
    vflip: bool = False

    @classmethod
    def from_config(cls, cfg: Any) -> LossRecipe:
        """The recipe of a TrainConfig (`train.snr_gamma`, `train.augment`)."""
        return cls(snr_gamma=cfg.snr_gamma, vflip=cfg.augment == "vflip")


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


def vertical_flip(x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image top-to-bottom with probability 1/2.

    Vertical only: the ingest stage aligns every breast to the left edge, which a
    horizontal flip would undo.
    """
    flip = torch.rand(x0.shape[0], generator=generator, device=x0.device) < 0.5
    return torch.where(flip[:, None, None, None], x0.flip(-2), x0)


def snr_weights(noise_scheduler: Any, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weight of each timestep, as diffusers' training examples compute it.

    The weight of the epsilon loss is min(SNR, gamma) / SNR; the v-loss equals
    (SNR + 1) times the x0-loss, so its weight is min(SNR, gamma) / (SNR + 1). At zero
    terminal SNR (SNR = 0 at the last step) the v weight is 0 / 1 = 0 there, finite.
    """
    from diffusers.training_utils import compute_snr

    snr = compute_snr(noise_scheduler, t)
    clipped = torch.clamp(snr, max=gamma)
    if noise_scheduler.config.prediction_type == "v_prediction":
        return clipped / (snr + 1)
    return clipped / snr.clamp_min(1e-12)


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
    recipe: LossRecipe | None = None,
) -> torch.Tensor:
    """Weighted MSE between the UNet's prediction and its target at random noise levels.

    The target is the noise (`epsilon`) or the velocity (`v_prediction`), as the noise
    scheduler's config says. `sample_weights` (per image, mean 1 over the data) is the loss
    form of class weighting; None weighs images equally. `recipe` adds min-SNR weighting
    and the vertical flip; None (or the default recipe) is the plain DDPM loss.
    """
    recipe = recipe or LossRecipe()
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    t = torch.randint(
        0,
        noise_scheduler.config.num_train_timesteps,
        (x0.shape[0],),
        generator=generator,
        device=x0.device,
    )
    cond = drop_labels(labels, null_class, label_dropout, generator)
    if recipe.vflip:  # drawn last, so the default recipe keeps the draws above unchanged
        x0 = vertical_flip(x0, generator)
    xt = noise_scheduler.add_noise(x0, noise, t)
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(x0, noise, t)
    else:
        target = noise
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    pred = unet(xt, t, class_labels=cond).sample
    per_image = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    if recipe.snr_gamma is not None:
        per_image = per_image * snr_weights(noise_scheduler, t, recipe.snr_gamma)
    if sample_weights is not None:
        per_image = per_image * sample_weights
    return per_image.mean()
