"""Gate verdicts from values and thresholds: a table of pass/fail cases."""

from __future__ import annotations

import math

import pytest

from factory.gate.config import GateConfig
from factory.gate.gates import Check, evaluate, markdown_table, table


@pytest.mark.parametrize(
    ("value", "threshold", "direction", "passed"),
    [
        (10.0, 20.0, "max", True),
        (20.0, 20.0, "max", True),  # the bound itself passes
        (20.1, 20.0, "max", False),
        (0.7, 0.5, "min", True),
        (0.5, 0.5, "min", True),
        (0.49, 0.5, "min", False),
        (1e9, None, "max", True),  # no threshold: reported, not gated
        (None, None, "min", True),
        (None, 0.5, "min", False),  # a gated metric that could not be computed fails
        (math.nan, 10.0, "max", False),
        (-math.inf, 10.0, "max", False),
    ],
)
def test_check_verdicts(value, threshold, direction, passed) -> None:
    assert Check("m", value, threshold, direction).passed is passed


OVERALL = {"fid": 12.0, "kid": 0.01, "precision": 0.6, "recall": 0.3, "memorized_fraction": 0.0}
PER_CLASS = {"normal": {"fid": 9.0, "recall": 0.5}, "abnormal": {"fid": 30.0, "recall": 0.1}}


@pytest.mark.parametrize(
    ("thresholds", "failed"),
    [
        ({}, []),  # the default gates only cover memorization, which is 0 here
        ({"max_fid": 20.0}, []),
        ({"max_fid": 10.0}, ["fid"]),
        ({"min_recall": 0.25, "min_precision": 0.7}, ["precision"]),
        ({"max_memorized_fraction": 0.0}, []),
        ({"max_kid": 0.001, "min_recall": 0.5}, ["kid", "recall"]),
        ({"min_coverage": 0.5}, ["coverage"]),  # not computed -> fails
        ({"max_fid": 20.0, "gate_per_class": True}, ["fid[abnormal]"]),
        ({"min_recall": 0.2, "gate_per_class": True}, ["recall[abnormal]"]),
    ],
)
def test_evaluate_table_of_cases(thresholds, failed) -> None:
    checks = evaluate(OVERALL, PER_CLASS, GateConfig(**thresholds))
    assert [c.metric for c in checks if not c.passed] == failed


def test_tables_show_every_gate_with_value_threshold_and_verdict() -> None:
    checks = evaluate(OVERALL, PER_CLASS, GateConfig(max_fid=10.0))
    text = table(checks)
    lines = text.splitlines()
    assert lines[0].split(" | ")[0].strip() == "metric"
    fid_line = next(line for line in lines if line.startswith("fid "))
    assert "12" in fid_line and "<= 10" in fid_line and "FAIL" in fid_line
    assert len(lines) < 25  # one screen
    assert "**FAIL**" in markdown_table(checks)
