"""The acceptance verdict: does the synthetic set help on real, unseen patients?

Only the leakage-safe `heldout` protocol can accept a set. The verdict compares the
configured scenario with the real-only baseline on the configured metric, as a paired
difference over the same seeds and the same test patients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .config import AcceptanceConfig


def decide(
    rule: AcceptanceConfig,
    protocol: str,
    scenario: str,
    difference: Mapping[str, float] | None,
) -> dict[str, Any]:
    """The verdict and the numbers behind it.

    `difference` is the paired-difference summary of `rule.metric` (mean, sd, ci95_low,
    ci95_high) of `scenario` minus the baseline, or None when it was not run.
    """
    verdict: dict[str, Any] = {
        "accepted": False,
        "metric": rule.metric,
        "scenario": scenario,
        "gain": None,
        "min_gain": rule.min_gain,
        "ci95": [None, None],
        "protocol": protocol,
        "rule": rule.rule,
    }
    if protocol != "heldout":
        verdict["reason"] = (
            f"protocol {protocol} is for comparison with the paper only; acceptance needs the "
            "leakage-safe heldout protocol"
        )
    if difference is None:
        verdict.setdefault("reason", f"scenario {scenario} was not run")
        return verdict
    gain, lo, hi = difference["mean"], difference["ci95_low"], difference["ci95_high"]
    clean = lambda v: None if v is None or math.isnan(v) else float(v)  # noqa: E731
    verdict |= {
        "gain": clean(gain),
        "ci95": [clean(lo), clean(hi)],
        "sd": clean(difference.get("sd")),
    }
    if "reason" in verdict:
        return verdict
    tested = gain if rule.rule == "gain" else lo
    name = "paired gain" if rule.rule == "gain" else "lower end of the gain's 95% interval"
    if tested is None or math.isnan(tested):
        verdict["reason"] = f"the {name} in {rule.metric} is undefined"
        return verdict
    verdict["accepted"] = bool(tested >= rule.min_gain)
    verdict["reason"] = (
        f"{name} in {rule.metric} of {scenario} over real+0 is {tested:+.4f}, "
        f"{'>=' if verdict['accepted'] else '<'} min_gain {rule.min_gain:+.4f}"
    )
    return verdict
