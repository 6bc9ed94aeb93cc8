"""`train_generator`: manifest in, model folder + checkpoints + previews + lineage out.

The one entry point the stage script and `factory train` call, in three steps: `prepare`
(the Accelerator from factory.accel, the data, the UNet, EMA, optimizer and schedules via
`build_trainer`, and the newest checkpoint restored), `fit` (train, final preview) and
`export` (main process: the model folder and the lineage). benchmarks/train_overhead.py
times a Trainer built by the same `build_trainer`.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from factory.accel import make_accelerator
from factory.config import CommonConfig
from factory.generator import GeneratorMeta, save_generator
from factory.io import atomic_dir, atomic_write_json, sha256_file
from factory.leftovers import holding, sweep
from factory.manifest import read_manifest
from factory.provenance import environment, git_commit, git_dirty
from factory.train.config import TrainConfig
from factory.train.data import (
    TRAIN_SPLIT,
    BatchPlan,
    TrainImages,
    balanced_class_weights,
    class_counts,
    effective_weights,
    training_rows,
)
from factory.train.loop import Parts, Trainer, log_row
from factory.train.model import build_noise_scheduler, build_unet

if TYPE_CHECKING:
    import pandas as pd
    from accelerate import Accelerator
    from dvclive import Live
    from torch.utils.data import Dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports back (every process gets one)."""

    is_main_process: bool
    step: int
    steps_this_run: int
    resumed_from: Path | None
    final_loss: float | None
    meta: GeneratorMeta | None  # the saved model's meta (main process only)


def build_parts(
    accelerator: Accelerator, cfg: TrainConfig, common: CommonConfig
) -> tuple[Parts, dict[str, Any]]:
    """UNet (+EMA), AdamW, LR schedule and noise schedule, prepared for the accelerator."""
    from diffusers import UNet2DModel
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    torch.manual_seed(common.seed)  # the UNet's initial weights
    unet = build_unet(cfg, common.image_size, len(common.classes))
    if cfg.channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        unet.parameters(),
        lr=cfg.learning_rate,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        weight_decay=cfg.weight_decay,
    )
    lr_scheduler = get_scheduler(
        cfg.lr_schedule,
        optimizer=optimizer,
        num_warmup_steps=cfg.warmup_steps,
        num_training_steps=cfg.steps,
    )
    trained = torch.compile(unet) if cfg.compile else unet
    # The LR schedule is stepped by hand once per optimizer step (not prepared: a prepared
    # schedule would advance once per process).
    trained, optimizer = accelerator.prepare(trained, optimizer)
    ema = EMAModel(
        unet.parameters(),
        decay=cfg.ema_max_decay,
        use_ema_warmup=True,
        inv_gamma=1.0,
        power=cfg.ema_power,
        model_cls=UNet2DModel,
        model_config=unet.config,
        foreach=True,
    )
    parts = Parts(
        accelerator=accelerator,
        unet=trained,
        raw_unet=unet,
        ema=ema,
        optimizer=optimizer,
        lr_scheduler=lr_scheduler,
        noise_scheduler=build_noise_scheduler(cfg),
    )
    return parts, {"parameters": sum(p.numel() for p in unet.parameters())}


def export_model(out_dir: Path, parts: Parts, meta: GeneratorMeta) -> GeneratorMeta:
    """Write the model folder (raw and EMA UNets, scheduler, meta) atomically."""
    raw = parts.raw_unet
    ema_unet = copy.deepcopy(raw)
    parts.ema.copy_to(ema_unet.parameters())
    # a killed export left `.model.XXXX.tmp` (or `.model.old-PID`): no live run holds it
    sweep(out_dir.parent, (f".{out_dir.name}.*.tmp", f".{out_dir.name}.old-*"))
    with atomic_dir(out_dir) as tmp, holding(tmp):
        return save_generator(
            tmp,
            raw.to(memory_format=torch.contiguous_format),
            ema_unet.to(memory_format=torch.contiguous_format),
            parts.noise_scheduler,
            meta,
        )


@dataclass
class Run:
    """One training run, as `prepare` wired it: what `fit` trains and `export` saves."""

    accelerator: Accelerator
    trainer: Trainer
    manifest_path: Path
    out_dir: Path
    rows: pd.DataFrame
    weights: np.ndarray  # balanced class weights (applied as cfg.class_weighting says)
    model_facts: dict[str, Any]
    live: Live | None  # main process only
    resumed_from: Path | None
    start_step: int
    wall_start: float


def build_trainer(
    accelerator: Accelerator,
    data: Dataset,
    labels: np.ndarray,
    weights: np.ndarray,
    common: CommonConfig,
    cfg: TrainConfig,
    out_dir: Path,
    live: Live | None,
) -> tuple[Trainer, dict[str, Any]]:
    """The batch plan, the prepared parts and the Trainer over `data` (class indices
    `labels`, class weights `weights`); also the model's facts for the lineage."""
    sample_w, loss_w = effective_weights(cfg.class_weighting, weights)
    plan = BatchPlan(
        n=len(labels),
        batch_size=cfg.batch_size,
        world_size=accelerator.num_processes,
        seed=common.seed,
        sample_weights=None if cfg.class_weighting != "sampler" else sample_w[labels],
    )
    parts, model_facts = build_parts(accelerator, cfg, common)
    trainer = Trainer(
        parts,
        data,
        plan,
        cfg=cfg,
        classes=common.classes,
        seed=common.seed,
        out_dir=out_dir,
        loss_weights=loss_w,
        signature=cfg.model_signature(common.classes, common.image_size),
        live=live,
    )
    return trainer, model_facts


def prepare(
    manifest_path: str | Path, out_dir: str | Path, common: CommonConfig, cfg: TrainConfig
) -> Run:
    """Accelerator, the manifest's train images, the Trainer, and the newest intact
    checkpoint restored (every process)."""
    wall_start = time.perf_counter()
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    accelerator = make_accelerator(cfg.mixed_precision, cfg.gradient_accumulation)
    main = accelerator.is_main_process
    if accelerator.num_processes != cfg.processes and main:
        log.warning(
            "running %d process(es) but train.processes is %d; the launcher decides",
            accelerator.num_processes,
            cfg.processes,
        )
    rows = training_rows(read_manifest(manifest_path), common.classes, str(manifest_path))
    data = TrainImages(
        rows,
        manifest_path.parent,
        common.classes,
        common.image_size,
        cfg.in_memory_max_mb,
        where=str(manifest_path),
    )
    weights = balanced_class_weights(data.labels, len(common.classes))
    live = open_live(out_dir) if main else None
    trainer, model_facts = build_trainer(
        accelerator, data, data.labels, weights, common, cfg, out_dir, live
    )
    resumed_from = trainer.restore()
    run = Run(
        accelerator=accelerator,
        trainer=trainer,
        manifest_path=manifest_path,
        out_dir=out_dir,
        rows=rows,
        weights=weights,
        model_facts=model_facts,
        live=live,
        resumed_from=resumed_from,
        start_step=trainer.state.step,
        wall_start=wall_start,
    )
    if main:
        _log_start(run, data, common, cfg)
    return run


def _log_start(run: Run, data: TrainImages, common: CommonConfig, cfg: TrainConfig) -> None:
    weights_text = ", ".join(
        f"{c}={w:.3f}" for c, w in zip(common.classes, run.weights, strict=True)
    )
    log.info(
        "train: %d images (%s), class weights %s applied by %s; %s",
        len(data),
        "streamed" if data.streamed else "in memory",
        weights_text,
        cfg.class_weighting,
        f"resuming at step {run.start_step}" if run.resumed_from else "starting fresh",
    )
    for row in run.trainer.state.history:  # the curve so far (DVC cleared the old files)
        log_row(run.live, row)
    if run.start_step > cfg.steps:
        log.warning(
            "the checkpoint is at step %d, past train.steps = %d; exporting it as is",
            run.start_step,
            cfg.steps,
        )


def fit(run: Run) -> None:
    """Train to `train.steps` (a no-op when the checkpoint is there), then the final preview."""
    run.trainer.fit()
    run.trainer.preview(name="final")


def export(run: Run, common: CommonConfig, cfg: TrainConfig) -> TrainResult:
    """Main process: the model folder, lineage.json and the dvclive summary; then every
    process leaves the process group."""
    trainer, accelerator = run.trainer, run.accelerator
    meta = None
    if accelerator.is_main_process:
        meta = export_model(
            run.out_dir / "model",
            trainer.p,
            GeneratorMeta(
                classes=common.classes,
                image_size=common.image_size,
                null_class=len(common.classes),
                prediction_type=cfg.prediction_type,
                train_steps=trainer.state.step,
                manifest_sha256=sha256_file(run.manifest_path),
                seed=common.seed,
                label_dropout=cfg.label_dropout,
            ),
        )
        record = lineage(run, common, cfg, meta=meta)
        atomic_write_json(run.out_dir / "lineage.json", record)
        assert run.live is not None
        run.live.make_summary()
    accelerator.wait_for_everyone()
    history = trainer.state.history
    accelerator.end_training()
    return TrainResult(
        is_main_process=accelerator.is_main_process,
        step=trainer.state.step,
        steps_this_run=trainer.state.step - run.start_step,
        resumed_from=run.resumed_from,
        final_loss=history[-1]["loss"] if history else None,
        meta=meta,
    )


def train_generator(
    manifest_path: str | Path,
    out_dir: str | Path,
    common: CommonConfig,
    cfg: TrainConfig,
) -> TrainResult:
    """Train (or resume, or just re-export) the class-conditional DDPM.

    Reads the manifest's train split (images beside it), writes under `out_dir`:
    `model/`, `checkpoints/`, `previews/`, `lineage.json`, and the dvclive metrics
    (`metrics.json`, `plots/metrics/`). Safe to re-run after a crash: it resumes.
    """
    run = prepare(manifest_path, out_dir, common, cfg)
    fit(run)
    return export(run, common, cfg)


def open_live(out_dir: Path) -> Live:
    """dvclive writing `metrics.json` and `plots/metrics/` under `out_dir`; dvc.yaml stays ours."""
    from dvclive import Live

    return Live(dir=str(out_dir), dvcyaml=False, save_dvc_exp=False, report=None)


def lineage(
    run: Run, common: CommonConfig, cfg: TrainConfig, *, meta: GeneratorMeta
) -> dict[str, Any]:
    """What was trained on what, how, by which code: counts only, never identifiers."""
    trainer, acc, manifest_path = run.trainer, run.accelerator, run.manifest_path
    wall_seconds = time.perf_counter() - run.wall_start
    return {
        "stage": "train",
        "manifest": {"path": str(manifest_path), "sha256": sha256_file(manifest_path)},
        "split": TRAIN_SPLIT,
        "classes": list(common.classes),
        "counts": class_counts(run.rows, common.classes),
        "class_weighting": cfg.class_weighting,
        "class_weights": dict(zip(common.classes, map(float, run.weights), strict=True)),
        "seed": common.seed,
        "params": {
            "common": common.model_dump(mode="json"),
            "train": cfg.model_dump(mode="json"),
        },
        "steps": trainer.state.step,
        "steps_this_run": trainer.state.step - run.start_step,
        "resumed_from": str(run.resumed_from) if run.resumed_from else None,
        "train_seconds": round(trainer.state.train_seconds, 3),
        "wall_seconds_this_run": round(wall_seconds, 3),
        "final_loss": trainer.state.history[-1]["loss"] if trainer.state.history else None,
        "model": {**run.model_facts, "model_hash": meta.model_hash},
        "launch": {
            "processes": acc.num_processes,
            "device": str(acc.device),
            "distributed_type": str(acc.distributed_type),
            "mixed_precision": acc.mixed_precision,
        },
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "environment": environment(),
    }
