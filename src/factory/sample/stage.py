"""The `sample` stage (stages/sample.py and `factory sample`): draw the synthetic set."""

from __future__ import annotations

from typing import Any

from factory.sample.config import SampleConfig
from factory.stagekit import Stage, StageRun


def _sample(run: StageRun) -> dict[str, Any] | None:
    from factory.sample.run import sample_set  # torch: only once params are valid

    cfg, common = run.params.sample, run.params.common
    assert cfg is not None
    model, out = run.paths["model"], run.paths["out"]
    summary = sample_set(
        model,
        out,
        cfg,
        classes=common.classes,
        seed=common.seed,
        image_size=common.image_size,
        progress=run.progress,
    )
    if not summary.is_main:
        return None
    total = sum(summary.per_class.values())
    print(
        f"sample: {total} images {summary.per_class} in {out} ({summary.drawn} drawn here, "
        f"{summary.resumed} resumed) with {cfg.scheduler}-{cfg.steps}, guidance "
        f"{cfg.guidance_scale}, in {summary.seconds:.1f} s"
    )
    return {
        "model": {"dir": str(model), "model_hash": summary.model_hash},
        "counts": summary.per_class,
    }


STAGE = Stage(
    name="sample",
    description="Draw class-conditional synthetic images from a trained diffusion model.",
    paths={"model": "trained model folder (train stage)", "out": "output folder of the set"},
    sections={"sample": SampleConfig},
    body=_sample,
    launcher="sample",
)
