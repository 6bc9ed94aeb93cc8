"""Bad input to the phantom writer: one clear line, exit 2, nothing overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.cli import main
from factory.errors import FactoryError
from factory.phantom import write_layout


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patients": -3}, "patients = -3"),
        ({"patients": 0}, "patients = 0"),
        ({"height": 32}, "height = 32"),
        ({"height": 5000}, "height = 5000"),
        ({"seed": -1}, "seed = -1"),
        ({"workers": 0}, "workers = 0"),
    ],
)
def test_bad_numbers_are_one_line_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"patients": 2, "seed": 0, "height": 64, **kwargs}
    with pytest.raises(FactoryError, match=message) as err:
        write_layout("inbreast", tmp_path / "out", progress=False, **args)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_unknown_layout_and_option(tmp_path: Path) -> None:
    with pytest.raises(FactoryError, match="unknown phantom layout 'ddsm'"):
        write_layout("ddsm", tmp_path / "o", patients=1, seed=0, height=64)
    with pytest.raises(FactoryError, match="no option 'colour'"):
        write_layout("inbreast", tmp_path / "o", patients=1, seed=0, height=64, colour=True)


def test_folder_with_other_files_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(FactoryError, match="holds other files"):
        write_layout("inbreast", out, patients=1, seed=0, height=64, progress=False)
    assert [p.name for p in out.iterdir()] == ["thesis.docx"]
    assert (out / "thesis.docx").read_text() == "precious"


def test_a_phantom_set_with_a_stranger_file_is_left_alone(tmp_path: Path) -> None:
    out = write_layout("inbreast", tmp_path / "ph", patients=1, seed=0, height=64, progress=False)
    (out / "AllDICOMs" / "notes.txt").write_text("mine")
    before = sorted(p.name for p in (out / "AllDICOMs").iterdir())
    with pytest.raises(FactoryError, match="holds other files"):
        write_layout("inbreast", out, patients=1, seed=9, height=64, progress=False)
    assert sorted(p.name for p in (out / "AllDICOMs").iterdir()) == before


def test_a_previous_phantom_set_is_replaced(tmp_path: Path) -> None:
    out = write_layout("inbreast", tmp_path / "ph", patients=2, seed=0, height=64, progress=False)
    first = sorted(p.name for p in (out / "AllDICOMs").iterdir())
    write_layout("inbreast", out, patients=1, seed=5, height=64, progress=False)
    second = sorted(p.name for p in (out / "AllDICOMs").iterdir())
    assert second and not set(first) & set(second)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patients", "-1"], "patients = -1"),
        (["--height", "63"], "height = 63"),
    ],
)
def test_cli_exits_2_with_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    code = main(["phantom", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_refuses_a_busy_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "keep.txt").write_text("x")
    assert main(["phantom", "--out", str(tmp_path), "--patients", "1", "--height", "64"]) == 2
    assert "holds other files" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "x"


def test_cli_writes_a_set(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "phantom",
            "--out",
            str(tmp_path / "set"),
            "--patients",
            "1",
            "--height",
            "64",
            "--workers",
            "1",
        ]
    )
    assert code == 0
    assert list((tmp_path / "set" / "AllDICOMs").glob("*.dcm"))
