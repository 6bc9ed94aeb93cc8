"""DVC stage `train`: the class-conditional DDPM on the manifest's train split.

torchrun --standalone --nproc_per_node N stages/train.py --manifest M --out outputs/train
(N = train.processes: GPUs, or CPU processes with gloo). Re-running resumes.
"""

import logging

from factory.io import save_resolved_config
from factory.stagekit import run_stage
from factory.train.run import train_generator


def body(params, args) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per checkpoint file
    result = train_generator(args.manifest, args.out, params.common, params.train)
    if result.is_main_process:
        save_resolved_config(args.out, **params.resolved("common", "train"))
        print(
            f"train: step {result.step} ({result.steps_this_run} this run), "
            f"final loss {result.final_loss}, model in {args.out}/model"
        )


if __name__ == "__main__":
    run_stage(
        "Train the class-conditional diffusion generator (resumes from checkpoints).",
        {
            "manifest": "ingest manifest.parquet (images beside it)",
            "out": "output folder (model/, checkpoints/, previews/, lineage.json)",
        },
        body,
    )
