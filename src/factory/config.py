"""Typed, validated, immutable configuration: `params.yaml` into config objects.

`params.yaml` has a `common` section and one section per DVC stage, named like the stage.
Each section is a frozen pydantic model that forbids unknown keys. Every problem is
reported in one line naming the file, the key path, the value and what was expected.
The library never reads params.yaml by itself: stage scripts and the CLI call
`load_params` and pass the config objects down.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from factory.errors import ConfigError

STAGES = ("phantom", "ingest", "train", "sample", "gate", "package", "benchmark")

# Where each section's config class lives (module, class). Imported on demand so that
# loading a config never imports torch.
_SECTION_CLASSES: dict[str, tuple[str, str]] = {
    "common": ("factory.config", "CommonConfig"),
    "phantom": ("factory.phantom.config", "PhantomConfig"),
    "ingest": ("factory.ingest.config", "IngestConfig"),
    "train": ("factory.train.config", "TrainConfig"),
    "sample": ("factory.sample.config", "SampleConfig"),
    "gate": ("factory.gate.config", "GateConfig"),
    "package": ("factory.package.config", "PackageConfig"),
    "benchmark": ("factory.benchmark.config", "BenchmarkConfig"),
}


class Section(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class CommonConfig(Section):
    """Settings every stage shares."""

    seed: int = Field(0, ge=0, description="The one seed; every RNG derives from it.")
    classes: tuple[str, ...] = Field(
        ("normal", "abnormal"), min_length=2, description="Class names, index = label."
    )
    image_size: int = Field(64, ge=16, le=4096, description="Square side of stored images.")

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"class names must be unique, got {list(v)}")
        return v


def section_class(name: str) -> type[Section]:
    try:
        module, cls = _SECTION_CLASSES[name]
    except KeyError:
        raise ConfigError(
            f"unknown section {name!r}: expected one of {', '.join(_SECTION_CLASSES)}"
        ) from None
    return getattr(importlib.import_module(module), cls)


class Params(BaseModel):
    """All of params.yaml, validated. Sections absent from the file take their defaults."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    source: str = "params.yaml"
    sections: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    @property
    def common(self) -> CommonConfig:
        return self.sections["common"]

    def resolved(self, *names: str) -> dict[str, Any]:
        """The named sections as plain data, for saving beside a stage's outputs."""
        return {n: self.sections[n].model_dump(mode="json") for n in names}


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_error(source: str, section: str, exc: ValidationError) -> str:
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(p) for p in (section, *err["loc"]))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        cls = section_class(section)
        known = ", ".join(cls.model_fields)
        return f"{source}: unknown key {loc!r}; known keys of {section!r}: {known}{more}"
    if err["type"] == "missing":
        return f"{source}: missing key {loc!r}{more}"
    value = _describe(err.get("input"))
    return f"{source}: {loc} = {value}: {err['msg']}{more}"


def validate_section(name: str, raw: Any, source: str = "params.yaml") -> Section:
    """Validate one section's raw mapping into its config object."""
    cls = section_class(name)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: section {name!r} must be a mapping of keys, got {type(raw).__name__}"
        )
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_first_error(source, name, exc)) from None


def params_from_dict(raw: Any, source: str = "params.yaml") -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    unknown = [k for k in raw if k not in _SECTION_CLASSES]
    if unknown:
        raise ConfigError(
            f"{source}: unknown section {unknown[0]!r}; expected one of "
            f"{', '.join(_SECTION_CLASSES)}"
        )
    sections = {name: validate_section(name, raw.get(name), source) for name in _SECTION_CLASSES}
    return Params(source=source, sections=sections)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; every problem is one ConfigError line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such params file (run from the project root)") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    return params_from_dict(raw, str(path))
