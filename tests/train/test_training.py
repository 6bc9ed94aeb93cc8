"""The whole train run on tiny data: outputs, resume, fallback, held-out data, bad input."""

from __future__ import annotations

import json
import logging
import shutil
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from factory.errors import FactoryError
from factory.generator import load_generator
from factory.manifest import read_manifest
from factory.train.loop import Trainer, TrainingInterrupted
from factory.train.run import train_generator


def weights(out: Path, part: str = "unet") -> dict[str, torch.Tensor]:
    return load_file(out / "model" / part / "diffusion_pytorch_model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    for part in ("unet", "unet_ema"):
        wa, wb = weights(a, part), weights(b, part)
        assert wa.keys() == wb.keys()
        for k in wa:
            assert torch.equal(wa[k], wb[k]), f"{part}.{k} differs"


def crash_at(monkeypatch, step: int, how: str) -> None:
    """Make the run die after optimizer step `step`: an exception, or a SIGINT."""
    original = Trainer.after_step

    def after_step(self: Trainer) -> None:
        if self.state.step == step:
            if how == "sigint":
                signal.raise_signal(signal.SIGINT)
            else:
                raise RuntimeError("simulated crash")
        original(self)

    monkeypatch.setattr(Trainer, "after_step", after_step)


def test_outputs_lineage_and_loadable_model(manifest16, tmp_path, tiny_cfg, common16) -> None:
    from factory.sample.sampler import build_scheduler, image_generators, sample

    out = tmp_path / "train"
    cfg = tiny_cfg(steps=3, preview_every=2, class_weighting="loss")
    result = train_generator(manifest16, out, common16, cfg)
    assert result.is_main_process and result.step == 3 and result.steps_this_run == 3
    assert {p.name for p in (out / "previews").iterdir()} == {"step-00000002.png", "final.png"}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-00000002",
        "step-00000003",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 3 and "loss" in metrics["train"]
    assert len((out / "plots/metrics/train/loss.tsv").read_text().splitlines()) == 1 + 3

    lineage = json.loads((out / "lineage.json").read_text())
    df = read_manifest(manifest16)
    train = df[df.split == "train"]
    assert lineage["split"] == "train" and lineage["steps"] == 3
    assert lineage["manifest"]["sha256"] == result.meta.manifest_sha256
    assert lineage["counts"]["abnormal"]["images"] == (train.label == "abnormal").sum()
    assert lineage["class_weighting"] == "loss" and set(lineage["class_weights"]) == {
        "normal",
        "abnormal",
    }
    assert "pat-" not in (out / "lineage.json").read_text()  # counts only, never IDs
    assert lineage["environment"]["libraries"]["diffusers"]

    unet, scheduler, meta = load_generator(out / "model", classes=common16.classes)
    assert meta.null_class == 2 and meta.train_steps == 3 and meta.image_size == 16
    assert unet.config.num_class_embeds == 3
    labels = torch.tensor([0, 1])
    x = sample(
        unet,
        build_scheduler("ddim", scheduler.config, prediction_type=meta.prediction_type),
        labels,
        image_generators([1, 2]),
        steps=2,
        guidance=2.0,
        null_class=meta.null_class,
    )
    assert x.shape == (2, 1, 16, 16) and torch.isfinite(x).all()


@pytest.mark.slow
def test_loss_falls(make_manifest, tmp_path, tiny_cfg, common16) -> None:
    manifest = make_manifest(tmp_path / "ingest", size=16, patients=20)
    cfg = tiny_cfg(steps=60, batch_size=8, checkpoint_every=1000, log_every=10, label_dropout=0)
    train_generator(manifest, tmp_path / "train", common16, cfg)
    history = json.loads((tmp_path / "train/lineage.json").read_text())
    rows = (tmp_path / "train/plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
    losses = [float(r.split("\t")[-1]) for r in rows]
    assert history["steps"] == 60 and len(losses) == 6
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("how", ["exception", "sigint"])
def test_crash_and_resume_gives_identical_weights(
    manifest16, tmp_path, tiny_cfg, common16, monkeypatch, how
) -> None:
    cfg = tiny_cfg(steps=5, checkpoint_every=2, preview_every=2, label_dropout=0.5)
    train_generator(manifest16, tmp_path / "straight", common16, cfg)

    out = tmp_path / "crashed"
    crash_at(monkeypatch, 3, how)
    expected = TrainingInterrupted if how == "sigint" else RuntimeError
    with pytest.raises(expected):
        train_generator(manifest16, out, common16, cfg)
    monkeypatch.undo()
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    # SIGINT saves the step it stopped at; a crash leaves the last periodic checkpoint
    assert saved[-1] == ("step-00000003" if how == "sigint" else "step-00000002")
    result = train_generator(manifest16, out, common16, cfg)
    assert result.resumed_from.name == saved[-1]
    assert result.steps_this_run == 5 - int(saved[-1][-1])
    assert_same_weights(tmp_path / "straight", out)
    # the dvclive curve is whole again after the resume
    rows = (out / "plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
    assert [int(r.split("\t")[0]) for r in rows] == [1, 2, 3, 4, 5][: len(rows)]


def test_corrupt_latest_checkpoint_falls_back(
    manifest16, tmp_path, tiny_cfg, common16, caplog
) -> None:
    out = tmp_path / "train"
    train_generator(manifest16, out, common16, tiny_cfg(steps=4))
    latest = out / "checkpoints" / "step-00000004"
    (latest / "model.safetensors").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        result = train_generator(manifest16, out, common16, tiny_cfg(steps=5))
    assert "step-00000004" in caplog.text and "falling back" in caplog.text
    assert result.resumed_from.name == "step-00000002" and result.steps_this_run == 3
    # the damaged folder was replaced by a fresh step-4 checkpoint on the way to step 5
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert saved == ["step-00000004", "step-00000005"]
    assert (out / "checkpoints/step-00000004/model.safetensors").read_bytes() != b"garbage"


def test_finished_training_is_not_repeated(manifest16, tmp_path, tiny_cfg, common16) -> None:
    out = tmp_path / "train"
    train_generator(manifest16, out, common16, tiny_cfg(steps=2))
    before = weights(out)
    for stale in ("model", "previews", "plots", "metrics.json", "lineage.json"):
        p = out / stale  # DVC removes the non-persistent outputs before a run
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    result = train_generator(manifest16, out, common16, tiny_cfg(steps=2, preview_steps=3))
    assert result.steps_this_run == 0 and result.step == 2
    assert all(torch.equal(before[k], v) for k, v in weights(out).items())
    assert (out / "previews/final.png").exists() and (out / "lineage.json").exists()
    assert len((out / "plots/metrics/train/loss.tsv").read_text().splitlines()) == 3


def test_checkpoint_of_another_model_is_a_clear_error(
    manifest16, tmp_path, tiny_cfg, common16
) -> None:
    out = tmp_path / "train"
    train_generator(manifest16, out, common16, tiny_cfg(steps=2))
    with pytest.raises(FactoryError, match=r"block_out_channels \[8, 16\] in the checkpoint"):
        train_generator(manifest16, out, common16, tiny_cfg(steps=3, block_out_channels=(4, 8)))
    result = train_generator(
        manifest16, out, common16, tiny_cfg(steps=1, block_out_channels=(4, 8), resume=False)
    )
    assert result.resumed_from is None and result.step == 1


def test_val_and_test_images_never_reach_training(
    manifest16, tmp_path, tiny_cfg, common16, monkeypatch
) -> None:
    from factory.train.data import PlannedBatches

    df = read_manifest(manifest16)
    held_out = df[df.split != "train"]
    for path in held_out["path"]:  # planted: any read of these files fails loudly
        (manifest16.parent / path).write_bytes(b"not a png")
    train_ids = df.loc[df.split == "train", "image_id"].tolist()
    drawn: list[int] = []
    real_iter = PlannedBatches.__iter__

    def recording_iter(self):
        for batch in real_iter(self):
            drawn.extend(batch)
            yield batch

    monkeypatch.setattr(PlannedBatches, "__iter__", recording_iter)
    cfg = tiny_cfg(steps=3, class_weighting="none")  # 3 x 4 images = one epoch of 12
    train_generator(manifest16, tmp_path / "train", common16, cfg)
    ids = {train_ids[i] for i in drawn[:12]}
    assert ids == set(train_ids) and not ids & set(held_out["image_id"])


def test_bf16_autocast_on_cpu_and_accumulation(manifest16, tmp_path, tiny_cfg, common16) -> None:
    cfg = tiny_cfg(
        steps=2,
        mixed_precision="bf16",
        gradient_accumulation=2,
        max_grad_norm=0.5,
        channels_last=True,
        class_weighting="none",
    )
    result = train_generator(manifest16, tmp_path / "train", common16, cfg)
    lineage = json.loads((tmp_path / "train/lineage.json").read_text())
    assert lineage["launch"]["mixed_precision"] == "bf16" and result.step == 2
    assert torch.isfinite(torch.tensor(result.final_loss))


def test_fp16_on_cpu_is_a_clear_error(manifest16, tmp_path, tiny_cfg, common16) -> None:
    if torch.cuda.is_available():
        pytest.skip("has a GPU")
    with pytest.raises(FactoryError, match="fp16' needs a CUDA GPU"):
        train_generator(manifest16, tmp_path / "t", common16, tiny_cfg(mixed_precision="fp16"))


def test_wrong_image_size_is_a_clear_error(tiny_manifest, tmp_path, tiny_cfg, common16) -> None:
    with pytest.raises(FactoryError, match=r"32x32 px but common\.image_size is 16"):
        train_generator(tiny_manifest, tmp_path / "t", common16, tiny_cfg())


@pytest.mark.slow
def test_compile_flag_builds_and_trains(
    manifest16, tmp_path, tiny_cfg, common16, monkeypatch
) -> None:
    """The torch.compile path (compiled module through accelerate, checkpoint, export).

    With the "eager" backend: inductor needs a C++ toolchain and minutes on a CPU, which
    is not what this test is about.
    """
    real_compile = torch.compile
    calls = []

    def eager_compile(model, **kwargs):
        calls.append(model)
        return real_compile(model, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", eager_compile)
    result = train_generator(manifest16, tmp_path / "t", common16, tiny_cfg(steps=2, compile=True))
    assert len(calls) == 1 and result.step == 2 and (tmp_path / "t/model/unet_ema").is_dir()
    unet, _, _ = load_generator(tmp_path / "t/model")
    assert unet.config.num_class_embeds == 3
    resumed = train_generator(manifest16, tmp_path / "t", common16, tiny_cfg(steps=3, compile=True))
    assert resumed.resumed_from.name == "step-00000002" and resumed.step == 3
