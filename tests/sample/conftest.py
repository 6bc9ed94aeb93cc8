"""Tiny random generators in the `factory.generator` layout (16 px, seconds to sample)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from factory.generator import GeneratorMeta, save_generator
from factory.sample.config import SampleConfig

CLASSES = ("normal", "abnormal")


def tiny_unet(seed: int = 0, classes: int = 2):
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=16,
        in_channels=1,
        out_channels=1,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        num_class_embeds=classes + 1,
        norm_num_groups=4,
    ).eval()


def make_tiny_model(
    out_dir: Path, *, classes=CLASSES, prediction_type: str = "epsilon", unet=None
) -> Path:
    from diffusers import DDPMScheduler

    unet = unet if unet is not None else tiny_unet(classes=len(classes))
    meta = GeneratorMeta(
        classes=tuple(classes),
        image_size=16,
        null_class=len(classes),
        prediction_type=prediction_type,
        train_steps=1,
    )
    scheduler = DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction_type)
    save_generator(out_dir, unet, unet, scheduler, meta)
    return out_dir


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The machine is shared: torch spinning two threads on a loaded box is 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return make_tiny_model(tmp_path / "model")


def tiny_config(**overrides) -> SampleConfig:
    values = {
        "per_class": 3,
        "scheduler": "ddim",
        "steps": 3,
        "guidance_scale": 1.0,
        "batch_size": 4,
        "grid_per_class": 0,  # matplotlib takes seconds; the layout test asks for grids
    }
    values.update(overrides)
    return SampleConfig(**values)
