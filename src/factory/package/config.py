"""Config of the `package` stage: what the packaged synthetic set is called and how it is cut."""

from __future__ import annotations

from pydantic import Field

from factory.config import Section


class PackageConfig(Section):
    """Name, version and card metadata of the synthetic set written under datasets/synthetic/."""

    name: str = Field(
        "phantom-demo",
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Folder name under datasets/synthetic/ and default Hub repo name.",
    )
    version: str = Field(
        "v0.1.0",
        pattern=r"^v\d+\.\d+\.\d+$",
        description="Semantic version recorded in the card and lineage; the Hub tag at publish.",
    )
    pretty_name: str = Field(
        "Synthetic mammograms",
        min_length=1,
        max_length=120,
        description="Human-readable title of the dataset card.",
    )
    license: str = Field(
        "other",
        pattern=r"^[a-z0-9][a-z0-9.+-]*$",
        description="Hub license id of the set (e.g. cc-by-4.0); 'other' when the source "
        "dataset's terms apply.",
    )
    rows_per_shard: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Rows per data/train-*.parquet shard (the Hub streams shards of this size).",
    )
