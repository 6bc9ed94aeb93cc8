"""Pluggable image feature extractors for FID, KID, PRDC and the feature-space copy search.

Every extractor is an `nn.Module` taking grayscale images [B, 1, H, W] as floats in [0, 1]
and returning features [B, D]; each converts to what its network expects inside. Pick one
with `build_extractor(name, ...)`:

- `inception`: torch-fidelity's FID InceptionV3 (the network FID numbers are reported
  with), through torchmetrics' `NoTrainInceptionV3`;
- `timm`: any timm model with pretrained weights, pooled penultimate features;
- `random_cnn`: weight-free, a fixed-seed randomly initialised CNN with multi-scale
  mean/std pooling. Runs offline and deterministically; see docs/gate.md for its limits.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from factory.errors import FactoryError, OfflineError

# Widths of the random CNN's stages; features = mean and std of each stage's channels.
RANDOM_CNN_WIDTHS = (8, 16, 32, 64)  # 240 features: covariances stay estimable


class RandomCNN(nn.Module):
    """A fixed, randomly initialised CNN: texture statistics at four scales, no weights.

    Random convolutional features are a known weight-free proxy for perceptual features:
    each stage is a bank of random edge/texture filters; pooling each channel's mean and
    standard deviation (Gram-like first and second moments) over the image keeps what
    textures are present and how strong, at four scales, and forgets where. It has no
    notion of anatomy or lesions beyond texture. Weights come from `seed` only.
    """

    def __init__(self, seed: int = 0, widths: tuple[int, ...] = RANDOM_CNN_WIDTHS) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        layers = []
        in_ch = 1
        for width in widths:
            conv = nn.Conv2d(in_ch, width, kernel_size=3, padding=1, bias=True)
            fan_in = in_ch * 9
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) / math.sqrt(fan_in))
                conv.bias.copy_(0.1 * torch.randn(conv.bias.shape, generator=gen))
            layers.append(conv)
            in_ch = width
        self.convs = nn.ModuleList(layers)
        self.num_features = 2 * sum(widths)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.5) * 2  # centre the [0, 1] intensities so the biases matter at both ends
        stats = []
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = F.avg_pool2d(x, 2) if min(x.shape[-2:]) >= 2 else x
            x = F.leaky_relu(conv(x), 0.2)
            flat = x.flatten(2)
            stats += [flat.mean(-1), flat.std(-1, unbiased=False)]
        return torch.cat(stats, dim=1)


class InceptionFeatures(nn.Module):
    """torch-fidelity's FID InceptionV3 pool features (2048) for grayscale [0, 1] input."""

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        if weights_path is not None and not Path(weights_path).is_file():
            raise FactoryError(
                f"gate.weights_path = {weights_path!r}: no such file; point it at the "
                "FID InceptionV3 weights (weights-inception-2015-12-05-6726825d.pth)"
            )
        try:
            self.net = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=["2048"],
                feature_extractor_weights_path=weights_path,
            )
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            raise OfflineError(
                "could not download the FID InceptionV3 weights "
                f"({type(exc).__name__}); download "
                "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                "weights-inception-2015-12-05-6726825d.pth and set gate.weights_path to it, "
                "or use gate.extractor: random_cnn offline"
            ) from None
        self.num_features = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = (x.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1)
        return self.net(rgb).reshape(x.shape[0], -1)


class TimmFeatures(nn.Module):
    """Pooled penultimate features of a pretrained timm model, ImageNet-normalised."""

    def __init__(self, model_name: str, weights_path: str | None = None) -> None:
        super().__init__()
        import timm

        if not timm.is_model(model_name.split(".")[0]) and not model_name.startswith("hf-hub:"):
            raise FactoryError(
                f"gate.timm_model = {model_name!r}: not a timm model; see timm.list_models()"
            )
        overlay = None
        if weights_path is not None:
            if not Path(weights_path).is_file():
                raise FactoryError(f"gate.weights_path = {weights_path!r}: no such file")
            overlay = {"file": str(weights_path)}
        try:
            self.net = timm.create_model(
                model_name, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay
            )
        except (OSError, RuntimeError) as exc:
            raise OfflineError(
                f"could not fetch pretrained weights for timm model {model_name!r} "
                f"({type(exc).__name__}); download them on a connected machine (the HF Hub "
                "cache is used) or set gate.weights_path to a local weights file"
            ) from None
        cfg = self.net.pretrained_cfg
        self.size = int(cfg.get("input_size", (3, 224, 224))[-1])
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))))
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))))
        self.num_features = int(self.net.num_features)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        x = (x.expand(-1, 3, -1, -1) - self.mean[:, None, None]) / self.std[:, None, None]
        return self.net(x)


def build_extractor(
    name: str, *, weights_path: str | None = None, timm_model: str = "", seed: int = 0
) -> nn.Module:
    """The feature extractor named in `gate.extractor`, ready in eval mode."""
    if name == "random_cnn":
        return RandomCNN(seed)
    if name == "inception":
        return InceptionFeatures(weights_path)
    if name == "timm":
        return TimmFeatures(timm_model, weights_path)
    raise FactoryError(f"gate.extractor = {name!r}: expected one of inception, timm, random_cnn")


@torch.no_grad()
def extract_features(
    images,
    extractor: nn.Module,
    batch_size: int = 32,
    desc: str = "features",
    device: torch.device | str | None = None,
    mapper=None,
) -> np.ndarray:
    """Features [N, D] (float64) of grayscale images [N, H, W] with values in [0, 1].

    `images`: an array or a lazy `factory.gate.realset.RealSet`, read one batch at a
    time (so only `batch_size` images are in memory). `device`: where the network runs
    (the gate passes CUDA when available); None = CPU. `mapper`
    (`factory.shard.map_shards`) deals the batches out over processes; the batches are
    the same whoever computes them, so the features are too.
    """
    if images.ndim != 3:
        raise ValueError(f"expected images [N, H, W], got shape {images.shape}")
    device = torch.device(device or "cpu")
    extractor.eval().to(device)

    def one(start: int) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        with torch.no_grad():
            return extractor(batch.float()[:, None].to(device)).double().cpu().numpy()

    starts = range(0, len(images), batch_size)
    if mapper is None:
        chunks = [one(s) for s in tqdm(starts, desc=desc, unit="batch", leave=False)]
    else:
        chunks = mapper(one, list(starts), desc)
    if not chunks:
        return np.zeros((0, int(getattr(extractor, "num_features", 0))), dtype=np.float64)
    return np.concatenate(chunks)
