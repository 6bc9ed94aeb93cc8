"""A whole params file, every section validated: profiles, the package stage, tests.

A stage reads only its own sections through `factory.config.read_params` (so that it does
not depend on every concern's config module); this module is for the callers that need
all of them: `factory profile use` (a profile must be valid as a whole), the package stage
(it records every upstream section) and tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory.benchmark.config import BenchmarkConfig
from factory.config import (
    CommonConfig,
    Params,
    Section,
    check_section,
    parse_params,
    read_params_file,
)
from factory.errors import ConfigError
from factory.gate.config import GateConfig
from factory.ingest.config import IngestConfig
from factory.package.config import PackageConfig
from factory.phantom.config import PhantomConfig
from factory.sample.config import SampleConfig
from factory.train.config import TrainConfig

STAGE_SECTIONS: dict[str, type[Section]] = {
    "phantom": PhantomConfig,
    "ingest": IngestConfig,
    "train": TrainConfig,
    "sample": SampleConfig,
    "gate": GateConfig,
    "package": PackageConfig,
    "benchmark": BenchmarkConfig,
}


def params_from_dict(raw: Any, source: str = "params.yaml") -> Params:
    """Every section of a params mapping; absent sections take their defaults."""
    return parse_params(raw, source, **STAGE_SECTIONS)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read a params file and validate every section; every problem is one line."""
    return params_from_dict(read_params_file(path), str(path))


def validate_section(name: str, raw: Any, source: str = "params.yaml") -> Section:
    """Validate one section by name (strictly, as a stage does)."""
    classes: dict[str, type[Section]] = {"common": CommonConfig, **STAGE_SECTIONS}
    if name not in classes:
        raise ConfigError(f"unknown section {name!r}: expected one of {', '.join(classes)}")
    return check_section(name, classes[name], raw, source)
