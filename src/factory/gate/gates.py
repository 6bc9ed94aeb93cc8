"""The gate's verdict rows (`Check`): written once into metrics.json, read by everyone else.

A `Check` is one metric in one scope (overall or a class) against one params key. The
gate computes `compared_value` (the metric itself, its ratio to the real-versus-real
reference, or their difference) and `passed` once, here; the package, the benchmark and
the audit page read the rows with `load_checks` and never re-derive a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from factory.errors import FactoryError
from factory.gate.config import DISTRIBUTION_METRICS, GATES, GateConfig

Compared = Literal["ratio", "difference", "value"]
COMPARED = ("ratio", "difference", "value")
DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Check:
    """One verdict row of metrics.json `checks` (see docs/gate.md and CONTRACTS.md)."""

    gate: str | None  # the params key that set the threshold; None = reported only
    metric: str
    scope: str = "overall"  # "overall" or a class name
    value: float | None = None  # synthetic vs real train (mean over equal-size subsets)
    value_sd: float | None = None
    reference: float | None = None  # real val vs real train, same set size
    reference_sd: float | None = None
    compared: str = "value"  # what the threshold applies to: ratio | difference | value
    compared_value: float | None = None
    threshold: float | None = None
    direction: str = "max"  # "max": compared_value <= threshold passes; "min": >=
    gated: bool = False
    passed: bool = True
    n_synthetic: int | None = None
    n_reference: int | None = None
    note: str = ""

    @property
    def name(self) -> str:
        """metric, or metric[class] outside the overall scope (the tables' first column)."""
        return self.metric if self.scope == "overall" else f"{self.metric}[{self.scope}]"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], where: str = "metrics.json") -> Check:
        """A row as the gate wrote it; a missing key or a bad value is a FactoryError."""
        if not isinstance(row, Mapping):
            raise FactoryError(f"{where}: a `checks` row must be a mapping, got {row!r}")
        missing = [f.name for f in fields(cls) if f.name not in row]
        if missing:
            raise FactoryError(
                f"{where}: a `checks` row lacks {', '.join(missing)} ({row.get('metric')!r}); "
                "it was written by another gate version: re-run `dvc repro gate`"
            )
        if row["compared"] not in COMPARED or row["direction"] not in DIRECTIONS:
            raise FactoryError(
                f"{where}: check {row.get('metric')!r} has compared={row['compared']!r}, "
                f"direction={row['direction']!r}; expected one of {COMPARED} and {DIRECTIONS}"
            )
        if not isinstance(row["passed"], bool) or not isinstance(row["gated"], bool):
            raise FactoryError(f"{where}: check {row['metric']!r}: passed/gated must be booleans")
        return cls(**{f.name: row[f.name] for f in fields(cls)})


def load_checks(metrics_document: Mapping[str, Any], where: str = "metrics.json") -> list[Check]:
    """The verdict rows of a gate metrics.json document, as `Check` objects."""
    rows = metrics_document.get("checks")
    if not isinstance(rows, list):
        raise FactoryError(
            f"{where}: no `checks` list (written by an older gate); re-run `dvc repro gate`"
        )
    return [Check.from_dict(row, where) for row in rows]


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def compare(value: float | None, reference: float | None, compared: str) -> float | None:
    """The number a threshold applies to: value, value / reference or value - reference.

    A ratio to a reference at or below zero is undefined (None): such a metric can only be
    gated by its difference or its absolute value.
    """
    if compared == "value":
        return value if _finite(value) else None
    if not (_finite(value) and _finite(reference)):
        return None
    if compared == "difference":
        return float(value - reference)
    if reference <= 0:
        return None
    return float(value / reference)


def judge(
    gate: str | None,
    metric: str,
    threshold: float | None,
    direction: str,
    *,
    scope: str = "overall",
    value: float | None = None,
    compared: str = "value",
    usable: bool = True,
    note: str = "",
    **stats: Any,
) -> Check:
    """Build a `Check` and decide it.

    `stats`: value_sd, reference, reference_sd, n_synthetic, n_reference. A gated check
    fails when its compared value could not be computed (None or not finite) or when
    `usable` is False (e.g. the reference set is too small to be stable: `note` says why):
    a gate never passes by default.
    """
    compared_value = compare(value, stats.get("reference"), compared)
    if compared != "value" and compared_value is None and not note:
        note = f"no {compared} to the reference (reference missing or <= 0)"
    gated = threshold is not None
    if not gated:
        passed = True
    elif not usable or compared_value is None:
        passed = False
    elif direction == "max":
        passed = compared_value <= threshold
    else:
        passed = compared_value >= threshold
    return Check(
        gate=gate,
        metric=metric,
        scope=scope,
        value=value if _finite(value) else None,
        compared=compared,
        compared_value=compared_value,
        threshold=threshold,
        direction=direction,
        gated=gated,
        passed=bool(passed),
        note=note,
        **{k: _clean(v) for k, v in stats.items()},
    )


@dataclass(frozen=True)
class Measured:
    """A metric as measured, before any threshold: what `evaluate` turns into `Check`s."""

    value: float | None
    value_sd: float | None = None
    reference: float | None = None
    reference_sd: float | None = None
    n_synthetic: int | None = None
    n_reference: int | None = None
    note: str = ""
    usable: bool = True  # False: the reference is unstable; ratio/difference gates fail


def _reported(metric: str) -> tuple[str, str]:
    """(direction, compared) of a metric shown without a gate on it."""
    if metric in DISTRIBUTION_METRICS:
        return DISTRIBUTION_METRICS[metric]
    if metric.startswith(("class_fidelity", "class_agreement")):
        return "min", "value"
    return "max", "value"


def _matches(name: str, metric: str) -> bool:
    return name == metric or (metric == "detectability_auc" and name.startswith(metric + "_"))


def _check(
    gate: str | None, name: str, scope: str, m: Measured, threshold: float | None, how: tuple
) -> Check:
    direction, compared = how
    return judge(
        gate,
        name,
        threshold,
        direction,
        scope=scope,
        value=m.value,
        compared=compared,
        usable=m.usable or compared == "value",
        note=m.note,
        value_sd=m.value_sd,
        reference=m.reference,
        reference_sd=m.reference_sd,
        n_synthetic=m.n_synthetic,
        n_reference=m.n_reference,
    )


def evaluate(measured: Mapping[str, Mapping[str, Measured]], config: GateConfig) -> list[Check]:
    """One row per configured gate and scope it applies to, then every other measured
    metric as a reported-only row (gate None). Scopes: "overall" and class names;
    per-class rows are gated only with gate_per_class (distribution metrics)."""
    checks, gated = [], set()
    for key, (metric, direction, compared) in GATES.items():
        threshold = getattr(config, key)
        if threshold is None:
            continue
        for scope, values in measured.items():
            if scope != "overall" and not (
                config.gate_per_class and metric in DISTRIBUTION_METRICS
            ):
                continue
            for name, m in values.items():
                if _matches(name, metric):
                    checks.append(_check(key, name, scope, m, threshold, (direction, compared)))
                    gated.add((scope, name))
            if scope == "overall" and not any(_matches(n, metric) for n in values):
                missing = Measured(None, note=f"{metric} was not computed")
                checks.append(_check(key, metric, scope, missing, threshold, (direction, compared)))
    for scope, values in measured.items():
        for name, m in values.items():
            if (scope, name) not in gated:
                checks.append(_check(None, name, scope, m, None, _reported(name)))
    return checks


def _clean(x: Any) -> Any:
    """NaN/inf cannot go into JSON: they become None."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _pm(mean: float | None, sd: float | None) -> str:
    return _fmt(mean) if sd is None else f"{_fmt(mean)} ± {_fmt(sd)}"


def _rows(checks: list[Check], ge: str, le: str) -> list[tuple[str, ...]]:
    rows = []
    for c in checks:
        bound = le if c.direction == "max" else ge
        threshold = "-" if c.threshold is None else f"{bound}{_fmt(c.threshold)}"
        if c.compared != "value" and c.threshold is not None:
            threshold = f"{c.compared} {threshold}"
        verdict = ("PASS" if c.passed else "FAIL") if c.gated else "(not gated)"
        rows.append(
            (
                c.name,
                _pm(c.value, c.value_sd),
                _pm(c.reference, c.reference_sd),
                _fmt(c.compared_value) if c.compared != "value" else "",
                threshold,
                verdict,
                c.note,
            )
        )
    return rows


HEADER = ("metric", "synthetic", "real ref", "compared", "threshold", "pass", "note")


def table(checks: list[Check], only_gated: bool = False) -> str:
    """A one-screen plain-text table: metric | synthetic | reference | ... | pass | note."""
    shown = [c for c in checks if c.gated] if only_gated else checks
    rows = [HEADER, *_rows(shown, ">= ", "<= ")]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(checks: list[Check]) -> str:
    """The same table in Markdown, for report.md."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in _rows(checks, "≥ ", "≤ "):
        verdict = {"PASS": "**pass**", "FAIL": "**FAIL**"}.get(row[5], "not gated")
        lines.append("| " + " | ".join((*row[:5], verdict, row[6])) + " |")
    return "\n".join(lines)
