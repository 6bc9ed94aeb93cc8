"""The `train` stage (stages/train.py and `factory train`): the class-conditional DDPM."""

from __future__ import annotations

import logging

from factory.stagekit import Stage, StageRun
from factory.train.config import TrainConfig


def _train(run: StageRun) -> None:
    from factory.train.run import train_generator  # torch: only once params are valid

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per checkpoint file
    cfg = run.params.train
    assert cfg is not None
    out = run.paths["out"]
    result = train_generator(run.paths["manifest"], out, run.params.common, cfg)
    if result.is_main_process:
        print(
            f"train: step {result.step} ({result.steps_this_run} this run), "
            f"final loss {result.final_loss}, model in {out / 'model'}"
        )


STAGE = Stage(
    name="train",
    description="Train the class-conditional diffusion generator (resumes from checkpoints).",
    paths={
        "manifest": "ingest manifest.parquet (images beside it)",
        "out": "output folder (model/, checkpoints/, previews/, lineage.json)",
    },
    sections={"train": TrainConfig},
    body=_train,
    launcher="train",
)
