"""The acceptance rule and the TSTR condition, decided on real bootstrap outputs.

Predictions are drawn on tiny sets of test patients, turned into Run records and
evaluated by the benchmark's own `evaluate` (per-seed metrics, patient bootstrap, paired
differences); `verdict_of` then applies the configured rule, as `run_benchmark` does.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from factory.benchmark import scenarios as sc
from factory.benchmark.acceptance import decide
from factory.benchmark.config import AcceptanceConfig, BenchmarkConfig
from factory.benchmark.data import Pool
from factory.benchmark.run import Run, evaluate, main_scenario_name, verdict_of
from factory.benchmark.tables import verdict_lines
from factory.errors import ConfigError, FactoryError
from factory.params import validate_section

CONFIG = "test_resnet@32px"
SEEDS = 3
N_PATIENTS = 40  # two test images each


def _pool() -> Pool:
    n = 2 * N_PATIENTS
    rows = pd.DataFrame(
        {
            "image_id": [f"img-{i}" for i in range(n)],
            "patient_id": [f"p{i // 2}" for i in range(n)],
            "y": np.tile([0, 1], N_PATIENTS),
            "origin": "real",
            "split": "test",
            "fold": -1,
            "pixel_sha256": [f"{i:064x}" for i in range(n)],
        }
    )
    empty = np.zeros((0, 4, 4), dtype=np.uint16)
    return Pool(rows, empty, empty, ("normal", "abnormal"), "0" * 64, {})


def _probs(y: np.ndarray, signal: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities whose separation of the classes grows with `signal` (0 = chance)."""
    return 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.standard_normal(len(y)))))


def _summary(signals: dict[str, float], seed: int = 0, bootstrap: int = 500) -> dict:
    """`evaluate` on Run records whose probabilities have the given signal per scenario."""
    pool = _pool()
    y = pool.rows["y"].to_numpy()
    idx = pool.rows.index.to_numpy()
    rng = np.random.default_rng(seed)
    runs = [
        Run(CONFIG, name, i, i, "test", idx, _probs(y, s, rng), {"real": 10}, [])
        for i in range(SEEDS)
        for name, s in signals.items()
    ]
    cfg = _cfg(bootstrap=bootstrap)
    return evaluate(cfg, pool, runs, list(signals), seed)


def _cfg(**acceptance) -> BenchmarkConfig:
    bootstrap = acceptance.pop("bootstrap", 500)
    acc = {"metric": "auc", "scenario": 4} | acceptance
    return BenchmarkConfig(
        backbones=("test_resnet",),
        image_sizes=(32,),
        synthetic_counts=(0, 4),
        bootstrap=bootstrap,
        acceptance=acc,
    )


def _verdict(summary: dict, **acceptance) -> dict:
    return verdict_of(_cfg(**acceptance), summary, CONFIG, "real+4")


def test_a_clear_gain_with_a_useful_synthetic_set_is_accepted() -> None:
    summary = _summary({"real+0": 0.0, "real+4": 3.0, "synthetic-only": 3.0})
    verdict = _verdict(summary)
    assert verdict["ci95"][0] > 0.2  # the interval is far from zero: real evidence
    assert verdict["accepted"] is True and verdict["reasons"] == []
    assert verdict["rule"] == "superiority" and verdict["tstr"]["passed"] is True
    assert verdict["tstr"]["ci95"][0] > 0.5 and verdict["tstr"]["required"] is True
    assert verdict["rule_text"].startswith("Superiority rule: ACCEPTED only if the lower end")
    assert len(verdict["evidence"]) == 3 and "is above min_gain +0.0000" in verdict["evidence"][1]


def _spanning_zero() -> dict:
    """Two equally good scenarios: a small positive mean gain, interval across zero."""
    summary = _summary({"real+0": 1.0, "real+4": 1.0, "synthetic-only": 3.0}, seed=0)
    diff = summary["differences"][CONFIG]["real+4"]["auc"]
    assert diff["mean"] > 0 and diff["ci95_low"] < 0 < diff["ci95_high"]  # the premise
    return summary


def test_a_gain_whose_interval_spans_zero_is_rejected_by_superiority() -> None:
    verdict = _verdict(_spanning_zero())
    assert verdict["accepted"] is False
    assert verdict["gain"] > 0 and verdict["ci95"][0] < 0
    assert len(verdict["reasons"]) == 1 and verdict["reasons"][0].startswith("superiority failed")
    assert "is not above min_gain" in verdict["reasons"][0]
    assert verdict["tstr"]["passed"] is True  # rejected for the gain alone


def test_the_point_estimate_rule_accepts_the_same_noise_and_says_so() -> None:
    verdict = _verdict(_spanning_zero(), rule="point_estimate")
    assert verdict["accepted"] is True and verdict["rule"] == "point_estimate"
    assert verdict["rule_label"] == "point estimate, no interval: noise can pass"
    assert "noise can pass" in verdict["rule_text"]
    text = "\n".join(verdict_lines(verdict))
    assert (
        "**Verdict: ACCEPTED** (rule: point estimate, no interval" in text
        and "noise can pass" in text
    )


def test_a_synthetic_set_at_chance_on_its_own_fails_tstr() -> None:
    summary = _summary({"real+0": 0.0, "real+4": 3.0, "synthetic-only": 0.0})
    verdict = _verdict(summary)
    assert verdict["ci95"][0] > 0  # the gain alone would pass
    assert verdict["accepted"] is False and verdict["tstr"]["passed"] is False
    assert verdict["tstr"]["ci95"][0] <= 0.5
    assert len(verdict["reasons"]) == 1 and verdict["reasons"][0].startswith("TSTR failed")
    assert "do not teach the classes" in verdict["reason"]
    lines = verdict_lines(verdict)
    assert lines[0] == "**Verdict: REJECTED** (rule: superiority)."
    assert any(line.startswith("- TSTR failed") for line in lines)


def test_tstr_not_required_is_reported_not_decided() -> None:
    summary = _summary({"real+0": 0.0, "real+4": 3.0, "synthetic-only": 0.0})
    verdict = _verdict(summary, tstr_required=False)
    assert verdict["accepted"] is True and verdict["tstr"]["passed"] is None
    assert "TSTR is reported but not required" in verdict["rule_text"]
    assert "reported only" in verdict["evidence"][2]


def test_every_reason_is_listed() -> None:
    summary = _summary({"real+0": 1.0, "real+4": 1.0, "synthetic-only": 0.0}, seed=2)
    diff = summary["differences"][CONFIG]["real+4"]["auc"]
    tstr = summary["results"][CONFIG]["synthetic-only"]["auc"]
    verdict = decide(AcceptanceConfig(scenario=4), "prodan2023", "real+4", diff, tstr)
    assert verdict["accepted"] is False and len(verdict["reasons"]) == 3
    assert verdict["reason"] == "; ".join(verdict["reasons"])
    assert "heldout" in verdict["reasons"][0] and "TSTR failed" in verdict["reasons"][2]


@pytest.mark.parametrize("margin, accepted", [(0.2, True), (0.001, False)])
def test_non_inferiority_uses_its_margin(margin, accepted) -> None:
    verdict = _verdict(_spanning_zero(), rule="non_inferiority", margin=margin)
    low = verdict["ci95"][0]
    assert -0.2 < low < -0.001  # the premise: between the two margins
    assert verdict["accepted"] is accepted and verdict["margin"] == margin
    assert f"-{margin:.4f}" in verdict["rule_text"]


@pytest.mark.parametrize(
    "rule, min_gain, lo, mean, accepted",
    [
        ("superiority", 0.0, 0.0, 0.05, False),  # the lower end must be strictly above
        ("superiority", 0.02, 0.03, 0.05, True),
        ("point_estimate", 0.0, -0.1, 0.0, True),  # a tie reaches min_gain
        ("point_estimate", 0.02, 0.0, 0.01, False),
        ("superiority", 0.0, math.nan, math.nan, False),  # undefined never accepts
    ],
)
def test_the_boundaries(rule, min_gain, lo, mean, accepted) -> None:
    rule_cfg = AcceptanceConfig(scenario=4, rule=rule, min_gain=min_gain, tstr_required=False)
    diff = {"mean": mean, "sd": 0.01, "ci95_low": lo, "ci95_high": lo + 0.1}
    verdict = decide(rule_cfg, "heldout", "real+4", diff)
    assert verdict["accepted"] is accepted
    assert bool(verdict["reasons"]) is not accepted and verdict["reason"]


def test_a_scenario_that_was_not_run_is_rejected() -> None:
    verdict = decide(AcceptanceConfig(), "heldout", "real+500", None, None)
    assert verdict["accepted"] is False and "not run" in verdict["reasons"][0]
    assert verdict["tstr"]["passed"] is False and "TSTR not run" in verdict["reasons"][1]


def test_a_missing_acceptance_scenario_is_an_error_not_a_fallback() -> None:
    cfg = _cfg()
    scenarios = [s for s in sc.scenarios(cfg) if s.name != "real+4"]
    with pytest.raises(FactoryError, match=r"benchmark.acceptance.scenario: real\+4 is not among"):
        main_scenario_name(cfg, scenarios)
    assert main_scenario_name(cfg, sc.scenarios(cfg)) == "real+4"


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"acceptance": {"rule": "gain"}}, "benchmark.acceptance.rule"),
        ({"acceptance": {"rule": "ci_lower"}}, "benchmark.acceptance.rule"),
        ({"acceptance": {"rule": "non_inferiority"}}, "acceptance.margin"),
        ({"acceptance": {"margin": 0.05}}, "acceptance.margin"),
        ({"acceptance": {"rule": "non_inferiority", "margin": 0.05, "min_gain": 0.1}}, "min_gain"),
        ({"acceptance": {"min_gain": -0.05}}, "rule non_inferiority"),
        ({"acceptance": {"tstr_min_auc": 0.4}}, "benchmark.acceptance.tstr_min_auc"),
        ({"synthetic_only": False}, "acceptance.tstr_required"),
        ({"bootstrap": 0}, "bootstrap = 0"),
        ({"protocol": "prodan2023", "acceptance": {"scenario": "synthetic-only"}}, "heldout"),
    ],
)
def test_contradictory_settings_are_rejected_at_load(raw, key) -> None:
    with pytest.raises(ConfigError, match=key):
        validate_section("benchmark", raw)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"synthetic_only": False, "acceptance": {"tstr_required": False}},
        {"acceptance": {"rule": "non_inferiority", "margin": 0.05}},
        {"acceptance": {"rule": "point_estimate", "tstr_required": False}, "bootstrap": 0},
        {"protocol": "prodan2023", "synthetic_only": False},  # comparison only, never accepts
    ],
)
def test_consistent_settings_load(raw) -> None:
    validate_section("benchmark", raw)


def null_acceptance(draws: int, first_seed: int = 1000) -> dict[str, int]:
    """How often each rule accepts a scenario that is exactly as good as the baseline."""
    accepted = {"point_estimate": 0, "superiority": 0}
    for seed in range(first_seed, first_seed + draws):
        summary = _summary({"real+0": 1.0, "real+4": 1.0, "synthetic-only": 3.0}, seed=seed)
        for rule in accepted:
            accepted[rule] += _verdict(summary, rule=rule)["accepted"]
    return accepted


@pytest.mark.slow
def test_superiority_rarely_accepts_noise_where_the_point_estimate_often_does() -> None:
    found = null_acceptance(40)  # docs/benchmark.md gives the 200-draw figures
    assert found["superiority"] <= 3  # one-sided 2.5% nominal: about 1 in 40
    assert found["point_estimate"] >= 12  # about half
