"""The acceptance verdict: does the synthetic set help on real, unseen patients?

A set is accepted only when every condition holds, and the verdict lists every one that
does not:

1. the protocol is the leakage-safe `heldout` one (the others are for comparison only);
2. the gain rule on the paired difference (configured scenario minus the real-only
   baseline, same seeds, same test patients, same bootstrap draws):
   - `superiority` (default): the lower end of its 95% interval is above `min_gain`;
   - `non_inferiority`: the lower end is above `-margin`;
   - `point_estimate`: the mean gain reaches `min_gain`; needs no evidence, so noise can
     pass, and every output labels it;
3. TSTR (train on synthetic, test on real), when required: the synthetic-only
   classifier's AUC on the held-out real patients has its 95% lower bound above
   `tstr_min_auc` (0.5 is chance): the synthetic images alone must carry the classes.

`decide` is pure: it takes the summaries that `metrics.summarise`/`paired_difference`
produce and returns the verdict document (Contract 4, acceptance.json).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import SYNTHETIC_ONLY, AcceptanceConfig
from .scenarios import BASELINE

TSTR_METRIC = "auc"
RULE_LABELS = {
    "superiority": "superiority",
    "non_inferiority": "non-inferiority",
    "point_estimate": "point estimate, no interval: noise can pass",
}


@dataclass(frozen=True)
class Condition:
    """One condition of the verdict: whether it holds, the numbers, why it rejects."""

    passed: bool | None  # None: not evaluated (not required)
    evidence: str
    reason: str | None = None


def _clean(value: Any) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _num(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _ci(lo: float | None, hi: float | None, signed: bool = True) -> str:
    return f"[95% CI {_num(lo, signed)}, {_num(hi, signed)}]"


def rule_text(rule: AcceptanceConfig, scenario: str) -> str:
    """The rule in words, with its thresholds (results.md, acceptance.json, the card)."""
    gain = (
        f"the paired gain in {rule.metric} of {scenario} over {BASELINE} (same seeds, same "
        "held-out real test patients)"
    )
    lower = f"the lower end of the 95% patient-bootstrap interval of {gain}"
    if rule.rule == "superiority":
        core = f"ACCEPTED only if {lower} is above min_gain {rule.min_gain:+.4f}"
    elif rule.rule == "non_inferiority":
        core = (
            f"ACCEPTED only if {lower} is above -{rule.margin:.4f} (the set may cost at most "
            f"{rule.margin:.4f} {rule.metric})"
        )
    else:
        core = (
            f"ACCEPTED if the mean of {gain} is at least min_gain {rule.min_gain:+.4f}; its "
            "interval is not consulted, so a gain that is noise can pass"
        )
    if rule.tstr_required:
        tstr = (
            f"the {SYNTHETIC_ONLY} classifier's AUC on the held-out real patients (TSTR) has "
            f"its 95% lower bound above {rule.tstr_min_auc:.2f}"
        )
        tstr += " (chance)" if rule.tstr_min_auc == 0.5 else ""
    else:
        tstr = "TSTR is reported but not required (benchmark.acceptance.tstr_required: false)"
    name = {"superiority": "Superiority", "non_inferiority": "Non-inferiority"}.get(
        rule.rule, "Point-estimate (no interval: noise can pass)"
    )
    return f"{name} rule: {core}; {tstr}; and the protocol is the leakage-safe heldout one."


def gain_condition(
    rule: AcceptanceConfig, scenario: str, difference: Mapping[str, float] | None
) -> Condition:
    """The gain rule applied to the paired-difference summary of `rule.metric`."""
    if difference is None:
        return Condition(
            False, f"scenario {scenario} was not run", f"scenario {scenario} was not run"
        )
    mean, lo, hi = (_clean(difference.get(k)) for k in ("mean", "ci95_low", "ci95_high"))
    if rule.rule == "point_estimate":
        tested, name, bound, op = mean, "mean paired gain", rule.min_gain, ">="
    else:
        tested, name, op = lo, "lower end of the paired gain's 95% interval", ">"
        bound = -rule.margin if rule.rule == "non_inferiority" else rule.min_gain
    label = "-margin" if rule.rule == "non_inferiority" else "min_gain"
    shown = f"{rule.metric} gain of {scenario} over {BASELINE}: {_num(mean)} {_ci(lo, hi)}"
    if tested is None:
        why = f"the {name} in {rule.metric} is undefined (too few test patients or bootstrap: 0)"
        return Condition(False, f"{shown}; {why}", why)
    passed = tested >= bound if op == ">=" else tested > bound
    verb = f"is {'' if passed else 'not '}{'at least' if op == '>=' else 'above'}"
    evidence = f"{shown}; {name} {_num(tested)} {verb} {label} {bound:+.4f}"
    if passed:
        return Condition(True, evidence)
    return Condition(False, evidence, f"{rule.rule.replace('_', '-')} failed: {evidence}")


def tstr_condition(rule: AcceptanceConfig, auc: Mapping[str, float] | None) -> Condition:
    """TSTR applied to the synthetic-only scenario's AUC summary (None: not run)."""
    if auc is None:
        text = f"TSTR not run (no {SYNTHETIC_ONLY} scenario on this protocol)"
        if not rule.tstr_required:
            return Condition(None, f"{text}; not required")
        return Condition(False, text, f"{text}; it is required (acceptance.tstr_required)")
    mean, lo, hi = (_clean(auc.get(k)) for k in ("mean", "ci95_low", "ci95_high"))
    auc_text = (
        f"{SYNTHETIC_ONLY} classifier's AUC on held-out real patients "
        f"{_num(mean, False)} {_ci(lo, hi, False)}"
    )
    shown = f"TSTR: {auc_text}"
    if not rule.tstr_required:
        return Condition(None, f"{shown}; reported only (acceptance.tstr_required: false)")
    if lo is None:
        why = f"{shown}; its lower bound is undefined, so TSTR cannot pass"
        return Condition(False, why, why)
    passed = lo > rule.tstr_min_auc
    verdict = (
        f"lower bound {lo:.4f} is {'' if passed else 'not '}above "
        f"{rule.tstr_min_auc:.2f}{' (chance)' if rule.tstr_min_auc == 0.5 else ''}"
    )
    evidence = f"{shown}; {verdict}"
    if passed:
        return Condition(True, evidence)
    why = f"TSTR failed: {auc_text}; {verdict}: the synthetic images alone do not teach the classes"
    return Condition(False, evidence, why)


def protocol_condition(protocol: str) -> Condition:
    if protocol == "heldout":
        return Condition(True, "protocol heldout (leakage-safe)")
    why = (
        f"protocol {protocol} is for comparison with the paper only; acceptance needs the "
        "leakage-safe heldout protocol"
    )
    return Condition(False, f"protocol {protocol}", why)


def decide(
    rule: AcceptanceConfig,
    protocol: str,
    scenario: str,
    difference: Mapping[str, float] | None,
    tstr: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The verdict and the numbers behind it (acceptance.json, Contract 4).

    `difference`: the paired-difference summary of `rule.metric` (mean, sd, ci95_low,
    ci95_high) of `scenario` minus the baseline, or None when it was not run.
    `tstr`: the synthetic-only scenario's AUC summary (same keys), or None when not run.
    """
    conditions = [
        protocol_condition(protocol),
        gain_condition(rule, scenario, difference),
        tstr_condition(rule, tstr),
    ]
    reasons = [c.reason for c in conditions if c.passed is False and c.reason]
    accepted = not reasons
    tstr_doc = {
        "scenario": SYNTHETIC_ONLY,
        "metric": TSTR_METRIC,
        "auc": _clean(tstr.get("mean")) if tstr else None,
        "ci95": [_clean(tstr.get(k)) if tstr else None for k in ("ci95_low", "ci95_high")],
        "min_auc": rule.tstr_min_auc,
        "passed": conditions[2].passed,
        "required": rule.tstr_required,
    }
    diff = difference or {}
    return {
        "accepted": accepted,
        "metric": rule.metric,
        "scenario": scenario,
        "gain": _clean(diff.get("mean")),
        "min_gain": rule.min_gain,
        "margin": rule.margin,
        "ci95": [_clean(diff.get("ci95_low")), _clean(diff.get("ci95_high"))],
        "sd": _clean(diff.get("sd")),
        "protocol": protocol,
        "rule": rule.rule,
        "rule_label": RULE_LABELS[rule.rule],
        "rule_text": rule_text(rule, scenario),
        "reasons": reasons,
        "reason": "; ".join(reasons) if reasons else "; ".join(c.evidence for c in conditions),
        "evidence": [c.evidence for c in conditions],
        "tstr": tstr_doc,
    }
