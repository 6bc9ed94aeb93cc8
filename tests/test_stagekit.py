"""The stage edge: stages/<name>.py and `factory <name>` share one path, and it tells the truth.

- params errors are caught at load, before any data is read, in every stage that reads
  the sections involved, naming the file actually read (--params);
- arguments that stand for params (--path) and CLI options are recorded as what ran;
- under several worker processes a FactoryError is one line, from rank 0, no traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from factory.cli import main
from factory.config import CommonConfig, override, read_params
from factory.errors import ConfigError
from factory.ingest.config import IngestConfig
from factory.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
KEY_ENV = {"FACTORY_PSEUDONYM_KEY": "stagekit-test-key-0123456789"}


def run_script(name: str, *args: str, cwd: Path = ROOT, env: dict | None = None):
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / f"{name}.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **KEY_ENV, **(env or {})},
        timeout=600,
    )


def project_params(tmp_path: Path, **changes: dict) -> Path:
    """The project's params.yaml with some keys changed, written under tmp_path."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section, values in changes.items():
        raw[section].update(values)
    path = tmp_path / "elsewhere.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_image_size_that_cannot_train_fails_ingest_at_load(tmp_path: Path) -> None:
    """common.image_size 65 with a 4-level UNet: ingest refuses before reading any image.

    The dataset folder does not exist: had ingest read data first, the error would be
    about the folder. The message names the file given with --params.
    """
    params = project_params(tmp_path, common={"image_size": 65})
    args = ["--path", str(tmp_path / "no-data"), "--out", str(tmp_path / "out")]
    done = run_script("ingest", *args, "--params", str(params), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert error_lines(done.stderr) == [done.stderr.strip()]
    assert f"{params}: common.image_size = 65 is not divisible by 2^3" in done.stderr
    assert "params.yaml" not in done.stderr.replace(str(params), "")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_label_map_that_does_not_fit_the_classes_fails_ingest_at_load(tmp_path: Path) -> None:
    params = project_params(
        tmp_path, common={"classes": ["a", "b"]}, ingest={"label_map": {"1": "a", "4": "c"}}
    )
    args = ["--path", str(tmp_path / "no-data"), "--out", str(tmp_path / "out")]
    done = run_script("ingest", *args, "--params", str(params), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"error: {params}: ingest.label_map maps to ['c'], not in common.classes "
        "['a', 'b']; fix the map or common.classes"
    )


def test_image_size_that_cannot_train_fails_the_ingest_command_too(tmp_path, capsys) -> None:
    params = project_params(tmp_path)
    args = ["ingest", "--source", "inbreast", "--path", str(tmp_path / "no-data")]
    args += ["--out", str(tmp_path / "o"), "--params", str(params), "--image-size", "65"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "common.image_size = 65 is not divisible" in err and str(params) in err


def test_override_is_validated_and_cross_checked() -> None:
    raw = {"common": {"image_size": 64}, "train": {"block_out_channels": [32, 32, 32]}}
    path_free = read_params_dict(raw)
    assert override(path_free, "train", {"steps": None}, "--steps None") is path_free
    changed = override(path_free, "train", {"steps": 7}, "--steps 7")
    assert changed.train.steps == 7 and path_free.train.steps != 7
    with pytest.raises(ConfigError, match=r"^--steps 0: train.steps = 0: "):
        override(path_free, "train", {"steps": 0}, "--steps 0")
    with pytest.raises(ConfigError, match=r"with --image-size 66: common.image_size = 66"):
        override(path_free, "common", {"image_size": 66}, "--image-size 66")


def read_params_dict(raw: dict):
    from factory.config import parse_params

    return parse_params(raw, "test.yaml", train=TrainConfig)


@pytest.fixture(scope="module")
def phantom_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from factory.phantom import write_layout

    root = tmp_path_factory.mktemp("phantom") / "set"
    return write_layout("inbreast", root, patients=12, seed=0, height=64, progress=False)


@pytest.mark.slow
def test_ingest_stage_records_the_path_it_read(phantom_set: Path, tmp_path: Path) -> None:
    """dvc.yaml passes --path ${ingest.path}; run by hand with another folder, config.json
    records the folder that was read, not params' ingest.path."""
    copy = tmp_path / "copy-of-phantom"
    shutil.copytree(phantom_set, copy)
    params = project_params(tmp_path, common={"image_size": 32}, ingest={"workers": 1})
    assert read_params(params, ingest=IngestConfig).ingest.path == "datasets/phantom"
    out = tmp_path / "out"
    args = ["--path", str(copy), "--out", str(out), "--params", str(params)]
    done = run_script("ingest", *args, cwd=tmp_path)  # its key fingerprint goes there
    assert done.returncode == 0, done.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["ingest"]["path"] == str(copy)
    assert config["common"] == CommonConfig(image_size=32).model_dump(mode="json")


@pytest.mark.slow
def test_ingest_command_records_path_and_options(phantom_set: Path, tmp_path: Path, capsys):
    params = project_params(tmp_path, ingest={"label_map": "sutjiadi"})
    out = tmp_path / "out"
    args = ["ingest", "--source", "inbreast", "--path", str(phantom_set), "--out", str(out)]
    args += ["--params", str(params), "--image-size", "32", "--workers", "1", "--quiet"]
    args += ["--key-file", str(tmp_path / "k.key")]
    assert main(args) == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["ingest"]["path"] == str(phantom_set)
    assert config["ingest"]["workers"] == 1 and config["common"]["image_size"] == 32
    assert config["ingest"]["label_map"] == "sutjiadi"


def test_ingest_command_says_which_keys_another_source_drops(tmp_path: Path, capsys) -> None:
    params = project_params(tmp_path, ingest={"label_map": "sutjiadi"})
    args = ["ingest", "--source", "mias", "--path", str(tmp_path / "no-data"), "--quiet"]
    args += ["--out", str(tmp_path / "o"), "--params", str(params)]
    args += ["--key-file", str(tmp_path / "k.key")]
    main(args)  # fails on the missing folder, after the note
    err = capsys.readouterr().err
    note = next(line for line in err.splitlines() if line.startswith("note:"))
    assert "--source mias" in note and "ingest.label_map = 'sutjiadi'" in note
    assert "inbreast" in note


def bad_train_params(tmp_path: Path, **train) -> Path:
    return project_params(tmp_path, common={"image_size": 32}, train={"processes": 2, **train})


@pytest.mark.multiprocess
@pytest.mark.parametrize(
    ("common", "train", "message"),
    [
        (
            {},
            {"steps": True},
            "train.steps = True: Input should be a valid integer "
            "(YAML reads true/false/yes/no/on/off as a boolean)",
        ),
        (
            {"image_size": 65},
            {},
            "common.image_size = 65 is not divisible by 2^3 = 8 (train.block_out_channels "
            "has 4 levels, each halving the side): use an image size that is, or fewer levels",
        ),
    ],
)
def test_train_stage_params_error_is_one_line_before_any_worker(
    tmp_path: Path, common: dict, train: dict, message: str
) -> None:
    """dvc.yaml runs `python stages/train.py`: params are checked in one process, before
    the manifest is read (it does not exist here) and before workers start."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["common"].update(common)
    raw["train"].update({"processes": 2, **train})
    params = tmp_path / "elsewhere.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    args = ["--manifest", str(tmp_path / "m.parquet"), "--out", str(tmp_path / "t")]
    done = run_script("train", *args, "--params", str(params))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {params}: {message}"


@pytest.mark.slow
@pytest.mark.multiprocess
def test_worker_error_is_one_line_from_rank_zero(tmp_path: Path) -> None:
    """Valid params, train.processes 2, no manifest: both workers fail with the same
    FactoryError; stderr holds exactly one error line and no torchrun traceback."""
    params = bad_train_params(tmp_path)
    args = ["--manifest", str(tmp_path / "none" / "m.parquet"), "--out", str(tmp_path / "t")]
    done = run_script("train", *args, "--params", str(params), env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 2, done.stderr
    assert len(error_lines(done.stderr)) == 1, done.stderr
    assert "no manifest here" in error_lines(done.stderr)[0]
    assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr


@pytest.mark.slow
@pytest.mark.multiprocess
def test_hand_run_torchrun_workers_print_one_line(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node 2 stages/train.py` (as across machines): the script runs
    as a worker (no second launch) and only rank 0 prints the params error."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    params = bad_train_params(tmp_path, steps="5")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "stages/train.py"]
    cmd += ["--manifest", str(tmp_path / "m.parquet"), "--out", str(tmp_path / "t")]
    cmd += ["--params", str(params)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode != 0
    lines = error_lines(done.stderr)
    assert lines == [f"error: {params}: train.steps = '5': Input should be a valid integer"]


@pytest.mark.slow
@pytest.mark.multiprocess
@pytest.mark.parametrize("name", ["gate", "benchmark"])
def test_gate_and_benchmark_workers_report_an_input_error_once(tmp_path: Path, name: str) -> None:
    """gate.processes / benchmark.processes 2: the stage script starts two workers (its
    launcher); both meet the missing input, rank 0 alone prints it, exit 2, no traceback."""
    from factory.benchmark.stage import STAGE as BENCHMARK
    from factory.gate.stage import STAGE as GATE

    assert (GATE.launcher, BENCHMARK.launcher) == ("gate", "benchmark")
    params = project_params(tmp_path, **{name: {"processes": 2}})
    missing = tmp_path / "none"
    first = {"gate": "--samples", "benchmark": "--dataset"}[name]
    args = [first, str(missing / "set"), "--manifest", str(missing / "manifest.parquet")]
    args += ["--out", str(tmp_path / "out"), "--params", str(params)]
    done = run_script(name, *args, env={"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 2, done.stderr
    assert len(error_lines(done.stderr)) == 1, done.stderr
    assert str(missing) in error_lines(done.stderr)[0]
    assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr
    assert not (tmp_path / "out").exists()
