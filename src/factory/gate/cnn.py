"""A small timm CNN trained from scratch, through the benchmark's own code path.

A thin wrapper over `factory.benchmark.model.create_classifier` and
`factory.benchmark.fit.fit/predict` (read-only imports: the benchmark team owns them), so
the gate's CNN probes train exactly as the benchmark's classifiers do (Adam, balanced
class weights, BCE on one logit), on the GPU when there is one.
"""

from __future__ import annotations

import numpy as np
import torch

from factory.gate.config import GateConfig


def device() -> torch.device:
    """The gate's device policy: CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_pixels(images, size: int, chunk: int = 256) -> torch.Tensor:
    """[N, H, W] in [0, 1] -> [N, 1, size, size] float (antialiased resize).

    `images` may be a lazy RealSet: it is read and resized `chunk` images at a time, so
    only the small CNN-sized copy of the whole set is held.
    """
    from torch.nn import functional as F

    if not isinstance(images, np.ndarray):
        parts = [to_pixels(batch, size) for _, batch in images.chunks(chunk)]
        return torch.cat(parts) if parts else torch.zeros((0, 1, size, size))
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return x.clamp_(0, 1)


def _settings(config: GateConfig):
    from factory.benchmark.config import BenchmarkConfig
    from factory.benchmark.fit import Runtime

    cfg = BenchmarkConfig(
        epochs=config.cnn_epochs,
        batch_size=config.cnn_batch_size,
        lr=config.cnn_lr,
        class_weight="balanced",
        workers=0,
    )
    return cfg, Runtime(device(), None, False)


def train_and_score(
    x: torch.Tensor,
    y: np.ndarray,
    train: np.ndarray,
    score: np.ndarray,
    config: GateConfig,
    seed: int,
) -> np.ndarray:
    """Train a fresh seeded CNN on rows `train` of (x, y); P(y=1) of rows `score`."""
    from factory.benchmark.fit import fit, predict
    from factory.benchmark.model import create_classifier

    cfg, rt = _settings(config)
    torch.manual_seed(seed)
    model = create_classifier(config.cnn_model, pretrained=False)
    generator = torch.Generator().manual_seed(seed)
    fit(model, x, y.astype(np.int64), train, np.zeros(0, dtype=np.int64), cfg, generator, rt)
    return predict(model, x[score], cfg.batch_size, rt)
