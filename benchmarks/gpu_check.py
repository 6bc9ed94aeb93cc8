"""GPU check: the paper-scale generator and classifier on one GPU, in at most ~8 minutes.

Measures, on whatever device torch sees (CUDA when present, else the CPU):

1. The paper-scale UNet (TrainConfig defaults: widths 128-512, 2 ResNet blocks per level,
   attention at 16 px; 114 M parameters) at 256 px, bf16 autocast and channels_last,
   with torch.compile off and on: training images/s of our loop (the train stage's
   `build_trainer` wiring and `Trainer.step_once`: data loader, accelerate, EMA,
   clipping, logging) against a bare diffusers loop (noise, forward, MSE, backward,
   AdamW), and the peak GPU memory of each.
2. 64 images from that UNet with the sample stage's default sampler (`SampleConfig()`
   defaults: dpmsolver++, its default steps, batch 16) through `factory.sample.sampler`,
   and their time.
3. EfficientNetV2-L (timm `tf_efficientnetv2_l`, one channel, one logit, random init)
   training images/s at 256 px with and without channels_last, bf16 autocast.
   timm's published figure for this model is about 98 img/s training on an RTX 3090
   with channels_last (AMP); it is printed beside ours as a plausibility check only.

`--tiny` swaps in a tiny UNet at 32 px and timm's `test_efficientnet`, so that the whole
script runs on a CPU in seconds (tests/test_gpu_check.py does that). A part that would
start after `--budget-s` is skipped and marked so in the output.

    python benchmarks/gpu_check.py --out /tmp/gpu_check            # on the GPU machine
    python benchmarks/gpu_check.py --out /tmp/gpu_check --tiny --compile off   # CPU

Writes `gpu_check.json` and `gpu_check.md` in `--out`.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TIMM_3090_CHANNELS_LAST = 98.0  # timm's figure for tf_efficientnetv2_l training, img/s

TINY_UNET = {
    "block_out_channels": (8, 16),
    "layers_per_block": 1,
    "attention_resolutions": (),
    "mid_attention": False,
    "attention_head_dim": 4,
    "norm_num_groups": 4,
}


# --- devices and measurements --------------------------------------------------------------


def dev() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak() -> None:
    import gc

    gc.collect()  # the previous part's models, so that its memory is not counted here
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_mb() -> float:
    """Peak GPU memory allocated since `reset_peak` (CUDA), else the process's peak RSS."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_steps(step: Callable[[], None], warmup: int, steps: int) -> dict[str, float]:
    """Run `warmup` untimed steps (compilation happens here), then time `steps`."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    t1 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    t2 = time.perf_counter()
    return {"warmup_s": t1 - t0, "seconds": t2 - t1, "steps": steps}


def reset_accelerate() -> None:
    """accelerate keeps process-wide state; a new Accelerator with other settings needs it
    cleared (as the tests do)."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


# --- 1. UNet training: ours vs bare --------------------------------------------------------


def unet_config(tiny: bool, batch: int, compile_: bool) -> Any:
    from factory.train.config import TrainConfig

    base = TINY_UNET if tiny else {}
    return TrainConfig(
        **base,
        batch_size=batch,
        mixed_precision="bf16",
        channels_last=True,
        compile=compile_,
        steps=10**9,
        checkpoint_every=10**9,
        preview_every=0,
        warmup_steps=0,
        log_every=10,
    )


class RandomImages(torch.utils.data.Dataset):
    """In-memory random images in [-1, 1] with alternating labels (speed only)."""

    def __init__(self, n: int, size: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 1, size, size, generator=g) * 2 - 1
        self.labels = np.arange(n) % 2

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.labels[i])


def our_step(cfg: Any, size: int, out_dir: Path) -> tuple[Callable[[], None], Any]:
    """The train stage's Trainer on random in-memory data; returns (step, raw UNet)."""
    from factory.accel import make_accelerator
    from factory.config import CommonConfig
    from factory.train.data import balanced_class_weights
    from factory.train.run import build_trainer

    reset_accelerate()
    common = CommonConfig(image_size=size)
    acc = make_accelerator(cfg.mixed_precision, cfg.gradient_accumulation)
    data = RandomImages(max(4 * cfg.batch_size, 64), size)
    weights = balanced_class_weights(data.labels, 2)
    trainer, _ = build_trainer(acc, data, data.labels, weights, common, cfg, out_dir, None)
    trainer.p.unet.train()
    return trainer.step_once, trainer.p.raw_unet


def bare_step(cfg: Any, size: int) -> Callable[[], None]:
    """A bare diffusers loop: UNet2DModel + DDPMScheduler, bf16 autocast, AdamW."""
    from factory.train.model import build_noise_scheduler, build_unet

    d = dev()
    torch.manual_seed(0)
    unet = build_unet(cfg, size, 2).to(d, memory_format=torch.channels_last)
    model = torch.compile(unet) if cfg.compile else unet
    sched = build_noise_scheduler(cfg)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.learning_rate)
    x0 = (torch.rand(cfg.batch_size, 1, size, size, device=d) * 2 - 1).contiguous(
        memory_format=torch.channels_last
    )
    labels = torch.arange(cfg.batch_size, device=d) % 2

    def step() -> None:
        noise = torch.randn_like(x0)
        t = torch.randint(0, sched.config.num_train_timesteps, (cfg.batch_size,), device=d)
        with torch.autocast(d.type, dtype=torch.bfloat16):
            pred = model(sched.add_noise(x0, noise, t), t, class_labels=labels).sample
        F.mse_loss(pred.float(), noise).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def unet_rows(args: Any, out_dir: Path, deadline: float) -> tuple[list[dict], Any]:
    rows, unet = [], None
    for compile_ in args.compile:
        cfg = unet_config(args.tiny, args.batch, compile_)
        for loop in ("ours", "bare"):
            name = f"UNet {loop}, compile {'on' if compile_ else 'off'}"
            if time.perf_counter() > deadline:
                rows.append({"part": name, "skipped": "time budget"})
                continue
            reset_peak()
            if loop == "ours":
                step, unet = our_step(cfg, args.size, out_dir / f"ours-{compile_}")
            else:
                step = bare_step(cfg, args.size)
            t = timed_steps(step, args.warmup, args.steps)
            rows.append(
                {
                    "part": name,
                    "images_per_s": args.batch * t["steps"] / t["seconds"],
                    "peak_mb": peak_mb(),
                    **t,
                }
            )
            del step
    return rows, unet


# --- 2. sampling ---------------------------------------------------------------------------


def sampling_row(unet: Any, n: int, deadline: float) -> dict:
    """`n` images with the sample stage's default sampler settings, in its batches."""
    from factory.sample.config import SampleConfig
    from factory.sample.sampler import build_scheduler, image_generators, sample
    from factory.train.config import TrainConfig
    from factory.train.model import build_noise_scheduler

    cfg = SampleConfig()
    name = f"sample {n} images, {cfg.scheduler}-{cfg.steps}, batch {cfg.batch_size}"
    if unet is None or time.perf_counter() > deadline:
        return {"part": name, "skipped": "time budget"}
    unet = unet.to(memory_format=torch.contiguous_format).eval()
    train_sched = build_noise_scheduler(TrainConfig())
    reset_peak()
    t0 = time.perf_counter()
    for start in range(0, n, cfg.batch_size):
        seeds = list(range(start, min(n, start + cfg.batch_size)))
        labels = torch.tensor([s % 2 for s in seeds], device=dev())
        scheduler = build_scheduler(
            cfg.scheduler,
            train_sched.config,
            prediction_type=train_sched.config.prediction_type,
            timestep_spacing=cfg.timestep_spacing,
        )
        sample(
            unet,
            scheduler,
            labels,
            image_generators(seeds),
            steps=cfg.steps,
            guidance=cfg.guidance_scale,
            null_class=2,
        )
    sync()
    seconds = time.perf_counter() - t0
    return {
        "part": name,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "peak_mb": peak_mb(),
    }


# --- 3. classifier -------------------------------------------------------------------------


def classifier_step(model: Any, channels_last: bool, batch: int, size: int) -> Callable:
    """One Adam step of BCE on random images, bf16 autocast, in the given memory format."""
    d = dev()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(d, memory_format=fmt).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, amsgrad=True)
    x = torch.rand(batch, 1, size, size, device=d).contiguous(memory_format=fmt)
    y = (torch.arange(batch, device=d) % 2).float()

    def step() -> None:
        with torch.autocast(d.type, dtype=torch.bfloat16):
            logits = model(x).squeeze(1).float()
        F.binary_cross_entropy_with_logits(logits, y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def classifier_rows(args: Any, deadline: float) -> list[dict]:
    from factory.benchmark.model import create_classifier

    name = "test_efficientnet" if args.tiny else "tf_efficientnetv2_l"
    rows = []
    for channels_last in (False, True):
        part = f"{name} train, channels_last {'on' if channels_last else 'off'}"
        if time.perf_counter() > deadline:
            rows.append({"part": part, "skipped": "time budget"})
            continue
        reset_peak()
        torch.manual_seed(0)
        if args.tiny:  # timm's tiny test model through the same factory wrapper
            model = create_classifier("resnet10t", pretrained=False)
            import timm

            model.backbone = timm.create_model(name, num_classes=1, in_chans=1)
        else:
            model = create_classifier(name, pretrained=False)
        step = classifier_step(model, channels_last, args.classifier_batch, args.size)
        t = timed_steps(step, args.warmup, args.steps)
        rows.append(
            {
                "part": part,
                "images_per_s": args.classifier_batch * t["steps"] / t["seconds"],
                "peak_mb": peak_mb(),
                **t,
            }
        )
    return rows


# --- report --------------------------------------------------------------------------------


def environment() -> dict:
    info = {
        "device": str(dev()),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def markdown(doc: dict) -> str:
    env = doc["environment"]
    lines = [
        f"Device: {env.get('gpu', env['device'])} (torch {env['torch']}); "
        f"{'tiny config' if doc['tiny'] else 'paper scale'} at {doc['size']} px, UNet batch "
        f"{doc['batch']}, classifier batch {doc['classifier_batch']}, bf16 autocast; "
        f"{doc['steps']} timed steps after {doc['warmup']} warm-up steps; wall "
        f"{doc['wall_s']:.0f} s.",
        "",
        "| part | images/s | peak memory MB | timed s | warm-up s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['part']} | skipped ({r['skipped']}) | | | |")
            continue
        lines.append(
            f"| {r['part']} | {r['images_per_s']:.1f} | {r['peak_mb']:.0f} | "
            f"{r['seconds']:.1f} | {r.get('warmup_s', 0.0):.1f} |"
        )
    lines += [
        "",
        f"timm's published figure for tf_efficientnetv2_l training on an RTX 3090 with "
        f"channels_last: ~{TIMM_3090_CHANNELS_LAST:.0f} img/s (another GPU and input size "
        "may differ; a plausibility check only).",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> Any:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tiny", action="store_true", help="tiny models at 32 px (CPU tests)")
    ap.add_argument("--compile", default="off,on", help="torch.compile settings to time")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per part")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation)")
    ap.add_argument("--batch", type=int, default=16, help="UNet images per step")
    ap.add_argument("--classifier-batch", type=int, default=32)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--budget-s", type=float, default=420.0, help="start no part after this")
    args = ap.parse_args(argv)
    args.compile = [{"off": False, "on": True}[c] for c in args.compile.split(",")]
    args.size = 32 if args.tiny else 256
    return args


def main(argv: list[str] | None = None) -> int:
    from factory.io import atomic_write_bytes, atomic_write_json

    args = parse_args(argv)
    start = time.perf_counter()
    deadline = start + args.budget_s
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        rows, unet = unet_rows(args, Path(tmp), deadline)
        rows.append(sampling_row(unet, args.samples, deadline))
        del unet
        rows += classifier_rows(args, deadline)
    doc = {
        "tiny": args.tiny,
        "size": args.size,
        "batch": args.batch,
        "classifier_batch": args.classifier_batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "environment": environment(),
        "rows": rows,
        "wall_s": time.perf_counter() - start,
        "timm_3090_channels_last_img_s": TIMM_3090_CHANNELS_LAST,
    }
    atomic_write_json(args.out / "gpu_check.json", doc)
    atomic_write_bytes(args.out / "gpu_check.md", markdown(doc).encode())
    print(markdown(doc))
    print(json.dumps({"wall_s": doc["wall_s"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
