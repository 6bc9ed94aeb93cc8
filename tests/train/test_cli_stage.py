"""`factory train` and `stages/train.py` run the library on a params file."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import yaml

from factory.cli import main


def write_params(path, tiny: dict) -> None:
    train = {k: list(v) if isinstance(v, tuple) else v for k, v in tiny.items()}
    path.write_text(yaml.safe_dump({"common": {"image_size": 16}, "train": train}))


def test_factory_train_command(manifest16, tmp_path, tiny_cfg) -> None:
    params = tmp_path / "params.yaml"
    write_params(params, tiny_cfg().model_dump())
    out = tmp_path / "train"
    args = ["train", "--manifest", str(manifest16), "--out", str(out), "--params", str(params)]
    assert main([*args, "--steps", "1"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["steps"] == 1 and config["common"]["image_size"] == 16
    assert json.loads((out / "lineage.json").read_text())["steps"] == 1


def test_cli_reports_bad_input_in_one_line(tmp_path, tiny_cfg, capsys) -> None:
    params = tmp_path / "params.yaml"
    write_params(params, tiny_cfg().model_dump())
    missing = tmp_path / "nowhere" / "manifest.parquet"
    code = main(
        ["train", "--manifest", str(missing), "--out", str(tmp_path / "o"), "--params", str(params)]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no manifest here" in err[0]


def test_stage_script(manifest16, tmp_path, tiny_cfg, monkeypatch) -> None:
    params = tmp_path / "params.yaml"
    write_params(params, tiny_cfg(steps=1).model_dump())
    out = tmp_path / "train"
    argv = ["stages/train.py", "--manifest", str(manifest16), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--params", str(params)])
    runpy.run_path(str(Path(__file__).parents[2] / "stages/train.py"), run_name="__main__")
    assert (out / "config.json").exists() and (out / "model" / "factory_model.json").exists()
