"""Gate verdict rows: judging, the metrics.json round trip, and thresholds checked at load."""

from __future__ import annotations

import math

import pytest
import yaml

from factory.errors import ConfigError, FactoryError
from factory.gate.config import GateConfig
from factory.gate.gates import Check, Measured, evaluate, judge, load_checks, markdown_table, table
from factory.params import load_params


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
def test_value_verdicts(value, threshold, direction, passed) -> None:
    check = judge("g", "m", threshold, direction, value=value)
    assert check.passed is passed
    assert check.gated is (threshold is not None)


@pytest.mark.parametrize(
    ("value", "reference", "compared", "threshold", "direction", "compared_value", "passed"),
    [
        (35.5, 4.9, "ratio", 2.0, "max", 35.5 / 4.9, False),  # the demo's FRD: fails
        (5.5, 4.9, "ratio", 2.0, "max", 5.5 / 4.9, True),  # like real: passes
        (0.2, 0.8, "ratio", 0.5, "min", 0.25, False),  # recall collapsed vs real
        (0.7, 0.8, "ratio", 0.5, "min", 0.875, True),
        (0.03, 0.01, "difference", 0.01, "max", 0.02, False),
        (0.015, 0.01, "difference", 0.01, "max", 0.005, True),
        (3.0, 0.0, "ratio", 2.0, "max", None, False),  # ratio to 0 undefined: never passes
        (3.0, -1.0, "ratio", 2.0, "max", None, False),
        (3.0, None, "ratio", 2.0, "max", None, False),  # no reference: never passes
    ],
)
def test_reference_verdicts(
    value, reference, compared, threshold, direction, compared_value, passed
) -> None:
    check = judge(
        "g", "m", threshold, direction, value=value, reference=reference, compared=compared
    )
    assert check.passed is passed
    if compared_value is None:
        assert check.compared_value is None and check.note
    else:
        assert check.compared_value == pytest.approx(compared_value)


def test_an_unstable_reference_fails_its_ratio_gate_and_says_why() -> None:
    note = "val too small for a stable reference: need 20"
    check = judge(
        "max_frd_ratio", "frd", 100.0, "max", value=5.0, reference=4.9,
        compared="ratio", usable=False, note=note,
    )  # fmt: skip
    assert check.compared_value == pytest.approx(5 / 4.9) and not check.passed
    assert "need 20" in check.note
    assert "need 20" in table([check])


MEASURED = {
    "overall": {
        "fid": Measured(12.0, 1.0, reference=3.0, n_synthetic=24, n_reference=24),
        "recall": Measured(0.3, 0.05, reference=0.9, n_synthetic=24, n_reference=24),
        "memorized_fraction": Measured(0.0),
        "detectability_auc_features": Measured(1.0, reference=0.55),
        "detectability_auc_cnn": Measured(0.6, reference=0.5),
    },
    "normal": {"fid": Measured(9.0, reference=4.0), "recall": Measured(0.5, reference=0.8)},
    "abnormal": {"fid": Measured(30.0, reference=5.0), "recall": Measured(0.1, reference=0.8)},
}


@pytest.mark.parametrize(
    ("thresholds", "failed"),
    [
        ({}, []),  # only memorization is gated by default, and it is 0 here
        ({"max_fid": 20.0}, []),
        ({"max_fid": 10.0}, ["fid"]),
        ({"max_fid_ratio": 5.0}, []),
        ({"max_fid_ratio": 3.0}, ["fid"]),
        ({"min_recall_ratio": 0.5}, ["recall"]),
        ({"min_recall": 0.25, "min_precision": 0.7}, ["precision"]),  # not computed: fails
        ({"max_detectability_auc": 0.8}, ["detectability_auc_features"]),
        ({"max_fid": 20.0, "gate_per_class": True}, ["fid[abnormal]"]),
        ({"max_fid_ratio": 5.0, "gate_per_class": True}, ["fid[abnormal]"]),
        ({"min_recall": 0.2, "gate_per_class": True}, ["recall[abnormal]"]),
    ],
)
def test_evaluate_table_of_cases(thresholds, failed) -> None:
    checks = evaluate(MEASURED, GateConfig(**thresholds))
    assert [c.name for c in checks if not c.passed] == failed
    gated = {(c.gate, c.name) for c in checks if c.gated}
    assert all(gate in thresholds or gate == "max_memorized_fraction" for gate, _ in gated)
    # every measured row appears once as a check, gated or reported only
    names = [c.name for c in checks]
    assert "fid[normal]" in names and "detectability_auc_cnn" in names


def test_check_rows_round_trip_through_the_metrics_document() -> None:
    checks = evaluate(MEASURED, GateConfig(max_fid_ratio=3.0))
    document = {"passed": False, "checks": [c.as_dict() for c in checks]}
    loaded = load_checks(yaml.safe_load(yaml.safe_dump(document)))
    assert loaded == checks
    fid = next(c for c in loaded if c.gate == "max_fid_ratio")
    assert (fid.value, fid.reference, fid.compared, fid.passed) == (12.0, 3.0, "ratio", False)
    assert fid.compared_value == pytest.approx(4.0)


def test_bad_metrics_documents_are_clear_errors() -> None:
    with pytest.raises(FactoryError, match="no `checks` list"):
        load_checks({"passed": True})
    row = judge("max_fid", "fid", 1.0, "max", value=2.0).as_dict()
    del row["reference"]
    with pytest.raises(FactoryError, match="lacks reference"):
        load_checks({"checks": [row]})
    row = judge("max_fid", "fid", 1.0, "max", value=2.0).as_dict() | {"compared": "odds"}
    with pytest.raises(FactoryError, match="compared='odds'"):
        Check.from_dict(row)


def test_tables_show_every_gate_with_value_reference_threshold_and_verdict() -> None:
    checks = evaluate(MEASURED, GateConfig(max_fid_ratio=3.0))
    lines = table(checks).splitlines()
    assert lines[0].split(" | ")[0].strip() == "metric"
    fid_line = next(line for line in lines if line.startswith("fid "))
    assert "12 ± 1" in fid_line and "ratio <= 3" in fid_line and "FAIL" in fid_line
    assert len(table(checks, only_gated=True).splitlines()) < 25  # one screen
    assert "**FAIL**" in markdown_table(checks)


@pytest.mark.parametrize(
    ("gate", "match"),
    [
        ({"max_fid_ratio": 0.8}, "gate.max_fid_ratio = 0.8: below 1"),
        ({"max_frd_ratio": 0.0}, "gate.max_frd_ratio = 0.0: a ratio threshold must be above 0"),
        ({"min_recall_ratio": 1.2}, "gate.min_recall_ratio = 1.2: above 1"),
        ({"frd": False, "max_frd_ratio": 2.0}, "gate.max_frd_ratio is set but gate.frd is false"),
        ({"frd": False, "detectability": ["radiomics"]}, "lists radiomics but gate.frd"),
        ({"detectability": [], "max_detectability_auc": 0.7}, "gate.detectability is empty"),
        ({"max_detectability_auc": 0.4}, "gate.max_detectability_auc"),
        ({"min_reference_images": 3}, "gate.min_reference_images = 3 is below gate.prdc_k"),
        ({"on_fail": "ignore"}, "gate.on_fail"),
    ],
)
def test_contradicting_or_impossible_thresholds_are_rejected_at_load(tmp_path, gate, match):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"gate": gate}))
    with pytest.raises(ConfigError, match=match.replace("(", r"\(")) as err:
        load_params(path)
    assert str(path) in str(err.value)


def test_sensible_thresholds_load(tmp_path) -> None:
    gate = {"max_frd_ratio": 2.0, "min_recall_ratio": 0.5, "max_detectability_auc": 0.9}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"gate": gate | {"on_fail": "record"}}))
    loaded = load_params(path).gate
    assert loaded.on_fail == "record" and loaded.max_frd_ratio == 2.0
    assert GateConfig().on_fail == "stop"  # paper scale stops by default
