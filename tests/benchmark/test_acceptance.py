"""The acceptance logic, as a table."""

from __future__ import annotations

import math

import pytest

from factory.benchmark.acceptance import decide
from factory.benchmark.config import AcceptanceConfig

NAN = math.nan


@pytest.mark.parametrize(
    "protocol, rule, min_gain, gain, lo, accepted",
    [
        ("heldout", "gain", 0.0, 0.05, -0.02, True),
        ("heldout", "gain", 0.0, 0.0, -0.10, True),  # a tie reaches a min_gain of 0
        ("heldout", "gain", 0.0, -0.01, -0.10, False),
        ("heldout", "gain", 0.02, 0.01, 0.00, False),
        ("heldout", "ci_lower", 0.0, 0.05, -0.02, False),
        ("heldout", "ci_lower", 0.0, 0.05, 0.01, True),
        ("heldout", "gain", 0.0, NAN, NAN, False),  # undefined metric never accepts
        ("sutjiadi2025", "gain", 0.0, 0.10, 0.05, False),  # only heldout can accept
        ("prodan2023", "gain", 0.0, 0.10, 0.05, False),
    ],
)
def test_acceptance_table(protocol, rule, min_gain, gain, lo, accepted) -> None:
    cfg = AcceptanceConfig(metric="auc", scenario=500, min_gain=min_gain, rule=rule)
    diff = {"mean": gain, "sd": 0.01, "ci95_low": lo, "ci95_high": lo + 0.1}
    verdict = decide(cfg, protocol, "real+500", diff)
    assert verdict["accepted"] is accepted
    assert verdict["metric"] == "auc" and verdict["scenario"] == "real+500"
    assert verdict["protocol"] == protocol and verdict["min_gain"] == min_gain
    assert verdict["reason"]
    if not math.isnan(gain):
        assert verdict["gain"] == pytest.approx(gain)
        assert verdict["ci95"][0] == pytest.approx(lo)


def test_missing_scenario_is_rejected() -> None:
    verdict = decide(AcceptanceConfig(), "heldout", "real+500", None)
    assert verdict["accepted"] is False and "not run" in verdict["reason"]
