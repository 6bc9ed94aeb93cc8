"""The `factory` CLI: every command is documented and answers --help and --version."""

from __future__ import annotations

import pytest
import typer
import yaml

from factory import __version__
from factory.cli import build_app, main


def all_commands() -> list:
    root = typer.main.get_command(build_app())
    found = []

    def walk(prefix: str, group) -> None:
        for name, cmd in group.commands.items():
            found.append((f"{prefix} {name}".strip(), cmd))
            if hasattr(cmd, "commands"):
                walk(f"{prefix} {name}", cmd)

    walk("", root)
    return found


def test_there_are_commands() -> None:
    names = {name for name, _ in all_commands()}
    assert {"phantom", "ingest", "train", "sample", "gate", "package", "benchmark"} <= names


@pytest.mark.parametrize("name_cmd", all_commands(), ids=lambda nc: nc[0])
def test_every_command_and_option_has_help(name_cmd) -> None:
    name, cmd = name_cmd
    assert (cmd.help or "").strip(), f"`factory {name}` has no help text"
    for param in cmd.params:
        if param.param_type_name == "option" and param.name != "help":
            assert (param.help or "").strip(), f"`factory {name} {param.opts[0]}` has no help"


@pytest.mark.parametrize("name_cmd", all_commands(), ids=lambda nc: nc[0])
def test_every_command_answers_help(name_cmd, capsys) -> None:
    name, _ = name_cmd
    assert main([*name.split(), "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys) -> None:
    assert main(["no-such-command"]) == 2


def dvc_yaml_paths() -> set[str]:
    """Every `--name value` path that dvc.yaml passes to a stage script."""
    from pathlib import Path

    from factory.stagekit import dvc_paths

    root = Path(__file__).resolve().parents[1]
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    found = set()
    for name in stages:
        found |= set(dvc_paths(name, root / "params.yaml", root / "dvc.yaml").values())
    return found


def test_dvc_paths_reads_a_stage_cmd_with_params_filled_in() -> None:
    from pathlib import Path

    from factory.stagekit import dvc_paths

    root = Path(__file__).resolve().parents[1]
    paths = dvc_paths("ingest", root / "params.yaml", root / "dvc.yaml")
    assert paths == {"path": "datasets/phantom", "out": "outputs/ingest"}
    assert "outputs/gate" in dvc_yaml_paths()


@pytest.mark.parametrize("name_cmd", all_commands(), ids=lambda nc: nc[0])
def test_no_command_keeps_a_copy_of_the_pipeline_paths(name_cmd) -> None:
    """dvc.yaml is the one home of the pipeline's paths: a CLI default that repeats one
    drifts when dvc.yaml changes (read them with factory.stagekit.dvc_paths instead)."""
    name, cmd = name_cmd
    copies = [
        f"{param.opts[0]}={param.default}"
        for param in cmd.params
        if param.default is not None and str(param.default) in dvc_yaml_paths()
    ]
    assert not copies, f"`factory {name}` repeats dvc.yaml paths as defaults: {copies}"
