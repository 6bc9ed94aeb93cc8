"""Device policy, in one place: CUDA when there is a GPU, else the CPU.

Train and sample get their `Accelerator` here (under torchrun it also joins the process
group: NCCL on GPUs, gloo on CPU); single-process work (the gate's feature extraction and
classifiers) asks `device()`. Nothing here reads params or the environment beyond what
torch and accelerate do themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch

from factory.errors import FactoryError

if TYPE_CHECKING:
    from accelerate import Accelerator

Precision = Literal["no", "fp16", "bf16"]


def on_gpu() -> bool:
    """True when torch sees a CUDA GPU."""
    return torch.cuda.is_available()


def device() -> torch.device:
    """The device for single-process torch work: cuda when present, else cpu."""
    return torch.device("cuda" if on_gpu() else "cpu")


def make_accelerator(
    mixed_precision: Precision = "no",
    gradient_accumulation_steps: int = 1,
    *,
    setting: str = "train.mixed_precision",
) -> Accelerator:
    """An Accelerator on CUDA when present, else on CPU (gloo for several processes).

    fp16 autocast needs CUDA (there is no CPU fp16 GradScaler); `setting` names the
    param that asked for it in the error.
    """
    from accelerate import Accelerator

    gpu = on_gpu()
    if mixed_precision == "fp16" and not gpu:
        raise FactoryError(f"{setting} = 'fp16' needs a CUDA GPU; use 'bf16' or 'no' on CPU")
    # cpu=True is what makes accelerate build a gloo process group under torchrun on CPU.
    return Accelerator(
        cpu=not gpu,
        mixed_precision=mixed_precision,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
