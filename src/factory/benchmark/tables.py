"""The benchmark's tables in Markdown: results.md, and the rows of the card's table.

Shaped like the papers' own tables (Sutjiadi et al. Table 4, Prodan et al. Table 2),
with intervals and paired differences beside them, and the verdict stated as its rule in
words and the numbers that rule was applied to.
"""

from __future__ import annotations

import math
from typing import Any

from . import scenarios as sc
from .config import BenchmarkConfig
from .data import Pool


def display_name(name: str, protocol: str) -> str:
    """A scenario's name, labelled where its test set holds synthetic images."""
    return f"{name} ({sc.SUTJIADI_NOTE})" if protocol == "sutjiadi2025" else name


def file_stem(name: str, protocol: str) -> str:
    stem = name.replace("+", "_plus_")
    return f"{stem}-includes-synthetic-in-test" if protocol == "sutjiadi2025" else stem


def _fmt(summary: dict[str, float], ci: bool = False) -> str:
    m = summary.get("mean")
    if m is None or not math.isfinite(m):
        return "n/a"
    text = f"{m:.2f} ± {summary['sd']:.2f}"
    lo, hi = summary.get("ci95_low"), summary.get("ci95_high")
    if ci and lo is not None and math.isfinite(lo):
        text += f" [{lo:.2f}, {hi:.2f}]"
    return text


def _diff(summary: dict[str, float] | None) -> str:
    if not summary or not math.isfinite(summary["mean"]):
        return "n/a"
    lo, hi = summary["ci95_low"], summary["ci95_high"]
    ci = f" [{lo:+.3f}, {hi:+.3f}]" if math.isfinite(lo) else ""
    return f"{summary['mean']:+.3f}{ci}"


def sutjiadi_table(
    results: dict[str, Any],
    the_plan: Any,
    runs: list,
    config: str,
    classes: tuple[str, ...],
    protocol: str,
) -> list[str]:
    """Sutjiadi et al. Table 4: per scenario and class, accuracy/precision/recall/F1."""
    sizes = {r.scenario: r.train_size for r in runs if r.config == config}
    lines = [
        "| # | Real (train) | Synthetic | Class | Accuracy | Precision | Recall | F1-score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, scen in enumerate(the_plan.scenarios, 1):
        res = results[scen.name]
        size = sizes.get(scen.name, {})
        for c, (cls, side) in enumerate(zip(classes, ("negative", "positive"), strict=True)):
            first = c == 0
            lines.append(
                f"| {k if first else ''} | {size.get('real', '') if first else ''} | "
                f"{size.get('synthetic', '') if first else ''} | {cls} | "
                f"{_fmt(res['accuracy']) if first else ''} | {_fmt(res['precision_' + side])} | "
                f"{_fmt(res['recall_' + side])} | {_fmt(res['f1_' + side])} |"
            )
    return lines


def detail_table(
    results: dict[str, Any], diffs: dict[str, Any], names: list[str], protocol: str
) -> list[str]:
    lines = [
        "| scenario | AUC [95% CI] | balanced accuracy [95% CI] | sensitivity | specificity | "
        "ΔAUC vs real+0 [95% CI] | Δbalanced accuracy [95% CI] | test images / patients |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        r = results[name]
        d = diffs.get(name, {})
        lines.append(
            f"| {display_name(name, protocol)} | {_fmt(r['auc'], True)} | "
            f"{_fmt(r['balanced_accuracy'], True)} | {_fmt(r['sensitivity'])} | "
            f"{_fmt(r['specificity'])} | {_diff(d.get('auc'))} | "
            f"{_diff(d.get('balanced_accuracy'))} | {r['n_images']} / {r['n_patients']} |"
        )
    return lines


def card_table(
    results: dict[str, Any], diffs: dict[str, Any], names: list[str], protocol: str
) -> list[dict[str, Any]]:
    """One row per scenario of the main model, for the dataset card (acceptance.json)."""
    return [
        {
            "scenario": display_name(name, protocol),
            "AUC [95% CI]": _fmt(results[name]["auc"], True),
            "balanced accuracy [95% CI]": _fmt(results[name]["balanced_accuracy"], True),
            "sensitivity": _fmt(results[name]["sensitivity"]),
            "specificity": _fmt(results[name]["specificity"]),
            "ΔAUC vs real+0 [95% CI]": _diff(diffs.get(name, {}).get("auc")),
        }
        for name in names
    ]


def prodan_table(results: dict[str, Any], cfg: BenchmarkConfig, names: list[str]) -> list[str]:
    """Prodan et al. Table 2: per resolution and data variant, one row per backbone."""
    lines = ["| Model | Accuracy | AUC | Precision | Recall | F1 |", "|---|---|---|---|---|---|"]
    for size in cfg.image_sizes:
        lines.append(f"| **{size}×{size}** | | | | | |")
        for name in names:
            lines.append(f"| *{name}* | | | | | |")
            for backbone in cfg.backbones:
                r = results[f"{backbone}@{size}px"][name]
                lines.append(
                    f"| {backbone} | {_fmt(r['accuracy'])} | {_fmt(r['auc'])} | "
                    f"{_fmt(r['precision_positive'])} | {_fmt(r['recall_positive'])} | "
                    f"{_fmt(r['f1_positive'])} |"
                )
    return lines


def verdict_lines(verdict: dict[str, Any]) -> list[str]:
    """The verdict section: the word, the rule in words, the numbers, every reason."""
    word = "ACCEPTED" if verdict["accepted"] else "REJECTED"
    lines = [
        f"**Verdict: {word}** (rule: {verdict['rule_label']}).",
        "",
        f"{verdict['rule_text']}",
        "",
        "Applied to:",
        "",
        *[f"- {e}" for e in verdict["evidence"]],
        "",
    ]
    if verdict["reasons"]:
        lines += ["Rejected because:", "", *[f"- {r}" for r in verdict["reasons"]], ""]
    return lines


def results_markdown(
    cfg: BenchmarkConfig,
    pool: Pool,
    the_plan: Any,
    runs: list,
    summary: dict[str, Any],
    verdict: dict[str, Any],
) -> str:
    names = [s.name for s in the_plan.scenarios]
    title = {
        "heldout": "held-out real patients (leakage-safe; decides acceptance)",
        "sutjiadi2025": f"Sutjiadi et al. 80:20 split of the combined set ({sc.SUTJIADI_NOTE})",
        "prodan2023": f"Prodan et al. {cfg.folds}-fold CV grouped by patient (comparison only)",
    }[cfg.protocol]
    out = [
        f"# Benchmark: {title}",
        "",
        f"Metrics are mean ± sd over {cfg.seeds} seed(s); [95% CI] from {cfg.bootstrap} "
        f"bootstrap replicates resampling patients. Threshold {cfg.threshold}. "
        f"Positive class: {pool.classes[1]}.",
        "",
    ]
    out += [f"> {n}" for n in the_plan.notes] + ([""] if the_plan.notes else [])
    out += verdict_lines(verdict)
    for config in summary["results"]:
        res, diffs = summary["results"][config], summary["differences"][config]
        label = f" ({sc.SUTJIADI_NOTE})" if cfg.protocol == "sutjiadi2025" else ""
        out += [f"## {config}", "", f"Shaped like Sutjiadi et al., Table 4{label}:", ""]
        out += sutjiadi_table(res, the_plan, runs, config, pool.classes, cfg.protocol)
        out += ["", "With intervals and paired differences against the baseline:", ""]
        out += [*detail_table(res, diffs, names, cfg.protocol), ""]
    if cfg.protocol == "prodan2023":
        out += ["## Shaped like Prodan et al., Table 2 (positive class)", ""]
        out += [*prodan_table(summary["results"], cfg, names), ""]
    return "\n".join(out) + "\n"
