"""Drawing a set to disk: layout, metadata, resume, shards, and bad input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from factory.errors import FactoryError
from factory.io import read_png16
from factory.sample import run as run_module
from factory.sample.metadata import COLUMNS, read_metadata
from factory.sample.run import sample_set

from .conftest import CLASSES, make_tiny_model, tiny_config, tiny_unet


@dataclass
class FakeProcess:
    """Stands in for one process of an `accelerate launch` (run one after the other)."""

    process_index: int = 0
    num_processes: int = 1

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def is_main_process(self) -> bool:
        return self.process_index == 0

    def wait_for_everyone(self) -> None:
        pass


def draw(model, out, cfg=None, index=0, count=1, **kw):
    return sample_set(
        model,
        out,
        cfg or tiny_config(),
        classes=CLASSES,
        seed=0,
        image_size=16,
        accelerator=FakeProcess(index, count),
        progress=False,
        **kw,
    )


def hashes(out: Path) -> dict[str, str]:
    df = read_metadata(out)
    return dict(zip(df["image_id"], df["sha256"], strict=True))


def test_layout_and_metadata(tiny_model, tmp_path):
    out = tmp_path / "sample"
    summary = draw(tiny_model, out, tiny_config(grid_per_class=4))
    assert summary.per_class == {"normal": 3, "abnormal": 3}
    assert (summary.drawn, summary.resumed) == (6, 0)
    df = read_metadata(out)
    assert list(df.columns) == list(COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == COLUMNS
    assert df["label"].tolist() == [0, 0, 0, 1, 1, 1]
    assert df["class_name"].tolist() == ["normal"] * 3 + ["abnormal"] * 3
    assert set(df["scheduler"]) == {"ddim"} and set(df["steps"]) == {3}
    assert set(df["guidance"]) == {1.0}
    assert df["seed"].nunique() == 6
    assert df["model_hash"].str.len().eq(64).all()
    for path in df["path"]:
        assert path.startswith("images/")
        img = read_png16(out / path)
        assert img.dtype == np.uint16 and img.shape == (16, 16)
    assert (out / "grids" / "normal.png").exists() and (out / "grids" / "abnormal.png").exists()


def test_per_class_mapping_draws_only_the_asked_classes(tiny_model, tmp_path):
    out = tmp_path / "sample"
    draw(tiny_model, out, tiny_config(per_class={"normal": 0, "abnormal": 2}, grid_per_class=2))
    df = read_metadata(out)
    assert df["class_name"].tolist() == ["abnormal", "abnormal"]
    assert not (out / "images" / "normal").exists()
    assert not (out / "grids" / "normal.png").exists()


def test_shards_over_two_processes_give_the_same_bytes(tiny_model, tmp_path):
    one = tmp_path / "one"
    draw(tiny_model, one)
    two = tmp_path / "two"
    rank1 = draw(tiny_model, two, index=1, count=2)  # not main: no metadata yet
    assert not (two / "metadata.parquet").exists()
    rank0 = draw(tiny_model, two, index=0, count=2)
    assert (rank0.drawn, rank1.drawn) == (3, 3)
    assert hashes(one) == hashes(two)


def test_resume_after_a_crash_redraws_only_the_missing(tiny_model, tmp_path, monkeypatch):
    fresh = tmp_path / "fresh"
    draw(tiny_model, fresh)
    out = tmp_path / "sample"
    real_write = run_module.write_png16
    written = []

    def crash_after_four(path, pixels):
        if len(written) == 4:
            raise KeyboardInterrupt
        written.append(path)
        return real_write(path, pixels)

    monkeypatch.setattr(run_module, "write_png16", crash_after_four)
    with pytest.raises(KeyboardInterrupt):
        draw(tiny_model, out)
    assert not (out / "metadata.parquet").exists()  # nothing looks complete
    monkeypatch.setattr(run_module, "write_png16", real_write)
    summary = draw(tiny_model, out)
    assert (summary.drawn, summary.resumed) == (2, 4)
    assert hashes(out) == hashes(fresh)


def test_resume_redraws_a_damaged_or_unrecorded_png(tiny_model, tmp_path):
    out = tmp_path / "sample"
    draw(tiny_model, out)
    before = hashes(out)
    (out / "images" / "normal" / "syn-normal-00001.png").write_bytes(b"not a png")
    (out / "images" / "abnormal" / "syn-abnormal-00002.png").unlink()
    assert (draw(tiny_model, out).drawn, draw(tiny_model, out).drawn) == (2, 0)
    assert hashes(out) == before


def test_changed_settings_start_over_and_smaller_sets_are_pruned(tiny_model, tmp_path):
    out = tmp_path / "sample"
    draw(tiny_model, out)
    assert draw(tiny_model, out, tiny_config(steps=2)).drawn == 6
    assert set(read_metadata(out)["steps"]) == {2}
    assert draw(tiny_model, out, tiny_config(steps=2, per_class=1)).drawn == 0
    assert sorted(p.name for p in (out / "images").rglob("*.png")) == [
        "syn-abnormal-00000.png",
        "syn-normal-00000.png",
    ]
    assert len(read_metadata(out)) == 2


def test_diverged_model_is_a_clear_error_and_no_set(tmp_path):
    unet = tiny_unet()
    with torch.no_grad():
        unet.conv_out.bias.fill_(float("nan"))
    model = make_tiny_model(tmp_path / "model", unet=unet)
    out = tmp_path / "sample"
    with pytest.raises(FactoryError, match="NaN/Inf"):
        draw(model, out)
    assert not (out / "metadata.parquet").exists()
    assert not list((out / "images").rglob("*.png")) if (out / "images").exists() else True


def test_model_for_other_classes_is_a_clear_error(tmp_path):
    model = make_tiny_model(tmp_path / "model", classes=("benign", "malignant", "normal"))
    with pytest.raises(FactoryError, match="trained for classes"):
        draw(model, tmp_path / "sample")


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FactoryError, match="no trained model"):
        draw(tmp_path / "nowhere", tmp_path / "sample")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FactoryError, match="dvc repro train"):
        draw(tmp_path / "empty", tmp_path / "sample")


def test_changed_weights_are_a_clear_error(tiny_model, tmp_path):
    meta = tiny_model / "factory_model.json"
    meta.write_text(meta.read_text().replace('"model_hash": "', '"model_hash": "0'))
    with pytest.raises(FactoryError, match="weights changed"):
        draw(tiny_model, tmp_path / "sample")


def test_image_size_mismatch_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(FactoryError, match="16 px"):
        sample_set(
            tiny_model,
            tmp_path / "s",
            tiny_config(),
            classes=CLASSES,
            seed=0,
            image_size=64,
            accelerator=FakeProcess(),
            progress=False,
        )


def test_v_prediction_model(tmp_path):
    model = make_tiny_model(tmp_path / "model", prediction_type="v_prediction")
    draw(model, tmp_path / "sample", tiny_config(scheduler="dpmsolver++", per_class=1))
    assert len(pd.read_parquet(tmp_path / "sample" / "metadata.parquet")) == 2
