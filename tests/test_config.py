"""params.yaml validation: every kind of mistake fails at load with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from factory.config import STAGES, CommonConfig, load_params, params_from_dict
from factory.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_project_params_load_and_every_stage_has_a_section() -> None:
    params = load_params(ROOT / "params.yaml")
    for name in ("common", *STAGES):
        assert params.sections[name] is not None
    assert params.common.image_size >= 16


def test_sections_are_immutable() -> None:
    common = CommonConfig()
    with pytest.raises(Exception, match="frozen"):
        common.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("common: {seed: 1, colour: red}\n", r"unknown key 'common.colour'.*known keys"),
        ("common: {seed: -1}\n", r"common.seed = -1: .*greater than or equal to 0"),
        ("common: {image_size: big}\n", r"common.image_size = 'big': .*integer"),
        ("common: {classes: [a, a]}\n", r"common.classes .*unique"),
        ("common: {image_size: 8}\n", r"common.image_size = 8"),
        ("trian: {steps: 3}\n", r"unknown section 'trian'"),
        ("common: [1, 2]\n", r"section 'common' must be a mapping"),
        ("common: {seed: 1\n", r"YAML syntax error at line \d+, column \d+"),
        ("- a\n- b\n", r"expected a mapping of sections"),
    ],
)
def test_bad_params_fail_with_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_params(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message


def test_missing_required_key_is_named() -> None:
    from factory.config import Section

    class Needs(Section):
        must: int

    with pytest.raises(Exception, match="must"):
        Needs.model_validate({})


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such params file"):
        load_params(tmp_path / "nope.yaml")


def test_absent_sections_take_defaults() -> None:
    params = params_from_dict({"common": {"seed": 7}})
    assert params.common.seed == 7
    assert params.resolved("common") == {"common": params.common.model_dump(mode="json")}


def test_cli_reports_a_bad_params_file_in_one_line_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "common: {seed: -1}\n")
    script = ROOT / "stages" / "phantom.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path / "x"), "--params", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:")
    assert "common.seed = -1" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
