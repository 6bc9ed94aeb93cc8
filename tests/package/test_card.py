"""Issue 13 §2: every claim in the card comes from a recorded fact.

Each case changes one fact of a real lineage (packaged from the real upstream) and checks
that the card's sentence about it changes with it: the sentence is absent from the card
of the original lineage and present in the card of the changed one.
"""

from __future__ import annotations

import copy

import pytest
from upstream import acceptance

from factory.package.card import body, card_data
from factory.package.lineage import NOT_FOR_PUBLICATION


def _source_name(lin):
    lin["source"]["record"]["dataset"]["name"] = "Hospital X export 2024"
    return "trained on Hospital X export 2024."


def _no_record(lin):
    lin["source"]["record"] = None
    return "images read by the `inbreast` adapter (the data set's identity was not recorded)"


def _gate_failed(lin):
    lin["gate"].update(passed=False, verdict=NOT_FOR_PUBLICATION, mode="record")
    return f"**Gate verdict:** {NOT_FOR_PUBLICATION}"


def _gate_counts(lin):
    lin["gate"].update(accepted=7, sampled=9)
    return "7 of the 9 sampled images passed the gate's per-image checks"


def _memorized(lin):
    lin["gate"]["metrics"]["counts"]["memorized"] = 3
    return "3 flagged as too close to a real training image"


def _check_value(lin):
    row = lin["gate"]["checks"][0]
    row.update(value=123.25, value_sd=None)
    name = row["metric"] if row["scope"] == "overall" else f"{row['metric']}[{row['scope']}]"
    return f"| {name} | 123.2 |"


def _check_failed(lin):
    row = next(r for r in lin["gate"]["checks"] if r["gated"])
    row["passed"] = False
    return "| FAIL |"


def _check_reference(lin):
    row = lin["gate"]["checks"][0]
    row.update(reference=4.875, reference_sd=0.25)
    return "| 4.875 ± 0.25 |"


def _model_hash(lin):
    lin["model"]["model_hash"] = "f" * 64
    return f"weights hash `{'f' * 64}`"


def _train_steps(lin):
    lin["model"]["train_steps"] = 98765
    return "98765 training steps"


def _rows_model_mismatch(lin):
    check = lin["checks"][0]
    check.update(ok=False, detail="rows ['abc'] vs model def")
    return "**The rows' model hashes do not match this model**"


def _accepted(lin):
    verdict = acceptance()
    lin["publication"] = {"benchmark": verdict}
    return f"**Benchmark verdict:** ACCEPTED\n\n{verdict['rule_text']}"


def _rejected(lin):
    verdict = acceptance(gain=0.003, ci95=(-0.03, 0.05), tstr=(0.5, 0.33, 0.67))
    assert len(verdict["reasons"]) == 2
    lin["publication"] = {"benchmark": verdict}
    lines = ["**Benchmark verdict:** REJECTED", "", verdict["rule_text"], ""]
    lines += [f"- {e}" for e in verdict["evidence"]]
    lines += ["", "Rejected because:", ""] + [f"- {r}" for r in verdict["reasons"]]
    return "\n".join(lines)


def _forced(lin):
    lin["publication"] = {"benchmark": acceptance(gain=-0.1), "forced_reason": "tutorial only"}
    return "**Published with --force** despite the benchmark verdict. Reason given: tutorial only"


def _override(lin):
    lin["publication"] = {"terms_override": {"decided_by": "Dr. Q", "reason": "DUA 17"}}
    return "**Source terms overridden at publication** by Dr. Q: DUA 17"


def _citation(lin):
    lin["source"]["record"]["terms"]["citation"] = "A. Author. The X data set. 2031."
    return "- A. Author. The X data set. 2031."


def _per_class(lin):
    lin["set"]["per_class"] = {"normal": 4321, "abnormal": 1}
    return "| normal | 4321 |"


def _sampler(lin):
    lin["sampler"].update(schedulers=["unipc"], steps=[77])
    return "Sampler: unipc, 77 steps"


def _nearest(lin):
    lin["memorization"]["nearest_real_ncc"]["median"] = 0.123456
    return "normalised cross-correlation median 0.1235"


CASES = [
    _source_name,
    _no_record,
    _gate_failed,
    _gate_counts,
    _memorized,
    _check_value,
    _check_failed,
    _check_reference,
    _model_hash,
    _train_steps,
    _rows_model_mismatch,
    _accepted,
    _rejected,
    _forced,
    _override,
    _citation,
    _per_class,
    _sampler,
    _nearest,
]


@pytest.mark.parametrize("change", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_each_fact_changes_its_sentence(packaged_once, change):
    _, lineage = packaged_once
    changed = copy.deepcopy(lineage)
    sentence = change(changed)
    assert sentence not in body(lineage)
    assert sentence in body(changed)


def test_synthetic_source_sentence_follows_the_record(packaged_once):
    _, lineage = packaged_once
    claim = "no real patient's image went into the model or this set"
    assert claim in body(lineage)
    real = copy.deepcopy(lineage)
    real["source"]["record"]["dataset"]["synthetic"] = False
    assert claim not in body(real)


def test_yaml_follows_the_recorded_source(packaged_once):
    _, lineage = packaged_once
    changed = copy.deepcopy(lineage)
    changed["source"]["record"]["dataset"]["id"] = "cbis-ddsm"
    changed["set"]["license"] = "cc-by-3.0"
    data = card_data(changed).to_dict()
    assert data["source_datasets"] == ["extended|cbis-ddsm"]
    assert data["license"] == "cc-by-3.0"
    changed["source"]["record"] = None
    assert "source_datasets" not in card_data(changed).to_dict()  # no claim without a record


def test_no_default_sentences_remain(packaged_once):
    """The sentences the old card wrote whatever the facts (issue 13 §2)."""
    _, lineage = packaged_once
    text = body(lineage)
    for default in (
        "trained on real mammograms",
        "Every image passed",
        "No real image is in this set",
        "were removed by the gate",
        "a small real set",
    ):
        assert default not in text
