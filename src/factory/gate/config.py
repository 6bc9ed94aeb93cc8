"""Config of the `gate` stage."""

from pydantic import Field

from factory.config import Section


class GateConfig(Section):
    memorization_percentile: float = Field(1.0, ge=0, le=100)
    max_fid: float | None = None
    max_kid: float | None = None
