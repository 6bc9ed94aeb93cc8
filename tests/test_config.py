"""params.yaml validation: every kind of mistake fails at load with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from factory.config import SECTIONS, CommonConfig, read_params
from factory.errors import ConfigError
from factory.params import STAGE_SECTIONS, load_params, params_from_dict

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "path", ["params.yaml", *sorted(p.name for p in (ROOT / "profiles").glob("*.yaml"))]
)
def test_project_params_load_and_every_stage_has_a_section(path: str) -> None:
    """Written in the file, not filled in with defaults: a missing section would be."""
    file = ROOT / path if path == "params.yaml" else ROOT / "profiles" / path
    written = yaml.safe_load(file.read_text())
    assert list(written) == list(SECTIONS)
    assert all(isinstance(written[name], dict) and written[name] for name in SECTIONS)
    params = load_params(file)
    assert list(params.sections) == list(SECTIONS)
    assert params.common.image_size >= 16


def test_a_stage_validates_only_the_sections_it_reads(tmp_path: Path) -> None:
    path = write(tmp_path, "common: {seed: 1}\ntrain: {steps: 5}\ngate: {max_fid: wrong}\n")
    params = read_params(path, train=STAGE_SECTIONS["train"])
    assert params.train.steps == 5 and params.gate is None and params.common.seed == 1
    with pytest.raises(ConfigError, match="not loaded by this stage"):
        params.resolved("common", "gate")
    with pytest.raises(ConfigError, match=r"gate.max_fid = 'wrong'"):
        load_params(path)


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
        # strict types: YAML booleans and quoted numbers are not numbers
        ("train: {steps: true}\n", r"train.steps = True: .*integer.*YAML reads true"),
        ("train: {steps: '5'}\n", r"train.steps = '5': .*integer"),
        ("train: {learning_rate: yes}\n", r"train.learning_rate = True: .*number"),
        ("sample: {per_class: false}\n", r"sample.per_class = False"),
        # an empty or sectionless file is not "all defaults"
        ("", r"the params file is empty: expected a mapping of sections"),
        ("# only a comment\n", r"the params file is empty"),
        ("{}\n", r"the params file is empty"),
        ("seed: 3\n", r"unknown section 'seed'"),
        # cross-section checks at load
        ("common: {image_size: 65}\n", r"common.image_size = 65 is not divisible by 2\^5"),
        (
            "common: {image_size: 64}\ntrain: {block_out_channels: [32, 32], "
            "attention_resolutions: [16]}\n",
            r"train.attention_resolutions \[16\] are not UNet level sides .* \[64, 32\]",
        ),
        ("sample: {per_class: {normal: 1, cancer: 2}}\n", r"sample.per_class names \['cancer'\]"),
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
