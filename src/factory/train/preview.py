"""Preview grids during training: a few EMA samples per class, one row per class.

Drawn through the sample stage's own denoising loop (`factory.sample.sampler`) with
`train.preview_scheduler` (DDPM by default: early in training the deterministic few-step
solvers diverge where ancestral sampling still shows the shapes), from fixed seeds so
that successive grids show the same noise growing into images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from factory.io import atomic_write_bytes
from factory.sample.grid import figure_png


@torch.no_grad()
def preview_images(
    unet: Any,
    noise_scheduler: Any,
    num_classes: int,
    *,
    per_class: int,
    steps: int,
    guidance: float,
    seed: int,
    scheduler_name: str = "ddpm",
) -> np.ndarray:
    """uint16 images [classes, per_class, H, W] from the model as it is now."""
    from factory.sample.sampler import build_scheduler, image_generators, sample, to_uint16

    device = next(unet.parameters()).device
    scheduler = build_scheduler(
        scheduler_name,
        noise_scheduler.config,
        prediction_type=noise_scheduler.config.prediction_type,
    )
    labels = torch.arange(num_classes, device=device).repeat_interleave(per_class)
    seeds = [seed * 1000 + i for i in range(len(labels))]
    was_training = unet.training
    unet.eval()
    try:
        x = sample(
            unet,
            scheduler,
            labels,
            image_generators(seeds),
            steps=steps,
            guidance=guidance,
            null_class=num_classes,
        )
    finally:
        unet.train(was_training)
    images = to_uint16(x)
    return images.reshape(num_classes, per_class, *images.shape[1:])


def grid_png(images: np.ndarray, classes: tuple[str, ...], title: str) -> bytes:
    """A PNG with one row per class (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = images.shape[:2]
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.5 * cols + 0.8, 1.5 * rows + 0.4), squeeze=False
    )
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(images[r, c], cmap="gray", vmin=0, vmax=65535, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(classes[r], fontsize=9)
    return figure_png(fig, title)


def write_preview(path: Any, images: np.ndarray, classes: tuple[str, ...], title: str) -> None:
    atomic_write_bytes(path, grid_png(images, classes, title))
