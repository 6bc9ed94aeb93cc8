"""`train_generator`: manifest in, model folder + checkpoints + previews + lineage out.

The one entry point the stage script and `factory train` call. Builds the Accelerator,
the data, the UNet, EMA, optimizer and schedules, resumes from a checkpoint when there is
one, trains, then (main process only) exports the model and records the lineage.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from factory.config import CommonConfig
from factory.errors import FactoryError
from factory.generator import GeneratorMeta, save_generator
from factory.io import atomic_dir, atomic_write_json, sha256_file
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


def make_accelerator(cfg: TrainConfig) -> Any:
    """An Accelerator on CUDA when present, else on CPU (gloo for several processes)."""
    from accelerate import Accelerator

    on_gpu = torch.cuda.is_available()
    if cfg.mixed_precision == "fp16" and not on_gpu:
        raise FactoryError(
            "params.yaml: train.mixed_precision = 'fp16' needs a CUDA GPU; "
            "use 'bf16' or 'no' on CPU"
        )
    # cpu=True is what makes accelerate build a gloo process group under torchrun on CPU.
    return Accelerator(
        cpu=not on_gpu,
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.gradient_accumulation,
    )


def build_parts(
    accelerator: Any, cfg: TrainConfig, common: CommonConfig
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
    with atomic_dir(out_dir) as tmp:
        return save_generator(
            tmp,
            raw.to(memory_format=torch.contiguous_format),
            ema_unet.to(memory_format=torch.contiguous_format),
            parts.noise_scheduler,
            meta,
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
    wall_start = time.perf_counter()
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    accelerator = make_accelerator(cfg)
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
    sample_w, loss_w = effective_weights(cfg.class_weighting, weights)
    plan = BatchPlan(
        n=len(data),
        batch_size=cfg.batch_size,
        world_size=accelerator.num_processes,
        seed=common.seed,
        sample_weights=None if cfg.class_weighting != "sampler" else sample_w[data.labels],
    )
    parts, model_facts = build_parts(accelerator, cfg, common)
    signature = cfg.model_signature(common.classes, common.image_size)
    live = open_live(out_dir) if main else None
    trainer = Trainer(
        parts,
        data,
        plan,
        cfg=cfg,
        classes=common.classes,
        seed=common.seed,
        out_dir=out_dir,
        loss_weights=loss_w,
        signature=signature,
        live=live,
    )
    resumed_from = trainer.restore()
    start_step = trainer.state.step
    if main:
        weights_text = ", ".join(
            f"{c}={w:.3f}" for c, w in zip(common.classes, weights, strict=True)
        )
        log.info(
            "train: %d images (%s), class weights %s applied by %s; %s",
            len(data),
            "streamed" if data.streamed else "in memory",
            weights_text,
            cfg.class_weighting,
            f"resuming at step {start_step}" if resumed_from else "starting fresh",
        )
        for row in trainer.state.history:  # the curve so far (DVC cleared the old files)
            log_row(live, row)
    if start_step > cfg.steps and main:
        log.warning(
            "the checkpoint is at step %d, past train.steps = %d; exporting it as is",
            start_step,
            cfg.steps,
        )
    trainer.fit()
    trainer.preview(name="final")
    meta = None
    if main:
        meta = export_model(
            out_dir / "model",
            parts,
            GeneratorMeta(
                classes=common.classes,
                image_size=common.image_size,
                null_class=len(common.classes),
                prediction_type=cfg.prediction_type,
                train_steps=trainer.state.step,
                manifest_sha256=sha256_file(manifest_path),
                seed=common.seed,
                label_dropout=cfg.label_dropout,
            ),
        )
        record = lineage(
            manifest_path,
            rows,
            common,
            cfg,
            weights=weights,
            trainer=trainer,
            start_step=start_step,
            resumed_from=resumed_from,
            wall_seconds=time.perf_counter() - wall_start,
            model_facts=model_facts,
            meta=meta,
        )
        atomic_write_json(out_dir / "lineage.json", record)
        live.make_summary()
    accelerator.wait_for_everyone()
    history = trainer.state.history
    accelerator.end_training()
    return TrainResult(
        is_main_process=main,
        step=trainer.state.step,
        steps_this_run=trainer.state.step - start_step,
        resumed_from=resumed_from,
        final_loss=history[-1]["loss"] if history else None,
        meta=meta,
    )


def open_live(out_dir: Path) -> Any:
    """dvclive writing `metrics.json` and `plots/metrics/` under `out_dir`; dvc.yaml stays ours."""
    from dvclive import Live

    return Live(dir=str(out_dir), dvcyaml=False, save_dvc_exp=False, report=None)


def lineage(
    manifest_path: Path,
    rows: Any,
    common: CommonConfig,
    cfg: TrainConfig,
    *,
    weights: np.ndarray,
    trainer: Trainer,
    start_step: int,
    resumed_from: Path | None,
    wall_seconds: float,
    model_facts: dict[str, Any],
    meta: GeneratorMeta,
) -> dict[str, Any]:
    """What was trained on what, how, by which code: counts only, never identifiers."""
    acc = trainer.acc
    return {
        "stage": "train",
        "manifest": {"path": str(manifest_path), "sha256": sha256_file(manifest_path)},
        "split": TRAIN_SPLIT,
        "classes": list(common.classes),
        "counts": class_counts(rows, common.classes),
        "class_weighting": cfg.class_weighting,
        "class_weights": dict(zip(common.classes, map(float, weights), strict=True)),
        "seed": common.seed,
        "params": {
            "common": common.model_dump(mode="json"),
            "train": cfg.model_dump(mode="json"),
        },
        "steps": trainer.state.step,
        "steps_this_run": trainer.state.step - start_step,
        "resumed_from": str(resumed_from) if resumed_from else None,
        "train_seconds": round(trainer.state.train_seconds, 3),
        "wall_seconds_this_run": round(wall_seconds, 3),
        "final_loss": trainer.state.history[-1]["loss"] if trainer.state.history else None,
        "model": {**model_facts, "model_hash": meta.model_hash},
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
