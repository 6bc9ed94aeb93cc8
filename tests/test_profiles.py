"""Profiles: every shipped profile is a valid params file; `factory profile use` swaps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from factory.cli import main
from factory.params import load_params

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))


def test_the_three_profiles_exist() -> None:
    assert {p.stem for p in PROFILES} >= {"demo", "inbreast-paper", "rsna-paper"}


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_every_profile_validates(path: Path) -> None:
    load_params(path)


def test_demo_profile_is_the_committed_params_file() -> None:
    assert (ROOT / "profiles" / "demo.yaml").read_text() == (ROOT / "params.yaml").read_text()


def test_paper_profiles_carry_the_papers_settings() -> None:
    inbreast = load_params(ROOT / "profiles" / "inbreast-paper.yaml")
    assert inbreast.common.image_size == 256
    assert inbreast.benchmark.backbones == ("tf_efficientnetv2_l",)
    assert inbreast.benchmark.synthetic_counts == (0, 100, 250, 500)
    assert (inbreast.benchmark.epochs, inbreast.benchmark.batch_size) == (50, 16)
    assert (inbreast.sample.scheduler, inbreast.sample.steps) == ("ddpm", 1000)
    rsna = load_params(ROOT / "profiles" / "rsna-paper.yaml")
    assert rsna.benchmark.protocol == "prodan2023"
    assert set(rsna.benchmark.backbones) == {
        "resnet18",
        "resnet34",
        "resnet152",
        "efficientnet_b0",
        "maxvit_nano_rw_256",
    }
    assert rsna.benchmark.image_sizes == (256, 512)
    assert rsna.sample.per_class == {"negative": 0, "positive": 1000}


def test_profile_use_copies_and_refuses_unknown_or_invalid(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", folder)
    (folder / "broken.yaml").write_text("train: {steps: -1}\n")
    params = tmp_path / "params.yaml"
    params.write_text("common: {seed: 1}\n")
    args = ["profile", "use", "--dir", str(folder), "--params", str(params)]

    assert main([*args, "rsna-paper"]) == 0
    assert params.read_text() == (folder / "rsna-paper.yaml").read_text()
    assert main([*args, "nope"]) == 2
    assert "no profile 'nope'" in capsys.readouterr().err
    assert main([*args, "broken"]) == 2
    assert params.read_text() == (folder / "rsna-paper.yaml").read_text()  # untouched
    assert main(["profile", "list", "--dir", str(folder)]) == 0
    assert "inbreast-paper" in capsys.readouterr().out
