"""Writing the benchmark's outputs: metrics, verdict, tables, plots and Grad-CAM overlays.

Layout of the output folder (the DVC stage declares each part once):

    metrics.json            DVC metrics: every scenario's summary and paired differences
    acceptance.json         the verdict (read by `factory publish` and the dataset card)
    report/results.md       the verdict (its rule in words and the numbers it was applied
                            to), tables shaped like the papers' (Sutjiadi Table 4, Prodan
                            Table 2)
    report/predictions.parquet   every evaluated image's probability, per run
    report/gradcam/         overlays for test images called positive by the main model
    plots/roc/<scenario>.csv        fpr, tpr (first seed, main backbone and size)
    plots/confusion/<scenario>.json actual / predicted per evaluated image (same run)
    plots/curves/<scenario>.csv     training curves per epoch (same run)
    plots/images/*.png              ROC, confusion matrices, scenario comparison, curves

The pieces live in `tables` (Markdown), `figures` (plots) and `explain` (Grad-CAM).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from factory.io import atomic_write_json, atomic_write_text

from . import scenarios as sc
from .data import Pool
from .explain import write_gradcam
from .figures import write_figures, write_plot_data
from .tables import results_markdown

if TYPE_CHECKING:
    from .run import Outcome


def finite(obj: Any) -> Any:
    """NaN/inf -> None, recursively, so the JSON is strict."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float | np.floating) and not math.isfinite(obj):
        return None
    return obj


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


def headline(results: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """The numbers `dvc metrics diff` should show first: the acceptance comparison, TSTR."""
    metric, scenario = verdict["metric"], verdict["scenario"]
    return {
        "metric": metric,
        "scenario": scenario,
        "baseline": results[sc.BASELINE][metric]["mean"],
        "with_synthetic": results.get(scenario, {}).get(metric, {}).get("mean"),
        "gain": verdict["gain"],
        "gain_ci95_low": verdict["ci95"][0],
        "gain_ci95_high": verdict["ci95"][1],
        "rule": verdict["rule"],
        "tstr_auc": verdict["tstr"]["auc"],
        "tstr_auc_ci95_low": verdict["tstr"]["ci95"][0],
    }


def write_report(out: Path, outcome: Outcome) -> None:
    """Every output of a finished benchmark into `out` (inside the caller's atomic folder)."""
    cfg, pool, the_plan, runs = outcome.cfg, outcome.pool, outcome.plan, outcome.runs
    summary, verdict = outcome.summary, outcome.verdict
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
    atomic_write_text(report / "results.md", results_markdown(outcome))
    predictions_frame(pool, runs).to_parquet(report / "predictions.parquet", index=False)
    write_plot_data(plots, cfg, pool, runs, names, main_config)
    write_figures(plots / "images", cfg, pool, runs, summary, names, main_config)
    boxes = write_gradcam(report / "gradcam", cfg, pool, outcome.main_model)
    atomic_write_json(
        report / "gradcam.json",
        {"model": main_config, "scenario": verdict["scenario"], "boxes": boxes},
    )
    curves = {f"{r.config}/{r.scenario}/seed{r.seed_index}/{r.split}": r.curve for r in runs}
    atomic_write_json(report / "curves.json", finite(curves))
    atomic_write_json(
        report / "run.json",
        {
            "seed": outcome.common.seed,
            "seeds": sorted({r.seed for r in runs}),
            "classes": list(pool.classes),
            "manifest_sha256": pool.manifest_sha256,
        },
    )
