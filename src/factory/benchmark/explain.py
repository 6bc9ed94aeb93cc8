"""Explanations (Prodan et al.): Grad-CAM heatmaps and a centred box on the most salient spot.

The heatmap comes from the `grad-cam` package on the backbone's last feature stage,
for the single positive logit. The box is centred on the heatmap's maximum with a fixed
side (`bbox_fraction` of the image), as in the paper's "centred bounding box".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import BenchmarkConfig
from .data import Pool
from .model import Classifier


def gradcam_maps(model: Classifier, images: torch.Tensor) -> np.ndarray:
    """Heatmaps [N, H, W] in [0, 1] of the positive logit for images [N, 1, H, W]."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model.eval()
    device = next(model.parameters()).device
    with GradCAM(model=model, target_layers=[model.cam_layer()]) as cam:
        maps = cam(
            input_tensor=images.to(device),
            targets=[ClassifierOutputTarget(0)] * len(images),
        )
    return np.asarray(maps, dtype=np.float32)


def centred_box(heatmap: np.ndarray, fraction: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), a square of side fraction*size centred on the heatmap's maximum,
    shifted to lie inside the image."""
    h, w = heatmap.shape
    cy, cx = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    side_y, side_x = max(1, round(fraction * h)), max(1, round(fraction * w))
    y0 = int(np.clip(cy - side_y // 2, 0, h - side_y))
    x0 = int(np.clip(cx - side_x // 2, 0, w - side_x))
    return x0, y0, x0 + side_x, y0 + side_y


def save_overlay(
    path: str | Path,
    image: np.ndarray,
    heatmap: np.ndarray,
    box: tuple[int, int, int, int],
    title: str,
) -> None:
    """A PNG with the image, the heatmap over it, and the box (Prodan et al., Figure 6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    for ax in axes:
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
    axes[1].imshow(heatmap, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    x0, y0, x1, y1 = box
    axes[2].add_patch(
        Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=2)
    )
    for ax, name in zip(axes, ("image", "Grad-CAM", "most salient region"), strict=True):
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_gradcam(
    folder: Path, cfg: BenchmarkConfig, pool: Pool, main_model: Any
) -> list[dict[str, Any]]:
    """Overlays for evaluated images the main model calls positive (at most gradcam_images)."""
    from .fit import predict, runtime

    if main_model is None or cfg.gradcam_images == 0:
        return []
    model, split, x = main_model
    rt = runtime(cfg)
    prob = predict(model, x[split.evaluate], cfg.batch_size, rt)
    chosen = split.evaluate[prob > cfg.threshold][: cfg.gradcam_images]
    probs = prob[prob > cfg.threshold][: cfg.gradcam_images]
    if len(chosen) == 0:
        return []
    maps = gradcam_maps(model, x[chosen])
    folder.mkdir(parents=True, exist_ok=True)
    boxes = []
    for idx, p, heat in zip(chosen, probs, maps, strict=True):
        row = pool.rows.loc[idx]
        box = centred_box(heat, cfg.bbox_fraction)
        title = f"{row['image_id']} ({row['origin']}, label {pool.classes[row['y']]}), p={p:.2f}"
        save_overlay(folder / f"{row['image_id']}.png", x[idx, 0].numpy(), heat, box, title)
        boxes.append({"image_id": row["image_id"], "prob": float(p), "box_xyxy": list(box)})
    return boxes
