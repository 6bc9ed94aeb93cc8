"""`factory sample` and the DVC stage script, over the same library function."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
import yaml

from factory.cli import build_app, main
from factory.sample.metadata import read_metadata

ROOT = Path(__file__).resolve().parents[2]


def write_params(path: Path, **sample) -> Path:
    section = {"per_class": 2, "scheduler": "ddim", "steps": 2, "batch_size": 2}
    section.update(sample)
    raw = {"common": {"seed": 3, "classes": ["normal", "abnormal"], "image_size": 16}}
    raw["sample"] = {**section, "grid_per_class": 0}
    path.write_text(yaml.safe_dump(raw))
    return path


def test_cli_draws_a_set_with_overrides(tiny_model, tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml")
    out = tmp_path / "sample"
    args = ["sample", "--model", str(tiny_model), "--out", str(out), "--params", str(params)]
    code = main([*args, "--per-class", "1", "--scheduler", "unipc", "--steps", "3", "--quiet"])
    assert code == 0, capsys.readouterr().err
    df = read_metadata(out)
    assert len(df) == 2 and set(df["scheduler"]) == {"unipc"} and set(df["steps"]) == {3}
    config = yaml.safe_load((out / "config.json").read_text())
    assert config["sample"]["scheduler"] == "unipc" and config["common"]["seed"] == 3
    assert config["model"]["model_hash"] == df["model_hash"].iloc[0]
    assert "2 images" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheduler", "euler"], "sample.scheduler"),
        (["--steps", "0"], "sample.steps"),
        (["--per-class", "0"], "per_class"),
    ],
)
def test_cli_bad_options_are_one_line_errors(tiny_model, tmp_path, capsys, extra, message):
    params = write_params(tmp_path / "params.yaml")
    args = ["sample", "--model", str(tiny_model), "--out", str(tmp_path / "s")]
    assert main([*args, "--params", str(params), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_missing_model_is_a_one_line_error(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml")
    args = ["sample", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "s")]
    assert main([*args, "--params", str(params)]) == 2
    assert "dvc repro train" in capsys.readouterr().err


def test_every_option_has_help():
    command = typer.main.get_command(build_app()).commands["sample"]
    assert command.help
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, param.name


def sha_tree(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "images").rglob("*.png"))
    }


@pytest.mark.slow
@pytest.mark.multiprocess
def test_stage_under_torchrun_with_two_processes_matches_one(tiny_model, tmp_path):
    """Real processes (gloo on CPU): same bytes as one process, metadata written once."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    params = write_params(tmp_path / "params.yaml", per_class=3)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outs = {}
    for n in (1, 2):
        out = tmp_path / f"sample-{n}"
        cmd = [torchrun, "--standalone", "--nproc_per_node", str(n), "stages/sample.py"]
        cmd += ["--model", str(tiny_model), "--out", str(out), "--params", str(params)]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        outs[n] = out
    assert len(read_metadata(outs[2])) == 6
    assert sha_tree(outs[1]) == sha_tree(outs[2])
    assert sorted(p.name for p in (outs[2] / ".progress").glob("records-*")) == [
        "records-0.jsonl",
        "records-1.jsonl",
    ]


def test_stage_script_in_process(tiny_model, tmp_path):
    """stages/sample.py's stage through stagekit, as `dvc repro` runs it (one process)."""
    import runpy

    from factory.stagekit import run_stage

    stage = runpy.run_path(str(ROOT / "stages" / "sample.py"), run_name="stage")
    params = write_params(tmp_path / "params.yaml")
    out = tmp_path / "sample"
    argv = ["--model", str(tiny_model), "--out", str(out), "--params", str(params)]
    run_stage(stage["STAGE"], argv)
    assert len(read_metadata(out)) == 4
    assert yaml.safe_load((out / "config.json").read_text())["sample"]["per_class"] == 2
