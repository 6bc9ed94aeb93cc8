"""Fixtures of the train tests: a tiny UNet config and a one-thread torch.

One thread: the test machine is shared, and two OpenMP threads fighting other jobs for
two cores run tiny models many times slower than one.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from factory.config import CommonConfig
from factory.train.config import TrainConfig

_spec = importlib.util.spec_from_file_location(
    "_root_conftest_train", Path(__file__).resolve().parents[1] / "conftest.py"
)
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
make_tiny_manifest = _root.make_tiny_manifest

TINY = {
    "block_out_channels": (8, 16),
    "layers_per_block": 1,
    "attention_resolutions": (8,),
    "mid_attention": False,
    "attention_head_dim": 4,
    "norm_num_groups": 4,
    "steps": 4,
    "batch_size": 4,
    "warmup_steps": 0,
    "lr_schedule": "constant",
    "learning_rate": 1e-3,
    "checkpoint_every": 2,
    "keep_checkpoints": 2,
    "log_every": 1,
    "preview_every": 0,
    "preview_per_class": 1,
    "preview_steps": 2,
    "channels_last": False,
    "ema_max_decay": 0.99,
}


@pytest.fixture(autouse=True)
def _one_thread_fresh_accelerate():
    """One torch thread; accelerate's process-wide state reset after each test (its
    singleton refuses a second Accelerator with another mixed precision)."""
    from accelerate.state import AcceleratorState, GradientState

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture
def tiny_cfg() -> Callable[..., TrainConfig]:
    """A TrainConfig for a 2-level UNet of widths (8, 16) at 16 px, with overrides."""

    def make(**overrides) -> TrainConfig:
        return TrainConfig(**{**TINY, **overrides})

    return make


@pytest.fixture
def common16() -> CommonConfig:
    return CommonConfig(seed=0, image_size=16)


@pytest.fixture
def manifest16(tmp_path: Path) -> Path:
    """The tiny manifest at 16 px (12 patients, 2 images each; 12 train images)."""
    return make_tiny_manifest(tmp_path / "ingest", size=16)


@pytest.fixture
def make_manifest() -> Callable[..., Path]:
    """tests/conftest.py's make_tiny_manifest, for custom sizes and counts."""
    return make_tiny_manifest
