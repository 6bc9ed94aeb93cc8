"""Config of the `benchmark` stage."""

from pydantic import Field

from factory.config import Section


class BenchmarkConfig(Section):
    backbone: str = "tf_efficientnetv2_l"
    pretrained: bool = True
    synthetic_counts: tuple[int, ...] = (0, 100, 250, 500)
    seeds: int = Field(3, ge=1)
