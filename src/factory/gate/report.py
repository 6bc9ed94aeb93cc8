"""The gate's audit report: pictures and tables people look at (written pass or fail)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

from factory.gate.assess import GateInputs, GateResult
from factory.gate.gates import markdown_table

GRID_PER_ROW = 8
CLOSEST_PAIRS = 8


def _show(ax: Axes, image: np.ndarray, title: str = "") -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=7)


def class_grid(real: np.ndarray, fake: np.ndarray, title: str, path: Path) -> Path:
    """Two rows: real training images on top, synthetic below (up to 8 each)."""
    cols = max(1, min(GRID_PER_ROW, max(len(real), len(fake))))
    fig = Figure(figsize=(1.4 * cols, 3.2))
    axes = fig.subplots(2, cols, squeeze=False)
    for row, (images, label) in enumerate(((real, "real"), (fake, "synthetic"))):
        for col in range(cols):
            ax = axes[row, col]
            if col < len(images):
                _show(ax, images[col], label if col == 0 else "")
            else:
                ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def closest_pairs(inputs: GateInputs, result: GateResult, path: Path) -> Path:
    """The synthetic images most like a training image (by NCC), beside that image."""
    table = result.per_image
    order = np.argsort(-table["nearest_real_ncc"].to_numpy())[:CLOSEST_PAIRS]
    index = {image_id: i for i, image_id in enumerate(inputs.train_ids)}  # read by index
    n = max(1, len(order))
    fig = Figure(figsize=(1.5 * n, 3.8))
    axes = fig.subplots(2, n, squeeze=False)
    for col in range(n):
        if col >= len(order):
            axes[0, col].set_axis_off()
            axes[1, col].set_axis_off()
            continue
        i = order[col]
        row = table.iloc[i]
        flag = "FLAGGED" if row["memorized"] else "ok"
        _show(axes[0, col], inputs.fake[i], f"synthetic {i}\nNCC {row['nearest_real_ncc']:.3f}")
        _show(axes[1, col], inputs.train[index[row["nearest_real_id"]]], f"train\n{flag}")
    fig.suptitle("closest synthetic-training pairs (NCC, +-shift)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def distance_histograms(result: GateResult, path: Path) -> Path:
    """Nearest-training distances of real val vs synthetic images, with the thresholds."""
    synthetic = {
        "ncc_distance": 1 - result.per_image["nearest_real_ncc"].to_numpy(),
        "feature_distance": result.per_image["nearest_real_feature_distance"].to_numpy(),
    }
    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, 2)
    for ax, name in zip(axes, ("ncc_distance", "feature_distance"), strict=True):
        val, fake = result.calibration[name], synthetic[name]
        both = np.concatenate([val, fake])
        bins = np.linspace(both.min(), both.max() + 1e-12, 30)
        ax.hist(val, bins=bins, alpha=0.6, density=True, label=f"real val (n={len(val)})")
        ax.hist(fake, bins=bins, alpha=0.6, density=True, label=f"synthetic (n={len(fake)})")
        t = result.thresholds[name]
        ax.axvline(t.value, color="k", ls="--", label=f"threshold p{t.percentile:g} ({t.method})")
        ax.set_xlabel(f"{name.replace('_', ' ')} to nearest training image")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    fig.suptitle("memorization: closer than the threshold = flagged", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def distances_table(result: GateResult) -> pd.DataFrame:
    """Long table (set, kind, distance) for `dvc plots` or further analysis."""
    synthetic = {
        "ncc_distance": 1 - result.per_image["nearest_real_ncc"].to_numpy(),
        "feature_distance": result.per_image["nearest_real_feature_distance"].to_numpy(),
    }
    parts = []
    for kind in synthetic:
        for set_name, d in (("val", result.calibration[kind]), ("synthetic", synthetic[kind])):
            parts.append(pd.DataFrame({"set": set_name, "kind": kind, "distance": d}))
    return pd.concat(parts, ignore_index=True)


def detectability_extremes(inputs: GateInputs, result: GateResult, path: Path) -> Path | None:
    """The most and the least detectable synthetic images (out-of-fold P(synthetic))."""
    if result.detect_scores is None:
        return None
    probe, rows, scores = result.detect_scores
    finite = np.isfinite(scores)
    rows, scores = rows[finite], scores[finite]
    order = np.argsort(-scores)
    n = min(CLOSEST_PAIRS, len(order))
    if n == 0:
        return None
    fig = Figure(figsize=(1.4 * n, 3.6))
    axes = fig.subplots(2, n, squeeze=False)
    for col in range(n):
        for row, pick in ((0, order[col]), (1, order[len(order) - 1 - col])):
            i = rows[pick]
            _show(axes[row, col], inputs.fake[i], f"synthetic {i}\nP={scores[pick]:.2f}")
    fig.suptitle(
        f"most (top) and least (bottom) detectable synthetic images, probe: {probe}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _fmt_auc(r) -> str:
    if r is None or r.auc is None:
        return "-" if r is None or not r.note else f"- ({r.note})"
    ci = "" if r.ci95 is None else f" [{r.ci95[0]:.3f}, {r.ci95[1]:.3f}]"
    return f"{r.auc:.3f}{ci}"


def tests_markdown(result: GateResult) -> list[str]:
    """Detectability and class-fidelity tables (AUC with 95% CI beside the reference)."""
    lines = [
        "## Detectability (classifier two-sample test, cross-validated AUC)",
        "",
        "0.5 = a classifier cannot tell the sets apart; 1.0 = every synthetic image is "
        "recognisable. Reference: real val against real train.",
        "",
        "| probe | synthetic vs train | val vs train (reference) |",
        "| --- | --- | --- |",
    ]
    for probe, pair in result.detectability.items():
        lines.append(f"| {probe} | {_fmt_auc(pair['synthetic'])} | {_fmt_auc(pair['reference'])} |")
    f = result.fidelity
    lines += ["", "## Class fidelity (classifier trained on real train)", ""]
    if f is None:
        return [*lines, "Not run (gate.class_fidelity off, or not two classes).", ""]
    lines += [
        f"AUC on the synthetic labels: {_fmt_auc(f.synthetic)}; on real val: {_fmt_auc(f.val)}.",
        "",
        "| class | agreement, synthetic | agreement, real val |",
        "| --- | ---: | ---: |",
    ]
    for name, (syn, val) in f.agreement.items():
        cells = ["-" if v is None else f"{v:.3f}" for v in (syn, val)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return [*lines, ""]


def markdown(result: GateResult, pictures: list[str], extractor: str) -> str:
    """report.md: verdict, gate table, per-class values, copy-search calibration."""
    verdict = "PASSED" if result.passed else "FAILED"
    lines = [f"# Gate report: {verdict}", "", f"Feature extractor: `{extractor}`.", ""]
    lines += [
        "## Checks",
        "",
        "Synthetic: the synthetic set against real train, as mean ± sd over subsets of the "
        "real val set's size. Real ref: real val against real train.",
        "",
        markdown_table(result.checks),
        "",
    ]
    lines += tests_markdown(result)
    keys = sorted({k for v in result.per_class.values() for k in v})
    lines += [
        "## Whole-set values per class (every synthetic image vs train)",
        "",
        "| class | " + " | ".join(keys) + " |",
        "| --- |" + " ---: |" * len(keys),
    ]
    for name, values in result.per_class.items():
        cells = ["-" if values.get(k) is None else f"{values[k]:.4g}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Memorization thresholds", ""]
    for name, t in result.thresholds.items():
        lines.append(
            f"- {name}: {t.value:.4g} (percentile {t.percentile:g} of {t.n_calibration} real "
            f"val images' nearest-training distances, {t.method})"
        )
    lines += ["", "## Counts", "", "```", json.dumps(result.counts, indent=2), "```", ""]
    lines += ["## Pictures", ""] + [f"![{p}]({p})" for p in pictures] + [""]
    return "\n".join(lines)


def write_report(
    inputs: GateInputs, result: GateResult, sample_rows: pd.DataFrame, folder: Path, extractor: str
) -> None:
    """Fill `folder` (a fresh, empty one) with the report's pictures and tables."""
    pictures = []
    for c, name in enumerate(inputs.classes):
        fake = inputs.fake[inputs.fake_labels == c][:GRID_PER_ROW]
        if len(fake) == 0:
            continue
        real = inputs.train[np.flatnonzero(inputs.train_labels == c)[:GRID_PER_ROW]]
        pictures.append(class_grid(real, fake, f"class {name}", folder / f"grid_{name}.png").name)
    pictures.append(closest_pairs(inputs, result, folder / "closest_pairs.png").name)
    pictures.append(distance_histograms(result, folder / "memorization_distances.png").name)
    extremes = detectability_extremes(inputs, result, folder / "detectability_extremes.png")
    if extremes is not None:
        pictures.append(extremes.name)
    distances_table(result).to_csv(folder / "memorization_distances.csv", index=False)
    audit = pd.concat([sample_rows.reset_index(drop=True), result.per_image], axis=1)
    audit.to_parquet(folder / "images.parquet", index=False)
    (folder / "report.md").write_text(markdown(result, pictures, extractor), encoding="utf-8")
