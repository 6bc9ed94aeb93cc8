"""The benchmark's tables in Markdown: results.md, and the rows of the card's table.

Shaped like the papers' own tables (Sutjiadi et al. Table 4, Prodan et al. Table 2),
with intervals and paired differences beside them, and the verdict stated as its rule in
words and the numbers that rule was applied to.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from . import scenarios as sc
from .config import BenchmarkConfig

if TYPE_CHECKING:
    from .run import Outcome


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


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown (GFM) table, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def sutjiadi_table(
    results: dict[str, Any],
    the_plan: Any,
    runs: list,
    config: str,
    classes: tuple[str, ...],
) -> list[str]:
    """Sutjiadi et al. Table 4: per scenario and class, accuracy/precision/recall/F1."""
    sizes = {r.scenario: r.train_size for r in runs if r.config == config}
    header = ["#", "Real (train)", "Synthetic", "Class", "Accuracy", "Precision", "Recall"]
    rows = []
    for k, scen in enumerate(the_plan.scenarios, 1):
        res, size = results[scen.name], sizes.get(scen.name, {})
        for c, (cls, side) in enumerate(zip(classes, ("negative", "positive"), strict=True)):
            first = [k, size.get("real", ""), size.get("synthetic", "")]
            rows.append(
                (first if c == 0 else ["", "", ""])
                + [cls, _fmt(res["accuracy"]) if c == 0 else ""]
                + [_fmt(res[f"{m}_{side}"]) for m in ("precision", "recall", "f1")]
            )
    return markdown_table([*header, "F1-score"], rows)


def scenario_row(
    name: str, results: dict[str, Any], diffs: dict[str, Any], protocol: str
) -> dict[str, str]:
    """A scenario's main figures, with intervals and its paired AUC gain."""
    r = results[name]
    return {
        "scenario": display_name(name, protocol),
        "AUC [95% CI]": _fmt(r["auc"], True),
        "balanced accuracy [95% CI]": _fmt(r["balanced_accuracy"], True),
        "sensitivity": _fmt(r["sensitivity"]),
        "specificity": _fmt(r["specificity"]),
        "ΔAUC vs real+0 [95% CI]": _diff(diffs.get(name, {}).get("auc")),
    }


def detail_table(
    results: dict[str, Any], diffs: dict[str, Any], names: list[str], protocol: str
) -> list[str]:
    """The card's rows, plus the balanced-accuracy gain and the test set's size."""
    rows = [
        scenario_row(name, results, diffs, protocol)
        | {
            "Δbalanced accuracy [95% CI]": _diff(diffs.get(name, {}).get("balanced_accuracy")),
            "test images / patients": f"{results[name]['n_images']} / "
            f"{results[name]['n_patients']}",
        }
        for name in names
    ]
    return markdown_table(list(rows[0]), [list(r.values()) for r in rows])


def card_table(
    results: dict[str, Any], diffs: dict[str, Any], names: list[str], protocol: str
) -> list[dict[str, Any]]:
    """One row per scenario of the main model, for the dataset card (acceptance.json)."""
    return [scenario_row(name, results, diffs, protocol) for name in names]


def prodan_table(results: dict[str, Any], cfg: BenchmarkConfig, names: list[str]) -> list[str]:
    """Prodan et al. Table 2: per resolution and data variant, one row per backbone."""
    rows: list[list[Any]] = []
    for size in cfg.image_sizes:
        rows.append([f"**{size}×{size}**", "", "", "", "", ""])
        for name in names:
            rows.append([f"*{name}*", "", "", "", "", ""])
            for backbone in cfg.backbones:
                r = results[f"{backbone}@{size}px"][name]
                keys = ("accuracy", "auc", "precision_positive", "recall_positive", "f1_positive")
                rows.append([backbone, *(_fmt(r[k]) for k in keys)])
    return markdown_table(["Model", "Accuracy", "AUC", "Precision", "Recall", "F1"], rows)


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


def results_markdown(outcome: Outcome) -> str:
    """report/results.md: the verdict first, then the papers' tables per backbone@size."""
    cfg, pool, the_plan, summary = outcome.cfg, outcome.pool, outcome.plan, outcome.summary
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
    out += verdict_lines(outcome.verdict)
    for config in summary["results"]:
        res, diffs = summary["results"][config], summary["differences"][config]
        label = f" ({sc.SUTJIADI_NOTE})" if cfg.protocol == "sutjiadi2025" else ""
        out += [f"## {config}", "", f"Shaped like Sutjiadi et al., Table 4{label}:", ""]
        out += sutjiadi_table(res, the_plan, outcome.runs, config, pool.classes)
        out += ["", "With intervals and paired differences against the baseline:", ""]
        out += [*detail_table(res, diffs, names, cfg.protocol), ""]
    if cfg.protocol == "prodan2023":
        out += ["## Shaped like Prodan et al., Table 2 (positive class)", ""]
        out += [*prodan_table(summary["results"], cfg, names), ""]
    return "\n".join(out) + "\n"
