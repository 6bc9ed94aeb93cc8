"""The classifier: timm names, offline pretrained weights, Grad-CAM and its box."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factory.benchmark import model as model_mod
from factory.benchmark.explain import centred_box, gradcam_maps
from factory.benchmark.model import check_backbone, create_classifier
from factory.errors import FactoryError, OfflineError


def test_unknown_backbone_lists_close_matches() -> None:
    with pytest.raises(FactoryError, match=r"no model 'tf_efficientnetv2_xx'.*tf_efficientnetv2_"):
        check_backbone("tf_efficientnetv2_xx")
    check_backbone("tf_efficientnetv2_l")


def test_pretrained_weights_offline_is_a_clear_error(monkeypatch) -> None:
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(OfflineError, match=r"resnet18.*HF cache.*pretrained: false"):
        model_mod.pretrained_weights_file("resnet18")


def test_one_channel_one_logit() -> None:
    torch.manual_seed(0)
    m = create_classifier("test_resnet", pretrained=False)
    assert m(torch.rand(2, 1, 32, 32)).shape == (2, 1)


def test_pretrained_weights_file_is_loaded_with_first_conv_summed(tmp_path) -> None:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    rgb = timm.create_model("test_resnet", pretrained=False)
    path = tmp_path / "model.safetensors"
    save_file(rgb.state_dict(), str(path))
    gray = create_classifier("test_resnet", pretrained=True, weights_file=path)
    name = next(k for k, v in rgb.state_dict().items() if v.ndim == 4)
    expected = rgb.state_dict()[name].sum(dim=1, keepdim=True)
    assert torch.allclose(gray.backbone.state_dict()[name], expected)


@pytest.mark.parametrize("name", ["test_resnet", "test_efficientnet"])
def test_gradcam_map_has_the_input_size(name) -> None:
    torch.manual_seed(0)
    m = create_classifier(name, pretrained=False)
    maps = gradcam_maps(m, torch.rand(3, 1, 32, 32))
    assert maps.shape == (3, 32, 32)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1


def test_centred_box_is_centred_on_the_peak_and_inside() -> None:
    heat = np.zeros((32, 32))
    heat[10, 20] = 1
    assert centred_box(heat, 0.25) == (16, 6, 24, 14)
    heat = np.zeros((32, 32))
    heat[0, 31] = 1
    x0, y0, x1, y1 = centred_box(heat, 0.25)
    assert (x0, y0, x1, y1) == (24, 0, 32, 8)
