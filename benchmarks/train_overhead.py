"""Training-loop overhead: our Trainer step against a bare minimal loop, on CPU.

Same UNet (the `train` section of a params file), batch and AdamW; the bare loop has no
data loader, accelerate, EMA, clipping or logging. Ours is the stage's own wiring
(`factory.train.run.build_trainer`, so the batch plan and class weighting are the
stage's) running `Trainer.step_once` with EMA and dvclive logging on (checkpoints and
previews off: they are periodic, not per step).
The two loops alternate in blocks so that a shared machine's load hits both alike.

    python benchmarks/train_overhead.py [--params params.yaml] [--steps 24] [--threads 2]

Prints seconds per step of each, their ratio (target <= 1.10), images/s and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from factory.accel import make_accelerator
from factory.params import validate_section
from factory.train.data import balanced_class_weights
from factory.train.model import build_noise_scheduler, build_unet
from factory.train.run import build_trainer, open_live


class RandomImages(Dataset):
    """In-memory uint16-like images in [-1, 1] with alternating labels."""

    def __init__(self, n: int, size: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.x = torch.from_numpy(rng.uniform(-1, 1, (n, 1, size, size)).astype(np.float32))
        self.labels = np.arange(n) % 2

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.labels[i])


def bare_loop(cfg, image_size: int, batch: int, seed: int):
    """The minimal DDPM step: noise, forward, MSE, backward, AdamW. Returns a step function."""
    torch.manual_seed(seed)
    unet = build_unet(cfg, image_size, 2)
    sched = build_noise_scheduler(cfg)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.learning_rate)
    x0 = torch.rand(batch, 1, image_size, image_size) * 2 - 1
    labels = torch.arange(batch) % 2

    def step() -> None:
        noise = torch.randn_like(x0)
        t = torch.randint(0, sched.config.num_train_timesteps, (batch,))
        pred = unet(sched.add_noise(x0, noise, t), t, class_labels=labels).sample
        F.mse_loss(pred, noise).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def our_loop(cfg, common, out_dir: Path):
    """The stage's Trainer (the same `build_trainer` wiring: batch plan, class weighting,
    prepared parts) on random in-memory data, EMA and dvclive on. Returns its step."""
    acc = make_accelerator(cfg.mixed_precision, cfg.gradient_accumulation)
    data = RandomImages(256, common.image_size, common.seed)
    weights = balanced_class_weights(data.labels, len(common.classes))
    trainer, _ = build_trainer(
        acc, data, data.labels, weights, common, cfg, out_dir, open_live(out_dir)
    )
    trainer.p.unet.train()
    return trainer.step_once


def timed(step, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml", help="params file (train section)")
    ap.add_argument("--steps", type=int, default=24, help="timed steps per loop")
    ap.add_argument("--blocks", type=int, default=4, help="alternating blocks per loop")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import yaml

    raw = yaml.safe_load(Path(args.params).read_text())
    common = validate_section("common", raw.get("common"), args.params)
    cfg = validate_section("train", raw.get("train"), args.params)
    # checkpoints and previews are periodic extras, not part of the per-step loop
    cfg = cfg.model_copy(update={"checkpoint_every": 10**9, "preview_every": 0, "steps": 10**9})
    with tempfile.TemporaryDirectory() as tmp:
        ours = our_loop(cfg, common, Path(tmp))
        bare = bare_loop(cfg, common.image_size, cfg.batch_size, common.seed)
        timed(bare, 2), timed(ours, 2)  # warm-up (allocator, first-call costs)
        per_block = max(1, args.steps // args.blocks)
        t_bare: list[float] = []
        t_ours: list[float] = []
        for _ in range(args.blocks):
            t_bare += timed(bare, per_block)
            t_ours += timed(ours, per_block)
    b, o = statistics.median(t_bare), statistics.median(t_ours)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"UNet {list(cfg.block_out_channels)} at {common.image_size} px, batch {cfg.batch_size}")
    print(f"threads            {torch.get_num_threads()}")
    print(f"bare loop          {b * 1000:8.1f} ms/step (median of {len(t_bare)})")
    print(f"our loop (EMA+log) {o * 1000:8.1f} ms/step (median of {len(t_ours)})")
    print(f"ratio              {o / b:8.3f}  (target <= 1.10)")
    print(f"images/s (ours)    {cfg.batch_size / o:8.1f}")
    print(f"peak RSS           {rss_mb:8.0f} MB (both loops in one process)")


if __name__ == "__main__":
    main()
