"""`factory benchmark`: documented options and one-line errors."""

from __future__ import annotations

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
