"""`factory benchmark`: documented options and one-line errors."""

from __future__ import annotations

import pytest
import yaml

from factory.cli import main as cli_main


def test_help_lists_every_option(capsys) -> None:
    assert cli_main(["benchmark", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--manifest", "--out", "--protocol", "--params"):
        assert option in text


def test_bad_protocol_is_one_line(tmp_path, tiny_inputs, capsys) -> None:
    dataset, manifest = tiny_inputs
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"benchmark": {"pretrained": False}}))
    argv = ["benchmark", "--dataset", str(dataset), "--manifest", str(manifest)]
    code = cli_main(
        [*argv, "--out", str(tmp_path / "out"), "--params", str(params), "--protocol", "x"]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --protocol x: benchmark.protocol") and "\n" not in err


def test_stage_script_refuses_a_renamed_rule_before_reading_data(tmp_path, capsys) -> None:
    from factory.benchmark.stage import STAGE
    from factory.stagekit import run_stage

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"common": {}, "benchmark": {"acceptance": {"rule": "gain"}}}))
    missing = tmp_path / "not-there"
    argv = ["--dataset", str(missing), "--manifest", str(missing), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exc:
        run_stage(STAGE, [*argv, "--params", str(params)])
    assert exc.value.code == 2 and not (tmp_path / "o").exists()
    err = capsys.readouterr().err.strip()
    assert "benchmark.acceptance.rule" in err and "point_estimate" in err and "\n" not in err
