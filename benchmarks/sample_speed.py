"""How fast the sampler draws: images/s for the default sampler and for ddpm-1000.

    .venv/bin/python benchmarks/sample_speed.py [--model outputs/train/model] [--images 8]

Uses the trained model when `--model` exists, else a randomly initialised UNet of the
architecture params.yaml's `train` section describes (`factory.train.model.build_unet`):
speed depends on the architecture, not the weights. UNet forward calls are counted with a
hook, so "model evaluations saved" is measured, not computed from the step counts. The
machine's load average is printed beside the figures, since a shared machine slows
everything.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import yaml

from factory.generator import GeneratorMeta
from factory.params import validate_section
from factory.sample.plan import plan_images
from factory.sample.run import LoadedModel, draw_batch, load_model


def random_demo_model(params_path: Path) -> LoadedModel:
    """An untrained UNet and noise schedule of the demo profile's architecture."""
    from factory.train.model import build_noise_scheduler, build_unet

    raw = yaml.safe_load(params_path.read_text()) or {}
    common = validate_section("common", raw.get("common"), str(params_path))
    train = validate_section("train", raw.get("train"), str(params_path))
    torch.manual_seed(0)
    unet = build_unet(train, common.image_size, len(common.classes)).eval()
    meta = GeneratorMeta(
        classes=common.classes,
        image_size=common.image_size,
        null_class=len(common.classes),
        prediction_type=train.prediction_type,
    )
    return LoadedModel(unet, build_noise_scheduler(train).config, meta, "random-init")


def time_sampler(model: LoadedModel, cfg, images: int) -> dict:
    """Draw `images` images with `cfg`; wall time and UNet evaluations per image."""
    rows = []
    hook = model.unet.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    plan = plan_images(images, model.meta.classes, 0)[:images]  # speed ignores the class
    try:
        start = time.perf_counter()
        for i in range(0, len(plan), cfg.batch_size):
            batch = plan[i : i + cfg.batch_size]
            x = draw_batch(model, cfg, batch, torch.device("cpu"))
            assert torch.isfinite(x).all()
        seconds = time.perf_counter() - start
    finally:
        hook.remove()
    padded = -(-len(plan) // cfg.batch_size) * cfg.batch_size
    return {
        "sampler": f"{cfg.scheduler}-{cfg.steps}",
        "guidance": cfg.guidance_scale,
        "images": len(plan),
        "seconds": round(seconds, 2),
        "images_per_s": round(len(plan) / seconds, 4),
        "unet_calls": len(rows),
        "unet_evals_per_image": sum(rows) / padded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("outputs/train/model"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--images", type=int, default=8, help="images per sampler")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    raw = yaml.safe_load(args.params.read_text()) or {}
    sample_cfg = validate_section("sample", raw.get("sample"), str(args.params))
    common = validate_section("common", raw.get("common"), str(args.params))
    if (args.model / "factory_model.json").exists():
        model, source = load_model(args.model, common.classes, None, sample_cfg.ema), args.model
    else:
        model, source = random_demo_model(args.params), "random UNet (train section of params)"
    batch = min(sample_cfg.batch_size, args.images)
    default = sample_cfg.model_copy(update={"batch_size": batch})
    ddpm = default.model_copy(update={"scheduler": "ddpm", "steps": 1000})
    results = []
    for cfg in (default, ddpm):
        results.append(time_sampler(model, cfg, args.images))
        print(results[-1], flush=True)
    fast, slow = results
    summary = {
        "model": str(source),
        "parameters_millions": round(sum(p.numel() for p in model.unet.parameters()) / 1e6, 2),
        "image_size": model.unet.config.sample_size,
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "results": results,
        "evaluations_saved_ratio": slow["unet_evals_per_image"] / fast["unet_evals_per_image"],
        "speedup_measured": fast["images_per_s"] / slow["images_per_s"],
    }
    print(
        f"model: {source} ({summary['parameters_millions']} M parameters, "
        f"{summary['image_size']} px), {args.threads} threads, load {summary['load_average']}"
    )
    print("| sampler | guidance | images | s | images/s | UNet evals/image |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['sampler']} | {r['guidance']} | {r['images']} | {r['seconds']} | "
            f"{r['images_per_s']} | {r['unet_evals_per_image']:g} |"
        )
    print(
        f"model evaluations saved: {summary['evaluations_saved_ratio']:.1f}x fewer; "
        f"measured speed-up {summary['speedup_measured']:.1f}x"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
