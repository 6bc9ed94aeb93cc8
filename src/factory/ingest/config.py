"""Config of the `ingest` stage: which dataset to read, how to label and split it.

Imports only pydantic and the stdlib (loading params must never import numpy or torch).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from factory.config import Section

SourceKind = Literal["inbreast", "rsna", "cbis-ddsm", "vindr", "mias", "folder"]
SOURCES: tuple[str, ...] = ("inbreast", "rsna", "cbis-ddsm", "vindr", "mias", "folder")


class IngestConfig(Section):
    """How one public dataset (or a hospital export) becomes the project's manifest."""

    source: SourceKind = Field(
        "inbreast", description="Dataset layout to read: " + ", ".join(SOURCES) + "."
    )
    path: str = Field(
        "datasets/phantom",
        description="The dataset folder as downloaded. dvc.yaml passes it to the stage as "
        "--path (and tracks it as a dependency); the library itself never reads this key.",
    )
    label_map: str | dict[str, str | None] = Field(
        "default",
        description="A named map of the source (see docs/ingest.md, e.g. 'sutjiadi' or "
        "'birads-1-3-vs-4-6' for inbreast; 'default' = the source's default), or an "
        "explicit mapping {source label: class name in common.classes, or null to drop}.",
    )
    csv: str | None = Field(
        None,
        description="Label file inside the dataset folder for the 'folder' source "
        "(default labels.csv); for inbreast INbreast.csv or INbreast.xls (default: found).",
    )
    workers: int = Field(4, ge=1, le=256, description="Decode worker processes.")
    split: tuple[float, float, float] = Field(
        (0.7, 0.1, 0.2), description="train/val/test fractions, by patient."
    )
    folds: int = Field(5, ge=2, le=100, description="k of the by-patient k-fold column.")
    max_bad_fraction: float = Field(
        0.05, ge=0, le=1, description="Fail when more than this fraction is quarantined."
    )
    min_breast_fraction: float = Field(
        0.02,
        gt=0,
        lt=1,
        description="A foreground component smaller than this fraction of the image is "
        "not a breast (quarantined as no_breast).",
    )
    crop_margin: float = Field(
        0.01, ge=0, le=0.2, description="Margin kept around the breast, fraction of its size."
    )

    @field_validator("split")
    @classmethod
    def _fractions(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(f < 0 for f in v) or abs(sum(v) - 1) > 1e-6 or v[0] <= 0:
            raise ValueError(
                f"train/val/test fractions must be >= 0, sum to 1 and train > 0, got {list(v)}"
            )
        return v

    @model_validator(mode="after")
    def _csv_only_where_used(self) -> IngestConfig:
        if self.csv is not None and self.source not in ("folder", "inbreast"):
            raise ValueError(f"'csv' applies to the folder and inbreast sources, not {self.source}")
        return self
