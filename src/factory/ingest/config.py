"""Config of the `ingest` stage."""

from typing import Literal

from pydantic import Field

from factory.config import Section


class IngestConfig(Section):
    source: Literal["inbreast", "rsna", "cbis-ddsm", "vindr", "mias", "folder"] = "inbreast"
    workers: int = Field(2, ge=1)
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)
    folds: int = Field(5, ge=2)
    max_bad_fraction: float = Field(0.05, ge=0, le=1)
