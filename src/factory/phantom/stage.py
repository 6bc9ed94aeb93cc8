"""The `phantom` stage (stages/phantom.py and `factory phantom`): the embedded set."""

from __future__ import annotations

from factory.phantom.config import PhantomConfig
from factory.phantom.writer import write_layout
from factory.stagekit import Stage, StageRun


def _write(run: StageRun) -> None:
    cfg = run.params.phantom
    assert cfg is not None
    out = write_layout(
        cfg.layout,
        run.paths["out"],
        patients=cfg.patients,
        seed=run.params.common.seed,
        height=cfg.height,
        workers=cfg.workers,
        progress=run.progress,
        **run.flags,
    )
    print(f"phantom: wrote {out} ({cfg.layout} layout; ground truth in phantom_truth.json)")


STAGE = Stage(
    name="phantom",
    description="Write the embedded phantom mammography set.",
    paths={"out": "folder to write the phantom set into (datasets/phantom)"},
    sections={"phantom": PhantomConfig},
    body=_write,
)
