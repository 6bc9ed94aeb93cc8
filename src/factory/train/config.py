"""Config of the `train` stage."""

from typing import Literal

from pydantic import Field

from factory.config import Section


class TrainConfig(Section):
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(16, ge=1)
    class_weighting: Literal["sampler", "loss", "none"] = "sampler"
