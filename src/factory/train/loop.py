"""The training loop: step -> forward_backward -> optimize -> EMA -> log / checkpoint / preview.

One `Trainer` serves one CPU, several CPU processes (gloo) and many GPUs: the device, the
process group, autocast and gradient accumulation come from an accelerate `Accelerator`.
Only the main process writes files and logs; every process joins the collective steps
(checkpoint saving, loss averaging, the stop flag).
"""

from __future__ import annotations

import logging
import math
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from accelerate.utils import broadcast_object_list
from tqdm.auto import tqdm

from factory.errors import FactoryError
from factory.train import checkpoint as ckpt
from factory.train.config import TrainConfig
from factory.train.data import BatchPlan, PlannedBatches, TrainImages
from factory.train.objective import LossRecipe, diffusion_loss, step_generator
from factory.train.preview import preview_images, write_preview

if TYPE_CHECKING:
    from accelerate import Accelerator
    from diffusers import DDPMScheduler, UNet2DModel
    from diffusers.training_utils import EMAModel
    from torch.optim.lr_scheduler import LRScheduler

log = logging.getLogger(__name__)


class TrainingInterrupted(FactoryError):
    """Ctrl-C / SIGTERM: a checkpoint was saved; re-running resumes from it."""

    exit_code = 130


@dataclass
class TrainState:
    """Progress saved with every checkpoint (accelerate `register_for_checkpointing`)."""

    step: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "train_seconds": self.train_seconds, "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.train_seconds = float(state["train_seconds"])
        self.history = list(state["history"])


@dataclass
class Parts:
    """What a Trainer trains with, already `accelerator.prepare`d where it applies."""

    accelerator: Accelerator
    unet: torch.nn.Module  # prepared (DDP / compiled / autocast) module used for training
    raw_unet: UNet2DModel  # the plain UNet sharing its parameters
    ema: EMAModel  # over raw_unet's parameters
    optimizer: torch.optim.Optimizer  # accelerate's AcceleratedOptimizer
    lr_scheduler: LRScheduler  # stepped by hand once per optimizer step
    noise_scheduler: DDPMScheduler


class Trainer:
    """Runs optimizer steps until `cfg.steps`, checkpointing and previewing on the way."""

    def __init__(
        self,
        parts: Parts,
        data: TrainImages,
        plan: BatchPlan,
        *,
        cfg: TrainConfig,
        classes: tuple[str, ...],
        seed: int,
        out_dir: Path,
        loss_weights: np.ndarray,
        signature: dict[str, Any],
        live: Any = None,
    ) -> None:
        self.p = parts
        self.acc = parts.accelerator
        self.data, self.plan, self.cfg = data, plan, cfg
        self.classes, self.seed = classes, seed
        self.null_class = len(classes)
        self.out_dir = out_dir
        self.ckpt_dir = out_dir / "checkpoints"
        self.signature = signature
        self.live = live
        self.state = TrainState()
        self.device = self.acc.device
        self.on_cuda = self.device.type == "cuda"
        self.loss_weights = torch.as_tensor(loss_weights, dtype=torch.float32, device=self.device)
        self.weigh_loss = bool((loss_weights != 1).any())
        self.acc.register_for_checkpointing(parts.lr_scheduler, parts.ema, self.state)
        self._batches: Iterator | None = None
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0
        self._tick = (time.perf_counter(), 0)
        self._stop_requested = False
        self._run_start: float | None = None
        self._seconds_before = 0.0
        self.bar: Any = None

    # -- data -----------------------------------------------------------------------------
    def batches(self) -> Iterator:
        """Batches for this process from the current step on (pinned memory on CUDA)."""
        micro = self.state.step * self.cfg.gradient_accumulation
        loader = torch.utils.data.DataLoader(
            self.data,
            batch_sampler=PlannedBatches(self.plan, self.acc.process_index, micro),
            num_workers=self.cfg.workers,
            pin_memory=self.on_cuda,
            persistent_workers=self.cfg.workers > 0,
        )
        return iter(loader)

    # -- one optimizer step ---------------------------------------------------------------
    def step_once(self) -> None:
        """One optimizer step over `gradient_accumulation` micro-batches, then EMA and logs."""
        if self._batches is None:
            self._batches = self.batches()
        for a in range(self.cfg.gradient_accumulation):
            x, labels = next(self._batches)
            micro = self.state.step * self.cfg.gradient_accumulation + a
            with self.acc.accumulate(self.p.unet):
                loss = self.forward_backward(x, labels, micro)
                if self.acc.sync_gradients:
                    self.optimize()
            self._loss_sum += loss
            self._loss_count += 1
        self.p.ema.step(self.p.raw_unet.parameters())
        self.state.step += 1
        self.after_step()

    def forward_backward(self, x: torch.Tensor, labels: torch.Tensor, micro: int) -> torch.Tensor:
        x = x.to(self.device, non_blocking=self.on_cuda)
        labels = labels.to(self.device, non_blocking=self.on_cuda)
        g = step_generator(self.seed, self.acc.process_index, micro, self.device)
        loss = diffusion_loss(
            self.p.unet,
            self.p.noise_scheduler,
            x,
            labels,
            null_class=self.null_class,
            label_dropout=self.cfg.label_dropout,
            generator=g,
            sample_weights=self.loss_weights[labels] if self.weigh_loss else None,
            channels_last=self.cfg.channels_last,
            recipe=LossRecipe.from_config(self.cfg),
        )
        self.acc.backward(loss)
        return loss.detach()

    def optimize(self) -> None:
        if self.cfg.max_grad_norm > 0:
            self.acc.clip_grad_norm_(self.p.unet.parameters(), self.cfg.max_grad_norm)
        self.p.optimizer.step()
        self.p.lr_scheduler.step()
        self.p.optimizer.zero_grad(set_to_none=True)

    def after_step(self) -> None:
        step = self.state.step
        if self.bar is not None:
            self.bar.update(1)
        if step % self.cfg.log_every == 0 or step == self.cfg.steps:
            self.log_step()
        if self.stop_requested():
            self.save_checkpoint()
            raise TrainingInterrupted(
                f"training interrupted at step {step}; checkpoint saved in {self.ckpt_dir}; "
                "re-run the same command to resume"
            )
        if step % self.cfg.checkpoint_every == 0 and step < self.cfg.steps:
            self.save_checkpoint()
        if self.cfg.preview_every and step % self.cfg.preview_every == 0 and step < self.cfg.steps:
            self.preview()

    def log_step(self) -> None:
        """Mean loss since the last log (one device sync here, not per step), lr, images/s."""
        loss = self.acc.reduce(self._loss_sum / max(self._loss_count, 1), reduction="mean")
        now = time.perf_counter()
        t0, s0 = self._tick
        images = (
            (self.state.step - s0)
            * self.cfg.batch_size
            * self.cfg.gradient_accumulation
            * self.acc.num_processes
        )
        row = {
            "step": self.state.step,
            "loss": float(loss),
            "lr": float(self.p.lr_scheduler.get_last_lr()[0]),
            "images_per_s": images / max(now - t0, 1e-9),
        }
        self._loss_sum.zero_()
        self._loss_count = 0
        self._tick = (now, self.state.step)
        self.state.history.append(row)
        if not math.isfinite(row["loss"]):
            raise FactoryError(
                f"training diverged at step {row['step']} (loss {row['loss']}); lower "
                "train.learning_rate or use train.mixed_precision: no"
            )
        if self.acc.is_main_process:
            if self.bar is not None:
                self.bar.set_postfix(loss=f"{row['loss']:.4f}", img_s=f"{row['images_per_s']:.1f}")
            if self.live is not None:
                log_row(self.live, row)

    # -- stopping -------------------------------------------------------------------------
    @contextmanager
    def stop_signals(self) -> Iterator[None]:
        """Turn SIGINT/SIGTERM into a request to checkpoint and stop after this step."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request(signum: int, frame: Any) -> None:
            self._stop_requested = True
            log.warning("signal %s: saving a checkpoint after this step", signum)

        old = {s: signal.signal(s, request) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def stop_requested(self) -> bool:
        """The stop flag, agreed by all processes (any one asking stops them all)."""
        if self.acc.num_processes == 1:
            return self._stop_requested
        flag = torch.tensor([float(self._stop_requested)], device=self.device)
        return bool(self.acc.reduce(flag, reduction="sum").item() > 0)

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """All processes save into a temporary folder; the main one seals and renames it."""
        step = self.state.step
        if self._run_start is not None:
            self.state.train_seconds = self._seconds_before + time.perf_counter() - self._run_start
        tmp = ckpt.temporary_dir(self.ckpt_dir, step)
        final = self.ckpt_dir / ckpt.checkpoint_name(step)
        if self.acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.acc.wait_for_everyone()
        self.acc.save_state(str(tmp))
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            ckpt.write_marker(tmp, step, self.signature)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            ckpt.prune(self.ckpt_dir, self.cfg.keep_checkpoints)
            if self.live is not None:
                self.live.make_summary()
        self.acc.wait_for_everyone()

    def restore(self) -> Path | None:
        """Load the newest intact checkpoint (falling back past damaged ones); None = fresh."""
        chosen: list[Any] = [None]
        if self.acc.is_main_process:
            ckpt.clear_temporaries(self.ckpt_dir)
            if not self.cfg.resume and ckpt.list_checkpoints(self.ckpt_dir):
                log.warning("train.resume is false: deleting the checkpoints in %s", self.ckpt_dir)
                shutil.rmtree(self.ckpt_dir)
            candidates = [str(f) for _, f in ckpt.intact_checkpoints(self.ckpt_dir)]
            if candidates:
                ckpt.check_signature(Path(candidates[0]), self.signature)
            chosen = [candidates]
        broadcast_object_list(chosen)  # every process loads the same checkpoint
        for folder in chosen[0] or []:
            try:
                self.acc.load_state(folder)
            except Exception as exc:  # damaged in a way the hashes could not see
                log.warning(
                    "checkpoint %s failed to load (%s); falling back to the previous one",
                    folder,
                    exc,
                )
                continue
            log.info("resumed from %s (step %d)", folder, self.state.step)
            self._drop_newer_than(self.state.step)
            return Path(folder)
        self._drop_newer_than(0)
        return None

    def _drop_newer_than(self, step: int) -> None:
        """Delete the unusable checkpoints past the one resumed (already warned about), so
        that pruning by step never keeps them in place of fresh ones."""
        if self.acc.is_main_process:
            for s, folder in ckpt.list_checkpoints(self.ckpt_dir):
                if s > step:
                    log.warning("removing unusable checkpoint %s", folder)
                    shutil.rmtree(folder, ignore_errors=True)
        self.acc.wait_for_everyone()

    # -- previews -------------------------------------------------------------------------
    def preview(self, name: str | None = None) -> None:
        """A grid of EMA samples per class (main process; the others wait)."""
        if self.acc.is_main_process:
            params = list(self.p.raw_unet.parameters())
            self.p.ema.store(params)
            self.p.ema.copy_to(params)
            try:
                images = preview_images(
                    self.p.raw_unet,
                    self.p.noise_scheduler,
                    len(self.classes),
                    per_class=self.cfg.preview_per_class,
                    steps=self.cfg.preview_steps,
                    guidance=self.cfg.preview_guidance,
                    seed=self.seed,
                    scheduler_name=self.cfg.preview_scheduler,
                )
            finally:
                self.p.ema.restore(params)
            stem = name or f"step-{self.state.step:08d}"
            title = (
                f"EMA samples at step {self.state.step} "
                f"({self.cfg.preview_scheduler}, {self.cfg.preview_steps} steps)"
            )
            write_preview(self.out_dir / "previews" / f"{stem}.png", images, self.classes, title)
        self.acc.wait_for_everyone()

    # -- the whole run --------------------------------------------------------------------
    def fit(self) -> None:
        """Train from the restored step to `cfg.steps`; a no-op when already there."""
        if self.state.step >= self.cfg.steps:
            return
        self.p.unet.train()
        self._tick = (time.perf_counter(), self.state.step)
        self.bar = tqdm(
            total=self.cfg.steps,
            initial=self.state.step,
            desc="train",
            unit="step",
            disable=not self.acc.is_main_process,
            dynamic_ncols=True,
        )
        self._seconds_before = self.state.train_seconds
        self._run_start = time.perf_counter()
        try:
            with self.stop_signals():
                while self.state.step < self.cfg.steps:
                    self.step_once()
                self.save_checkpoint()
        finally:
            self.bar.close()
            self.bar = None
            self._run_start = None


def log_row(live: Any, row: dict[str, float]) -> None:
    """One history row into dvclive (plots/metrics/<name>.tsv)."""
    live.step = int(row["step"])
    for name in ("loss", "lr", "images_per_s"):
        live.log_metric(f"train/{name}", row[name])
