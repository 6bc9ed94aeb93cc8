"""The benchmark's plots: DVC plot data (CSV/JSON) and PNG figures of the main model.

Every plot shows the first seed of the main backbone and size, one series per scenario,
except the comparison figure, which shows every seed's mean with its 95% interval.
"""

from __future__ import annotations

import math
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.io import atomic_write_bytes, atomic_write_json, atomic_write_text

from . import scenarios as sc
from .config import BenchmarkConfig
from .data import Pool
from .tables import file_stem


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _savefig(fig: Any, path: Path) -> None:
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def first_seed(runs: list, main_config: str, name: str) -> list:
    """The runs (one per split) of the first seed of `name` on the main config."""
    return [r for r in runs if r.config == main_config and r.scenario == name and r.seed_index == 0]


def labels_and_probs(pool: Pool, chosen: list) -> tuple[np.ndarray, np.ndarray]:
    """True labels and probabilities of the evaluated rows of `chosen` runs."""
    ev = np.concatenate([r.evaluate for r in chosen])
    return pool.rows.loc[ev, "y"].to_numpy(), np.concatenate([r.prob for r in chosen])


def _note(cfg: BenchmarkConfig) -> str:
    return f"\n({sc.SUTJIADI_NOTE})" if cfg.protocol == "sutjiadi2025" else ""


def write_plot_data(
    plots: Path, cfg: BenchmarkConfig, pool: Pool, runs: list, names: list[str], main_config: str
) -> None:
    """Per scenario: ROC points, confusion pairs and curves of the first seed's main run."""
    from sklearn.metrics import roc_curve

    for name in names:
        chosen = first_seed(runs, main_config, name)
        y, prob = labels_and_probs(pool, chosen)
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


def roc_figure(data: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> Any:
    from sklearn.metrics import RocCurveDisplay

    fig, ax = _plt().subplots(figsize=(5, 5))
    for name, (y, prob) in data.items():
        if len(np.unique(y)) == 2:
            RocCurveDisplay.from_predictions(y, prob, name=name, ax=ax)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def confusion_figure(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    threshold: float,
    classes: tuple[str, ...],
    title: str,
) -> Any:
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(data)
    fig, axes = _plt().subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for ax, (name, (y, prob)) in zip(axes[0], data.items(), strict=True):
        ConfusionMatrixDisplay.from_predictions(
            y,
            (prob > threshold).astype(int),
            labels=[0, 1],
            display_labels=list(classes),
            ax=ax,
            colorbar=False,
        )
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def comparison_figure(results: dict[str, Any], metric: str, names: list[str], title: str) -> Any:
    """Each scenario's mean over seeds with its 95% bootstrap interval."""
    means = [results[n][metric]["mean"] for n in names]
    lo = [results[n][metric]["ci95_low"] for n in names]
    hi = [results[n][metric]["ci95_high"] for n in names]
    err = np.array(
        [
            [m - a if math.isfinite(a) else 0 for m, a in zip(means, lo, strict=True)],
            [b - m if math.isfinite(b) else 0 for m, b in zip(means, hi, strict=True)],
        ]
    )
    fig, ax = _plt().subplots(figsize=(1.2 * len(names) + 2, 3.5))
    ax.errorbar(range(len(names)), means, yerr=np.nan_to_num(err), fmt="o", capsize=4)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel(f"{metric} (mean over seeds, 95% CI)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def curves_figure(curves: dict[str, list[dict[str, float]]], title: str) -> Any:
    fig, axes = _plt().subplots(1, 2, figsize=(9, 3.5))
    for name, rows in curves.items():
        curve = pd.DataFrame(rows)
        axes[0].plot(curve["epoch"], curve["train_loss"], label=name)
        if "monitor_accuracy" in curve:
            axes[1].plot(curve["epoch"], curve["monitor_accuracy"], label=name)
    axes[0].set_title("training loss", fontsize=9)
    axes[1].set_title("monitor accuracy (val split or evaluated fold)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


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
    note = _note(cfg)
    first = {n: first_seed(runs, main_config, n) for n in names}
    data = {n: labels_and_probs(pool, first[n]) for n in names}
    _savefig(roc_figure(data, f"ROC, {main_config}, first seed{note}"), images / "roc.png")
    fig = confusion_figure(
        data, cfg.threshold, pool.classes, f"Confusion matrices, {main_config}, first seed{note}"
    )
    _savefig(fig, images / "confusion.png")
    fig = comparison_figure(
        summary["results"][main_config],
        cfg.acceptance.metric,
        names,
        f"Scenarios, {main_config}{note}",
    )
    _savefig(fig, images / "comparison.png")
    curves = {n: first[n][0].curve for n in names}
    fig = curves_figure(curves, f"Training curves, {main_config}, first seed{note}")
    _savefig(fig, images / "curves.png")
