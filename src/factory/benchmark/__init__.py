"""The `benchmark` concern: does a synthetic set help a classifier on real, unseen patients?

`run_benchmark(config, common, dataset_dir, manifest_path, out_dir)` is the entry point
(used by `stages/benchmark.py` and `factory benchmark`); it returns the acceptance verdict.
Modules: `data` (the image pool), `leakage` (the guard), `scenarios` (compositions and
protocol splits), `model` and `fit` (timm classifier, training), `metrics`, `acceptance`,
`explain` (Grad-CAM), `report` (outputs). Importing this package does not import torch.
"""

from __future__ import annotations

from typing import Any


def run_benchmark(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See `factory.benchmark.run.run_benchmark` (imported lazily: it needs torch)."""
    from .run import run_benchmark as run

    return run(*args, **kwargs)


__all__ = ["run_benchmark"]
