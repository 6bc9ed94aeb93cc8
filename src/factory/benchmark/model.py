"""The classifier: a timm backbone with one input channel and one logit.

Grayscale input: `timm.create_model(..., in_chans=1)`. With pretrained ImageNet weights,
timm adapts the first convolution by summing its RGB kernels into one channel (what a
grey image replicated to RGB would give, at a third of the first layer's cost). The
input is normalised with the mean of the weights' per-channel mean and std.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from factory.errors import FactoryError, OfflineError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class Classifier(nn.Module):
    """Normalise a [N, 1, H, W] image in [0, 1], then the backbone's single logit."""

    def __init__(self, backbone: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone((x - self.mean) / self.std)

    def cam_layer(self) -> nn.Module:
        """The last feature stage (before global pooling), where Grad-CAM hooks in."""
        return self.backbone.get_submodule(self.backbone.feature_info[-1]["module"])


def check_backbone(name: str) -> None:
    """Unknown timm name -> one line with the closest names timm knows."""
    import timm

    if timm.is_model(name):
        return
    known = timm.list_models()
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    stem = name.split("_")[0]
    close += [m for m in timm.list_models(f"*{stem}*")[:5] if m not in close]
    hint = f"; did you mean {', '.join(close[:8])}?" if close else ""
    raise FactoryError(f"benchmark.backbones: timm has no model {name!r}{hint}")


def pretrained_weights_file(name: str) -> str:
    """Path of the ImageNet weights of `name` in the HF cache, downloading them if needed.

    Looks in the cache first so an offline machine with pre-downloaded weights works.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        raise FactoryError(
            f"benchmark.backbones: timm has no pretrained weights on the HF hub for {name!r}; "
            "set benchmark.pretrained: false or pick another backbone"
        )
    for filename in WEIGHT_FILES:
        cached = try_to_load_from_cache(repo, filename)
        if isinstance(cached, str):
            return cached
    errors = []
    for filename in WEIGHT_FILES:
        try:
            return hf_hub_download(repo, filename)
        except Exception as exc:  # network edge: any failure here means "could not fetch"
            errors.append(f"{filename}: {type(exc).__name__}")
    raise OfflineError(
        f"could not fetch ImageNet weights for {name!r} from the HF hub ({repo}; "
        f"{'; '.join(errors)}): pre-download them into the HF cache on a connected machine "
        f"(`hf download {repo}`) or set benchmark.pretrained: false explicitly"
    )


def create_classifier(
    name: str, *, pretrained: bool, weights_file: str | Path | None = None
) -> Classifier:
    """A one-channel, one-logit timm model; random initialisation only if `pretrained` is False.

    Initialisation draws from torch's global RNG: seed it (torch.manual_seed) before calling.
    """
    import timm

    check_backbone(name)
    kwargs: dict[str, Any] = {"num_classes": 1, "in_chans": 1}
    if pretrained:
        path = weights_file or pretrained_weights_file(name)
        kwargs["pretrained_cfg_overlay"] = {"file": str(path)}
    backbone = timm.create_model(name, pretrained=pretrained, **kwargs)
    cfg = backbone.pretrained_cfg
    mean = sum(cfg.get("mean", (0.5,))) / len(cfg.get("mean", (0.5,)))
    std = sum(cfg.get("std", (0.5,))) / len(cfg.get("std", (0.5,)))
    return Classifier(backbone, mean, std)
