"""Run by test_multiprocess.py under `torchrun --nproc_per_node 2`: a tiny training run
that records, per rank, the dataset indices it drew and every output file it wrote."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from factory.config import CommonConfig
from factory.train import loop, preview, run
from factory.train.config import TrainConfig
from factory.train.data import PlannedBatches


def main(manifest: str, out: str, record_dir: str) -> None:
    rank = int(os.environ["RANK"])
    drawn: list[list[int]] = []
    writes: list[str] = []
    real_iter = PlannedBatches.__iter__

    def recording_iter(self):
        for batch in real_iter(self):
            drawn.append(batch)
            yield batch

    def recorded(fn):
        def wrapper(path, *args, **kwargs):
            writes.append(str(path))
            return fn(path, *args, **kwargs)

        return wrapper

    PlannedBatches.__iter__ = recording_iter
    run.atomic_write_json = recorded(run.atomic_write_json)
    run.save_generator = recorded(run.save_generator)
    preview.atomic_write_bytes = recorded(preview.atomic_write_bytes)
    loop.log_row = recorded(loop.log_row)
    cfg = TrainConfig(
        block_out_channels=(8, 16),
        layers_per_block=1,
        attention_resolutions=(8,),
        mid_attention=False,
        attention_head_dim=4,
        norm_num_groups=4,
        steps=3,
        batch_size=2,
        processes=2,
        checkpoint_every=2,
        log_every=1,
        preview_every=0,
        preview_per_class=1,
        preview_steps=2,
        channels_last=False,
        class_weighting="none",
    )
    result = run.train_generator(manifest, out, CommonConfig(image_size=16), cfg)
    record = {"drawn": drawn[:3], "writes": writes, "main": result.is_main_process}
    (Path(record_dir) / f"rank-{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(*sys.argv[1:])
