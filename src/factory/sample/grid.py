"""Preview grids: a picture per class for people to look at (not read by any stage)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from factory.io import atomic_write_bytes


def grid_png(images: list[np.ndarray], title: str) -> bytes:
    """A square-ish grid of uint16 images as PNG bytes (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(1, math.ceil(math.sqrt(len(images))))
    rows = max(1, math.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img in zip(axes.flat, images, strict=False):
        ax.imshow(img, cmap="gray", vmin=0, vmax=65535, interpolation="nearest")
    return figure_png(fig, title)


def figure_png(fig: Any, title: str) -> bytes:
    """A matplotlib figure with its title as PNG bytes (100 dpi); closes the figure."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write_grid(path: str | Path, images: list[np.ndarray], title: str) -> Path:
    return atomic_write_bytes(path, grid_png(images, title))
