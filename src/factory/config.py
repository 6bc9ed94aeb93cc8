"""Typed, validated, immutable configuration: `params.yaml` into config objects.

`params.yaml` has a `common` section and one section per DVC stage, named like the stage.
Each section is a frozen pydantic model that forbids unknown keys and coerces nothing (no
`true` for a number, no `"5"` for an integer). Every problem is one line naming the file,
the key path, the value and what was expected.

A stage validates only the sections it reads (it passes their classes in): this module
imports no concern's config module, not even lazily, so that a stage's code deps in
dvc.yaml stay its own (see tests/test_dvc_deps.py). `factory.params` validates a whole
file (every section): for the profile switch, the package stage and tests.
The library never reads params.yaml by itself: stage scripts and the CLI load it and pass
the config objects down.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from factory.errors import ConfigError

if TYPE_CHECKING:  # types only: importing them here would make every stage depend on them
    from factory.benchmark.config import BenchmarkConfig
    from factory.gate.config import GateConfig
    from factory.ingest.config import IngestConfig
    from factory.package.config import PackageConfig
    from factory.phantom.config import PhantomConfig
    from factory.sample.config import SampleConfig
    from factory.train.config import TrainConfig

STAGES = ("phantom", "ingest", "train", "sample", "gate", "package", "benchmark")
SECTIONS = ("common", *STAGES)


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


@dataclasses.dataclass(frozen=True)
class Params:
    """The sections a stage read from one params file, validated and cross-checked.

    One field per section; a section the caller did not ask for is None. `source` is the
    file read (messages name it).
    """

    source: str
    common: CommonConfig
    phantom: PhantomConfig | None = None
    ingest: IngestConfig | None = None
    train: TrainConfig | None = None
    sample: SampleConfig | None = None
    gate: GateConfig | None = None
    package: PackageConfig | None = None
    benchmark: BenchmarkConfig | None = None

    @property
    def sections(self) -> dict[str, Section]:
        """The loaded sections by name, in params.yaml order."""
        return {n: getattr(self, n) for n in SECTIONS if getattr(self, n) is not None}

    def resolved(self, *names: str) -> dict[str, Any]:
        """The named sections as plain data, for saving beside a stage's outputs."""
        missing = [n for n in names if getattr(self, n, None) is None]
        if missing:
            raise ConfigError(
                f"{self.source}: section(s) {', '.join(missing)} were not loaded by this "
                "stage; add them to the sections it reads"
            )
        return {n: getattr(self, n).model_dump(mode="json") for n in names}


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TAG_PREFIXES = ("constrained-", "function-", "json-or-python", "lax-or-strict", "literal[")


def _is_union_tag(part: object) -> bool:
    """pydantic puts the tried member of a union into the location (`constrained-int`)."""
    return isinstance(part, str) and (
        part.startswith(_TAG_PREFIXES) or "[" in part or part in ("int", "float", "str", "bool")
    )


def _first_error(source: str, section: str, cls: type[Section], exc: ValidationError) -> str:
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(p) for p in (section, *err["loc"]) if not _is_union_tag(p))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        known = ", ".join(cls.model_fields)
        return f"{source}: unknown key {loc!r}; known keys of {section!r}: {known}{more}"
    if err["type"] == "missing":
        return f"{source}: missing key {loc!r}{more}"
    value = err.get("input")
    hint = " (YAML reads true/false/yes/no/on/off as a boolean)" if isinstance(value, bool) else ""
    return f"{source}: {loc} = {_describe(value)}: {err['msg']}{hint}{more}"


def check_section(name: str, cls: type[Section], raw: Any, source: str) -> Section:
    """Validate one section's raw mapping into `cls`, strictly.

    Strict JSON mode: pydantic then takes YAML's lists for tuples and ints for floats, but
    refuses a boolean or a string where a number is expected (lax mode reads `steps: true`
    as 1). A missing or empty section (`train:`) takes the class defaults.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: section {name!r} must be a mapping of keys, got {type(raw).__name__}"
        )
    try:
        text = json.dumps(raw, default=str)
        return cls.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise ConfigError(_first_error(source, name, cls, exc)) from None


def _unet_levels_fit(params: Params) -> None:
    """common.image_size against the UNet of train: each level halves the side."""
    if params.train is None:
        return
    size, widths = params.common.image_size, params.train.block_out_channels
    levels = len(widths)
    if size % 2 ** (levels - 1):
        raise ConfigError(
            f"{params.source}: common.image_size = {size} is not divisible by "
            f"2^{levels - 1} = {2 ** (levels - 1)} (train.block_out_channels has {levels} "
            "levels, each halving the side): use an image size that is, or fewer levels"
        )
    sides = [size // 2**i for i in range(levels)]
    unknown = sorted(set(params.train.attention_resolutions) - set(sides))
    if unknown:
        raise ConfigError(
            f"{params.source}: train.attention_resolutions {unknown} are not UNet level "
            f"sides at common.image_size = {size}; the levels are {sides}"
        )


def _sample_classes_known(params: Params) -> None:
    """A per-class mapping in sample.per_class names classes of common.classes."""
    per_class = getattr(params.sample, "per_class", None)
    if isinstance(per_class, Mapping):
        unknown = sorted(set(per_class) - set(params.common.classes))
        if unknown:
            raise ConfigError(
                f"{params.source}: sample.per_class names {unknown}, which are not in "
                f"common.classes {list(params.common.classes)}"
            )


# Checks that need more than one section; each skips when a section is not loaded.
CROSS_CHECKS = (_unet_levels_fit, _sample_classes_known)


def cross_check(params: Params) -> Params:
    """Run every cross-section check on the loaded sections; returns `params`."""
    for check in CROSS_CHECKS:
        check(params)
    return params


def parse_params(raw: Any, source: str = "params.yaml", **sections: type[Section]) -> Params:
    """Validate `common` and the given sections (name=ConfigClass) of a params mapping.

    The mapping must hold at least one section; other known sections are left
    unvalidated (other stages read them); unknown section names are errors.
    """
    if not isinstance(raw, dict) or not raw:
        what = "is empty" if not raw else f"is a {type(raw).__name__}"
        raise ConfigError(
            f"{source}: the params file {what}: expected a mapping of sections "
            f"({', '.join(SECTIONS)}); start from the project's params.yaml"
        )
    unknown = [k for k in raw if k not in SECTIONS]
    if unknown:
        raise ConfigError(
            f"{source}: unknown section {unknown[0]!r}; expected one of {', '.join(SECTIONS)}"
        )
    bad = [n for n in sections if n not in STAGES]
    if bad:
        raise ConfigError(f"unknown section {bad[0]!r}: expected one of {', '.join(STAGES)}")
    loaded = {n: check_section(n, cls, raw.get(n), source) for n, cls in sections.items()}
    common = check_section("common", CommonConfig, raw.get("common"), source)
    return cross_check(Params(source=source, common=common, **loaded))  # type: ignore[arg-type]


def read_params_file(path: str | Path) -> Any:
    """The raw YAML of a params file; a missing file or a syntax error is one line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such params file (run from the project root)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a params file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None


def read_params(path: str | Path = "params.yaml", **sections: type[Section]) -> Params:
    """Read a params file and validate `common` plus the given sections (name=Class)."""
    return parse_params(read_params_file(path), str(path), **sections)


def override(
    params: Params,
    section: str,
    values: Mapping[str, Any],
    origin: str,
    keep_none: bool = False,
) -> Params:
    """`params` with the given keys of one section replaced (None: not given, unless
    `keep_none`).

    The one helper for command-line options that override params: the new section is
    validated like the file (errors name `origin`, e.g. "--steps 0"), then the
    cross-section checks run again. The result is what the stage runs with and records.
    """
    given = {k: v for k, v in values.items() if keep_none or v is not None}
    if not given:
        return params
    current = getattr(params, section)
    if current is None:
        raise ConfigError(f"{origin}: section {section!r} is not read by this command")
    raw = {**current.model_dump(mode="json"), **json.loads(json.dumps(given, default=str))}
    new = check_section(section, type(current), raw, origin)
    changed = dataclasses.replace(params, **{section: new})
    checked = dataclasses.replace(changed, source=f"{params.source} with {origin}")
    cross_check(checked)
    return changed
