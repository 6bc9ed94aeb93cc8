"""Writing the benchmark's outputs: metrics, verdict, tables, plots and Grad-CAM overlays.

Layout of the output folder (the DVC stage declares each part once):

    metrics.json            DVC metrics: every scenario's summary and paired differences
    acceptance.json         the verdict (read by `factory publish` and the dataset card)
    report/results.md       tables shaped like the papers' (Sutjiadi Table 4, Prodan Table 2)
    report/predictions.parquet   every evaluated image's probability, per run
    report/gradcam/         overlays for test images called positive by the main model
    plots/roc/<scenario>.csv        fpr, tpr (first seed, main backbone and size)
    plots/confusion/<scenario>.json actual / predicted per evaluated image (same run)
    plots/curves/<scenario>.csv     training curves per epoch (same run)
    plots/images/*.png              ROC, confusion matrices, scenario comparison, curves
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.config import CommonConfig
from factory.io import atomic_write_bytes, atomic_write_json, atomic_write_text

from . import scenarios as sc
from .config import BenchmarkConfig
from .data import Pool

PAPER_METRICS = ("accuracy", "precision", "recall", "f1")


def finite(obj: Any) -> Any:
    """NaN/inf -> None, recursively, so the JSON is strict."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float | np.floating) and not math.isfinite(obj):
        return None
    return obj


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
    v = verdict
    gain = "n/a" if v["gain"] is None else f"{v['gain']:+.4f}"
    ci = v["ci95"]
    ci_text = "" if ci[0] is None else f" [{ci[0]:+.4f}, {ci[1]:+.4f}]"
    out += [
        f"**Verdict: {'ACCEPTED' if v['accepted'] else 'REJECTED'}**: {v.get('reason', '')}. "
        f"Gain in {v['metric']} of {v['scenario']}: {gain}{ci_text} (min_gain {v['min_gain']}).",
        "",
    ]
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


def predictions_frame(pool: Pool, runs: list) -> pd.DataFrame:
    frames = []
    for r in runs:
        rows = pool.rows.loc[r.evaluate]
        frames.append(
            pd.DataFrame(
                {
                    "config": r.config,
                    "scenario": r.scenario,
                    "seed_index": r.seed_index,
                    "seed": r.seed,
                    "split": r.split,
                    "image_id": rows["image_id"].to_numpy(),
                    "patient_id": rows["patient_id"].to_numpy(),
                    "origin": rows["origin"].to_numpy(),
                    "y": rows["y"].to_numpy(),
                    "prob": r.prob,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plot_data(
    plots: Path, cfg: BenchmarkConfig, pool: Pool, runs: list, names: list[str], main_config: str
) -> None:
    """Per scenario: ROC points, confusion pairs and curves of the first seed's main run."""
    from sklearn.metrics import roc_curve

    for name in names:
        chosen = [
            r for r in runs if r.config == main_config and r.scenario == name and r.seed_index == 0
        ]
        ev = np.concatenate([r.evaluate for r in chosen])
        prob = np.concatenate([r.prob for r in chosen])
        y = pool.rows.loc[ev, "y"].to_numpy()
        stem = file_stem(name, cfg.protocol)
        if len(np.unique(y)) == 2:
            fpr, tpr, _ = roc_curve(y, prob)
            roc = pd.DataFrame({"fpr": fpr, "tpr": tpr}).to_csv(index=False)
            atomic_write_text(plots / "roc" / f"{stem}.csv", roc)
        pred = (prob > cfg.threshold).astype(int)
        pairs = [
            {"actual": pool.classes[a], "predicted": pool.classes[p]}
            for a, p in zip(y, pred, strict=True)
        ]
        atomic_write_json(plots / "confusion" / f"{stem}.json", pairs)
        atomic_write_text(
            plots / "curves" / f"{stem}.csv", pd.DataFrame(chosen[0].curve).to_csv(index=False)
        )


def _savefig(fig: Any, path: Path) -> None:
    from io import BytesIO

    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def write_figures(
    images: Path,
    cfg: BenchmarkConfig,
    pool: Pool,
    runs: list,
    summary: dict[str, Any],
    names: list[str],
    main_config: str,
) -> None:
    """PNG versions: ROC per scenario, confusion matrices, comparison with intervals, curves."""
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    plt = _plt()
    note = f"\n({sc.SUTJIADI_NOTE})" if cfg.protocol == "sutjiadi2025" else ""
    first = {
        n: [r for r in runs if r.config == main_config and r.scenario == n and r.seed_index == 0]
        for n in names
    }

    def data(name: str) -> tuple[np.ndarray, np.ndarray]:
        ev = np.concatenate([r.evaluate for r in first[name]])
        return pool.rows.loc[ev, "y"].to_numpy(), np.concatenate([r.prob for r in first[name]])

    fig, ax = plt.subplots(figsize=(5, 5))
    for name in names:
        y, prob = data(name)
        if len(np.unique(y)) == 2:
            RocCurveDisplay.from_predictions(y, prob, name=name, ax=ax)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_title(f"ROC, {main_config}, first seed{note}", fontsize=9)
    fig.tight_layout()
    _savefig(fig, images / "roc.png")

    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        y, prob = data(name)
        ConfusionMatrixDisplay.from_predictions(
            y,
            (prob > cfg.threshold).astype(int),
            labels=[0, 1],
            display_labels=list(pool.classes),
            ax=ax,
            colorbar=False,
        )
        ax.set_title(name, fontsize=9)
    fig.suptitle(f"Confusion matrices, {main_config}, first seed{note}", fontsize=9)
    fig.tight_layout()
    _savefig(fig, images / "confusion.png")

    metric = cfg.acceptance.metric
    res = summary["results"][main_config]
    means = [res[n][metric]["mean"] for n in names]
    lo = [res[n][metric]["ci95_low"] for n in names]
    hi = [res[n][metric]["ci95_high"] for n in names]
    err = np.array(
        [
            [m - a if math.isfinite(a) else 0 for m, a in zip(means, lo, strict=True)],
            [b - m if math.isfinite(b) else 0 for m, b in zip(means, hi, strict=True)],
        ]
    )
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 3.5))
    ax.errorbar(range(len(names)), means, yerr=np.nan_to_num(err), fmt="o", capsize=4)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel(f"{metric} (mean over seeds, 95% CI)")
    ax.set_title(f"Scenarios, {main_config}{note}", fontsize=9)
    fig.tight_layout()
    _savefig(fig, images / "comparison.png")

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for name in names:
        curve = pd.DataFrame(first[name][0].curve)
        axes[0].plot(curve["epoch"], curve["train_loss"], label=name)
        if "monitor_accuracy" in curve:
            axes[1].plot(curve["epoch"], curve["monitor_accuracy"], label=name)
    axes[0].set_title("training loss", fontsize=9)
    axes[1].set_title("monitor accuracy (val split or evaluated fold)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.suptitle(f"Training curves, {main_config}, first seed{note}", fontsize=9)
    fig.tight_layout()
    _savefig(fig, images / "curves.png")


def write_gradcam(
    folder: Path, cfg: BenchmarkConfig, pool: Pool, main_model: Any
) -> list[dict[str, Any]]:
    """Overlays for evaluated images the main model calls positive (at most gradcam_images)."""
    from .explain import centred_box, gradcam_maps, save_overlay
    from .fit import predict, runtime

    if main_model is None or cfg.gradcam_images == 0:
        return []
    model, split, x = main_model
    rt = runtime(cfg)
    prob = predict(model, x[split.evaluate], cfg.batch_size, rt)
    chosen = split.evaluate[prob > cfg.threshold][: cfg.gradcam_images]
    probs = prob[prob > cfg.threshold][: cfg.gradcam_images]
    if len(chosen) == 0:
        return []
    maps = gradcam_maps(model, x[chosen])
    folder.mkdir(parents=True, exist_ok=True)
    boxes = []
    for idx, p, heat in zip(chosen, probs, maps, strict=True):
        row = pool.rows.loc[idx]
        box = centred_box(heat, cfg.bbox_fraction)
        title = f"{row['image_id']} ({row['origin']}, label {pool.classes[row['y']]}), p={p:.2f}"
        save_overlay(folder / f"{row['image_id']}.png", x[idx, 0].numpy(), heat, box, title)
        boxes.append({"image_id": row["image_id"], "prob": float(p), "box_xyxy": list(box)})
    return boxes


def headline(results: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """The numbers `dvc metrics diff` should show first: the acceptance comparison."""
    metric, scenario = verdict["metric"], verdict["scenario"]
    return {
        "metric": metric,
        "scenario": scenario,
        "baseline": results[sc.BASELINE][metric]["mean"],
        "with_synthetic": results.get(scenario, {}).get(metric, {}).get("mean"),
        "gain": verdict["gain"],
        "gain_ci95_low": verdict["ci95"][0],
        "gain_ci95_high": verdict["ci95"][1],
    }


def write_report(
    out: Path,
    cfg: BenchmarkConfig,
    common: CommonConfig,
    pool: Pool,
    the_plan: Any,
    runs: list,
    summary: dict[str, Any],
    verdict: dict[str, Any],
    main_model: Any,
) -> None:
    names = [s.name for s in the_plan.scenarios]
    main_config = f"{cfg.backbones[0]}@{cfg.image_sizes[0]}px"
    report, plots = out / "report", out / "plots"
    report.mkdir(parents=True, exist_ok=True)
    metrics = {
        "protocol": cfg.protocol,
        "accepted": verdict["accepted"],
        "main": main_config,
        "headline": headline(summary["results"][main_config], verdict),
        "notes": the_plan.notes,
        "results": summary["results"],
        "differences": summary["differences"],
    }
    atomic_write_json(out / "metrics.json", finite(metrics))
    atomic_write_json(out / "acceptance.json", finite(verdict))
    atomic_write_text(
        report / "results.md", results_markdown(cfg, pool, the_plan, runs, summary, verdict)
    )
    predictions_frame(pool, runs).to_parquet(report / "predictions.parquet", index=False)
    write_plot_data(plots, cfg, pool, runs, names, main_config)
    write_figures(plots / "images", cfg, pool, runs, summary, names, main_config)
    boxes = write_gradcam(report / "gradcam", cfg, pool, main_model)
    atomic_write_json(
        report / "gradcam.json",
        {"model": main_config, "scenario": verdict["scenario"], "boxes": boxes},
    )
    curves = {f"{r.config}/{r.scenario}/seed{r.seed_index}/{r.split}": r.curve for r in runs}
    atomic_write_json(report / "curves.json", finite(curves))
    atomic_write_json(
        report / "run.json",
        {
            "seed": common.seed,
            "seeds": sorted({r.seed for r in runs}),
            "classes": list(pool.classes),
            "manifest_sha256": pool.manifest_sha256,
        },
    )
