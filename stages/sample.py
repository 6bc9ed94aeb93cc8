"""DVC stage `sample`: draw the synthetic set from the trained generator.

python stages/sample.py --model outputs/train/model --out outputs/sample
torchrun --standalone --nproc_per_node N stages/sample.py ...   (shards the images)
"""

from factory.sample.run import sample_set, save_sample_config
from factory.stagekit import run_stage


def body(params, args) -> None:
    cfg = params.sample
    summary = sample_set(
        args.model,
        args.out,
        cfg,
        classes=params.common.classes,
        seed=params.common.seed,
        image_size=params.common.image_size,
    )
    if summary.is_main:
        save_sample_config(args.out, params.common, cfg, summary, args.model)
        print(f"sample: {summary.per_class} images in {args.out} ({summary.seconds:.0f} s)")


if __name__ == "__main__":
    run_stage(
        "Draw class-conditional synthetic images from a trained diffusion model.",
        {"model": "trained model folder (train stage)", "out": "output folder of the set"},
        body,
    )
