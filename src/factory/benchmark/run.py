"""The benchmark from inputs to verdict: checks, training runs, evaluation, report.

`run_benchmark` is the one entry point (the DVC stage and `factory benchmark` call it).
Everything that can be wrong with the inputs is checked before the first model trains.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.config import CommonConfig
from factory.errors import FactoryError
from factory.io import atomic_dir

from . import scenarios as sc
from .acceptance import TSTR_METRIC, decide
from .config import SYNTHETIC_ONLY, BenchmarkConfig
from .data import REAL, SYNTHETIC, Pool, load_pool
from .leakage import LeakageError, assert_no_leakage, generator_patients
from .metrics import (
    bootstrap_metrics,
    classification_metrics,
    paired_difference,
    patient_bootstrap,
    summarise,
)


@dataclass
class Plan:
    """What will run: scenarios, their synthetic picks, and who the generator trained on."""

    scenarios: list[sc.Scenario]
    synthetic: dict[str, np.ndarray]
    generator_patients: set[str] | None
    notes: list[str] = field(default_factory=list)


@dataclass
class Run:
    """One trained model's evaluation: predictions over the evaluated pool rows."""

    config: str
    scenario: str
    seed_index: int
    seed: int
    split: str
    evaluate: np.ndarray
    prob: np.ndarray
    train_size: dict[str, int]
    curve: list[dict[str, float]]


@dataclass(frozen=True)
class Outcome:
    """A finished benchmark, as its report reads it."""

    cfg: BenchmarkConfig
    common: CommonConfig
    pool: Pool
    plan: Plan
    runs: list[Run]
    summary: dict[str, Any]
    verdict: dict[str, Any]
    main_model: Any  # (model, split, x) of the main job, for Grad-CAM; None if not run


def config_label(backbone: str, size: int) -> str:
    return f"{backbone}@{size}px"


def run_seed(seed: int, index: int) -> int:
    """The seed of repeat `index`, derived from the one project seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def gate_notes(lineage: dict[str, Any]) -> list[str]:
    """A note when the set's lineage records a failed gate (packaged in record mode)."""
    gate = lineage.get("gate")
    if not isinstance(gate, dict) or gate.get("passed") is not False:
        return []
    verdict = gate.get("verdict") or "gate FAILED: not for publication"
    return [
        f"{verdict} (lineage.json gate.passed is false, mode {gate.get('mode')!r}): this "
        "benchmark measures a set that failed the quality gate; whatever its verdict, the "
        "set is not for publication"
    ]


def plan(cfg: BenchmarkConfig, pool: Pool, seed: int) -> Plan:
    """Check the inputs against the protocol and fix the scenarios' compositions."""
    from .model import check_backbone

    for name in cfg.backbones:
        check_backbone(name)
    rows = pool.rows
    real = rows[rows["origin"] == REAL]
    notes = []
    gen = None
    if cfg.protocol == "heldout":
        sc.require_both_classes(
            real.loc[real["split"] == "test", "y"].to_numpy(), pool.classes, "the test split"
        )
        sc.require_both_classes(
            real.loc[real["split"] == "train", "y"].to_numpy(), pool.classes, "the train split"
        )
        gen = generator_patients(pool)  # fails when the lineage cannot prove who they were
    else:
        sc.require_both_classes(real["y"].to_numpy(), pool.classes, "the real images")
        try:
            gen = generator_patients(pool)
        except LeakageError as exc:
            notes.append(f"generator's training patients unknown: {exc}")
    if cfg.protocol == "sutjiadi2025":
        notes.append(
            f"sutjiadi2025 protocol: {sc.SUTJIADI_NOTE}; the generator saw real test images; "
            "comparison with the paper only, never used for acceptance"
        )
    if cfg.protocol == "prodan2023":
        seen = len(set(real["patient_id"]) & (gen or set()))
        notes.append(f"prodan2023 protocol: {sc.PRODAN_NOTE} ({seen} patients); comparison only")
    notes += gate_notes(pool.lineage)
    scenarios = sc.scenarios(cfg)
    order = sc.synthetic_order(rows, len(pool.classes), seed)
    synthetic = {
        s.name: sc.pick_synthetic(order, s.synthetic, pool.classes, cfg.synthetic_classes)
        for s in scenarios
    }
    return Plan(scenarios, synthetic, gen, notes)


def guard(cfg: BenchmarkConfig, pool: Pool, split: sc.Split, gen: set[str] | None) -> None:
    """The leakage guard on one split (heldout: everything; prodan2023: the classifier side)."""
    if cfg.protocol == "sutjiadi2025":
        return  # its test set holds synthetic images by design; labelled, never accepted
    rows = pool.rows
    synthetic_hashes = rows.loc[rows["origin"] == SYNTHETIC, "pixel_sha256"]
    assert_no_leakage(
        rows.loc[split.evaluate],
        classifier_patients=rows.loc[split.train, "patient_id"],
        generator_patients=(gen or set()) if cfg.protocol == "heldout" else (),
        synthetic_pixel_hashes=synthetic_hashes,
    )


def _composition(rows: pd.DataFrame, idx: np.ndarray) -> dict[str, int]:
    part = rows.loc[idx]
    return {
        "real": int((part["origin"] == REAL).sum()),
        "synthetic": int((part["origin"] == SYNTHETIC).sum()),
    }


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Use `n` torch CPU threads inside the block (0 = leave as is), then restore."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Job:
    """One model to train and evaluate: a self-contained, picklable unit of work.

    The list of jobs is the benchmark's whole workload; `run_one` runs one of them, so
    the list can later be dealt out over processes without changing what a job does.
    """

    size: int
    backbone: str
    seed_index: int
    seed: int
    scenario: str
    split: sc.Split
    main: bool  # the main model: first backbone and size, main scenario, first seed

    @property
    def config(self) -> str:
        return config_label(self.backbone, self.size)


def protocol_splits(
    cfg: BenchmarkConfig, pool: Pool, the_plan: Plan, seed: int
) -> dict[str, list[sc.Split]]:
    """Every scenario's splits, each checked by the leakage guard before anything trains."""
    splits = {
        s.name: sc.protocol_splits(cfg, pool.rows, s, the_plan.synthetic[s.name], seed)
        for s in the_plan.scenarios
    }
    for found in splits.values():
        for split in found:
            guard(cfg, pool, split, the_plan.generator_patients)
    return splits


def make_jobs(
    cfg: BenchmarkConfig, splits: dict[str, list[sc.Split]], seed: int, main_scenario: str
) -> list[Job]:
    """The workload in a fixed order: size, backbone, seed, scenario, split.

    The main model is the last split of the main job (first backbone and size, first seed).
    """
    jobs = []
    for size in cfg.image_sizes:
        for backbone in cfg.backbones:
            for i in range(cfg.seeds):
                for name, found in splits.items():
                    for split in found:
                        main = (
                            backbone == cfg.backbones[0]
                            and size == cfg.image_sizes[0]
                            and name == main_scenario
                            and i == 0
                        )
                        jobs.append(Job(size, backbone, i, run_seed(seed, i), name, split, main))
    return jobs


def run_one(
    job: Job,
    cfg: BenchmarkConfig,
    x: Any,
    rows: pd.DataFrame,
    rt: Any,
    weights_file: str | None = None,
) -> tuple[Run, Any]:
    """Train one classifier from its job's seed and evaluate it; returns (run, model).

    `x` holds every pool image at `job.size` [N, 1, S, S], in `rows` order.
    """
    import torch

    from .fit import fit, predict
    from .model import create_classifier

    y = rows["y"].to_numpy().copy()  # writable, for torch.from_numpy
    split = job.split
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(job.seed)
        model = create_classifier(
            job.backbone, pretrained=cfg.pretrained, weights_file=weights_file
        )
        g = torch.Generator().manual_seed(job.seed)
        curve = fit(model, x, y, split.train, split.monitor, cfg, g, rt)
    prob = predict(model, x[split.evaluate], cfg.batch_size, rt)
    run = Run(
        job.config,
        job.scenario,
        job.seed_index,
        job.seed,
        split.name,
        split.evaluate,
        prob,
        _composition(rows, split.train),
        curve,
    )
    return run, model


def train_all(
    cfg: BenchmarkConfig,
    pool: Pool,
    the_plan: Plan,
    seed: int,
    main_scenario: str,
    weights_files: dict[str, str] | None = None,
) -> tuple[list[Run], Any]:
    """Train and evaluate every job; also return the main model as (model, split, x).

    Under several worker processes the jobs are dealt out by `shard.map_shards` (one job
    per rank at a time) and every rank gets every run, in job order. The main job is
    dealt first, to rank 0, which keeps its model for Grad-CAM (no model travels; other
    ranks return None for it). A job seeds its own RNGs, so its run does not depend on the
    rank, the jobs before it or the process count (given the same torch thread count:
    `benchmark.threads`; torchrun sets OMP_NUM_THREADS=1 in its workers).
    """
    from factory import shard

    from .fit import runtime

    rt = runtime(cfg)
    if rt.device.type == "cuda":
        rt = dataclasses.replace(rt, device=shard.device())  # cuda:LOCAL_RANK
    jobs = make_jobs(cfg, protocol_splits(cfg, pool, the_plan, seed), seed, main_scenario)
    weights_files = weights_files or {}
    order = sorted(range(len(jobs)), key=lambda i: not jobs[i].main)  # main job on rank 0
    tensors: dict[int, Any] = {}
    kept: dict[str, Any] = {}

    def one(i: int) -> Run:
        job = jobs[i]
        if job.size not in tensors:
            tensors.clear()  # one image size in memory (besides the main model's)
            tensors[job.size] = pool.tensor(job.size)
        x = tensors[job.size]
        run, model = run_one(job, cfg, x, pool.rows, rt, weights_files.get(job.backbone))
        if job.main:
            kept["main"] = (model, job.split, x)
        return run

    with cpu_threads(cfg.threads):
        done = shard.map_shards(one, order, "benchmark")
    runs: list[Run] = [None] * len(jobs)  # type: ignore[list-item]
    for i, run in zip(order, done, strict=True):
        runs[i] = run
    return runs, kept.get("main")


def collect(runs: list[Run], config: str, scenario: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """Evaluated pool rows (sorted) and one probability vector per seed, aligned to them."""
    chosen = [r for r in runs if r.config == config and r.scenario == scenario]
    seeds = sorted({r.seed_index for r in chosen})
    probs, idx = [], None
    for s in seeds:
        parts = [r for r in chosen if r.seed_index == s]
        ev = np.concatenate([r.evaluate for r in parts])
        pr = np.concatenate([r.prob for r in parts])
        order = np.argsort(ev, kind="stable")
        idx = ev[order]
        probs.append(pr[order])
    return idx, probs


def evaluate(
    cfg: BenchmarkConfig, pool: Pool, runs: list[Run], scenario_names: list[str], seed: int
) -> dict[str, Any]:
    """Per config and scenario: per-seed metrics, summaries with CIs, paired differences."""
    rows = pool.rows
    results: dict[str, Any] = {}
    differences: dict[str, Any] = {}
    per_seed_all: dict[str, Any] = {}
    for config in dict.fromkeys(r.config for r in runs):
        results[config], differences[config], per_seed_all[config] = {}, {}, {}
        reps_of: dict[str, np.ndarray | None] = {}
        for name in scenario_names:
            idx, probs = collect(runs, config, name)
            y = rows.loc[idx, "y"].to_numpy()
            per_seed = [classification_metrics(y, p, cfg.threshold) for p in probs]
            reps = None
            if cfg.bootstrap:
                w = patient_bootstrap(rows.loc[idx, "patient_id"].tolist(), cfg.bootstrap, seed)
                reps = bootstrap_metrics(y, probs, w, cfg.threshold)
            reps_of[name] = reps
            per_seed_all[config][name] = per_seed
            results[config][name] = summarise(per_seed, reps)
            results[config][name]["n_images"] = len(idx)
            results[config][name]["n_patients"] = int(rows.loc[idx, "patient_id"].nunique())
        base = sc.BASELINE
        for name in scenario_names:
            if name == base:
                continue
            differences[config][name] = paired_difference(
                per_seed_all[config][name], per_seed_all[config][base], reps_of[name], reps_of[base]
            )
    return {"results": results, "differences": differences, "per_seed": per_seed_all}


def main_scenario_name(cfg: BenchmarkConfig, scenarios: list[sc.Scenario]) -> str:
    """The acceptance scenario's name; an error when it is not among the scenarios run."""
    name = sc.scenario_name(cfg.acceptance.scenario)
    names = [s.name for s in scenarios]
    if name not in names:
        raise FactoryError(
            f"benchmark.acceptance.scenario: {name} is not among the scenarios this "
            f"{cfg.protocol} run trains ({', '.join(names)}); set it to one of "
            f"synthetic_counts {list(cfg.synthetic_counts)} (or enable synthetic_only on the "
            "heldout protocol)"
        )
    return name


def verdict_of(
    cfg: BenchmarkConfig, summary: dict[str, Any], main_config: str, main: str
) -> dict[str, Any]:
    """The acceptance verdict from the main model's summaries (see `acceptance.decide`)."""
    diff = summary["differences"][main_config].get(main, {}).get(cfg.acceptance.metric)
    tstr = summary["results"][main_config].get(SYNTHETIC_ONLY, {}).get(TSTR_METRIC)
    return decide(cfg.acceptance, cfg.protocol, main, diff, tstr)


def run_benchmark(
    cfg: BenchmarkConfig,
    common: CommonConfig,
    dataset_dir: str | Path,
    manifest_path: str | Path,
    out_dir: str | Path,
) -> dict[str, Any] | None:
    """Run the benchmark and write its outputs into `out_dir` (atomically); returns the verdict.

    A rejection is a result, not an error: it is written to acceptance.json like an
    acceptance, and `factory publish` refuses a rejected set. Under several worker
    processes every rank checks the inputs and trains its share of the jobs; rank 0 alone
    evaluates and writes, the others return None.
    """
    from factory import shard

    from .model import pretrained_weights_file
    from .report import write_report
    from .tables import card_table

    pool = load_pool(dataset_dir, manifest_path, common.classes)
    the_plan = plan(cfg, pool, common.seed)
    weights = {b: pretrained_weights_file(b) for b in cfg.backbones} if cfg.pretrained else {}
    main = main_scenario_name(cfg, the_plan.scenarios)
    names = [s.name for s in the_plan.scenarios]
    runs, main_model = train_all(cfg, pool, the_plan, common.seed, main, weights)
    if not shard.is_main():
        return None
    summary = evaluate(cfg, pool, runs, names, common.seed)
    main_config = config_label(cfg.backbones[0], cfg.image_sizes[0])
    verdict = verdict_of(cfg, summary, main_config, main)
    verdict |= {
        "synthetic_count": next((s.synthetic for s in the_plan.scenarios if s.name == main), None),
        "backbone": cfg.backbones[0],
        "image_size": cfg.image_sizes[0],
        "seeds": [run_seed(common.seed, i) for i in range(cfg.seeds)],
        "test_patients": summary["results"][main_config][sc.BASELINE]["n_patients"],
        "test_images": summary["results"][main_config][sc.BASELINE]["n_images"],
        "baseline": summary["results"][main_config][sc.BASELINE].get(cfg.acceptance.metric),
        "notes": the_plan.notes,
        "table": card_table(
            summary["results"][main_config],
            summary["differences"][main_config],
            names,
            cfg.protocol,
        ),
    }
    with atomic_dir(out_dir) as tmp:
        write_report(tmp, Outcome(cfg, common, pool, the_plan, runs, summary, verdict, main_model))
    return verdict
