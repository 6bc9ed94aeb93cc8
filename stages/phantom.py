"""DVC stage `phantom`: write the embedded synthetic dataset (INbreast layout by default)."""

from __future__ import annotations

import argparse
from pathlib import Path

from factory.config import Params
from factory.io import save_resolved_config
from factory.phantom import write_layout
from factory.stagekit import run_stage


def main(params: Params, args: argparse.Namespace) -> None:
    cfg = params.phantom
    out = write_layout(
        cfg.layout,
        Path(args.out),
        patients=cfg.patients,
        seed=params.common.seed,
        height=cfg.height,
        workers=cfg.workers,
    )
    save_resolved_config(out, **params.resolved("common", "phantom"))


if __name__ == "__main__":
    run_stage(
        "Write the embedded phantom mammography set.",
        {"out": "folder to write the phantom set into (datasets/phantom)"},
        main,
    )
