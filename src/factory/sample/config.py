"""Config of the `sample` stage."""

from typing import Literal

from pydantic import Field

from factory.config import Section


class SampleConfig(Section):
    per_class: int = Field(50, ge=1)
    scheduler: Literal["ddpm", "ddim", "dpmsolver++", "unipc"] = "dpmsolver++"
    steps: int = Field(25, ge=1)
    guidance_scale: float = Field(1.0, ge=0)
