"""Turn metric values and the configured thresholds into pass/fail checks and a table."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from factory.gate.config import GATES, PER_CLASS_METRICS, GateConfig


@dataclass(frozen=True)
class Check:
    """One metric against its threshold; `threshold` None = reported, not gated."""

    metric: str
    value: float | None
    threshold: float | None
    direction: str  # "max" (value <= threshold) or "min" (value >= threshold)

    @property
    def gated(self) -> bool:
        return self.threshold is not None

    @property
    def passed(self) -> bool:
        if self.threshold is None:
            return True
        if self.value is None or not math.isfinite(self.value):
            return False  # a metric that could not be computed never passes its gate
        if self.direction == "max":
            return self.value <= self.threshold
        return self.value >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gated": self.gated, "passed": self.passed}


def evaluate(
    overall: dict[str, float], per_class: dict[str, dict[str, float]], config: GateConfig
) -> list[Check]:
    """Every gate of `GATES` on the overall values (and per class if gate_per_class)."""
    checks = []
    for gate, (metric, direction) in GATES.items():
        threshold = getattr(config, gate)
        checks.append(Check(metric, overall.get(metric), threshold, direction))
        if config.gate_per_class and threshold is not None and metric in PER_CLASS_METRICS:
            for name, values in per_class.items():
                checks.append(Check(f"{metric}[{name}]", values.get(metric), threshold, direction))
    return checks


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def table(checks: list[Check]) -> str:
    """A one-screen plain-text table: metric | value | threshold | pass."""
    rows = [("metric", "value", "threshold", "pass")]
    for c in checks:
        bound = "-" if c.threshold is None else ("<= " if c.direction == "max" else ">= ")
        threshold = bound if c.threshold is None else bound + _fmt(c.threshold)
        verdict = ("PASS" if c.passed else "FAIL") if c.gated else "(not gated)"
        rows.append((c.metric, _fmt(c.value), threshold, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(checks: list[Check]) -> str:
    """The same table in Markdown, for report.md."""
    lines = ["| metric | value | threshold | pass |", "| --- | ---: | ---: | --- |"]
    for c in checks:
        bound = "" if c.threshold is None else ("≤ " if c.direction == "max" else "≥ ")
        threshold = "-" if c.threshold is None else bound + _fmt(c.threshold)
        verdict = ("**pass**" if c.passed else "**FAIL**") if c.gated else "not gated"
        lines.append(f"| {c.metric} | {_fmt(c.value)} | {threshold} | {verdict} |")
    return "\n".join(lines)
