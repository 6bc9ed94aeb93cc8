"""Pure pieces of the train concern: config, network shape, data selection, weights, order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from factory.errors import ConfigError, FactoryError
from factory.manifest import read_manifest
from factory.params import validate_section
from factory.train.config import TrainConfig
from factory.train.data import (
    BatchPlan,
    TrainImages,
    balanced_class_weights,
    class_counts,
    effective_weights,
    training_rows,
)
from factory.train.model import block_types, build_unet
from factory.train.objective import diffusion_loss, drop_labels, step_generator

CLASSES = ("normal", "abnormal")


def test_paper_profile_is_a_params_change() -> None:
    cfg = validate_section(
        "train",
        {
            "block_out_channels": [128, 128, 256, 256, 512, 512],
            "attention_resolutions": [16],
            "layers_per_block": 2,
            "mixed_precision": "bf16",
        },
    )
    down, up = block_types(cfg, 256)
    # diffusers' DDPM 256 models (google/ddpm-ema-church-256): attention at the 16 px level
    assert down == ("DownBlock2D",) * 4 + ("AttnDownBlock2D", "DownBlock2D")
    assert up == ("UpBlock2D", "AttnUpBlock2D") + ("UpBlock2D",) * 4


def test_widths_must_fit_group_norm() -> None:
    with pytest.raises(ConfigError, match="norm_num_groups"):
        validate_section("train", {"block_out_channels": [8, 24], "norm_num_groups": 16})


def test_attention_resolution_must_be_a_level(tiny_cfg) -> None:
    with pytest.raises(ConfigError, match=r"attention_resolutions.*\[16, 8\]"):
        block_types(tiny_cfg(attention_resolutions=(4,)), 16)
    with pytest.raises(ConfigError, match="not divisible"):
        block_types(tiny_cfg(block_out_channels=(4, 8, 8, 8, 8, 8)), 16)


def test_unet_is_grayscale_class_conditional_with_sdpa(tiny_cfg) -> None:
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    unet = build_unet(tiny_cfg(), 16, num_classes=2)
    assert unet.config.in_channels == unet.config.out_channels == 1
    assert unet.config.num_class_embeds == 3  # two classes + the null class
    procs = [type(m.processor) for m in unet.modules() if isinstance(m, Attention)]
    assert procs and set(procs) == {AttnProcessor2_0}  # PyTorch scaled_dot_product_attention


def test_model_signature_names_network_fields(tiny_cfg) -> None:
    a = tiny_cfg().model_signature(CLASSES, 16)
    b = tiny_cfg(learning_rate=0.5, steps=99).model_signature(CLASSES, 16)
    assert a == b  # optimisation settings do not change the network
    assert tiny_cfg(block_out_channels=(4, 8)).model_signature(CLASSES, 16) != a


def test_only_the_train_split_is_selected(tiny_manifest) -> None:
    df = read_manifest(tiny_manifest)
    rows = training_rows(df, CLASSES, "m")
    assert set(rows["split"]) == {"train"}
    held_out = set(df.loc[df["split"] != "train", "image_id"])
    assert held_out and not held_out & set(rows["image_id"])
    with pytest.raises(FactoryError, match="reached training"):
        TrainImages(df, tiny_manifest.parent, CLASSES, 32, 100)


def test_class_without_training_images_is_an_error(tiny_manifest) -> None:
    df = read_manifest(tiny_manifest)
    df = df[~((df["split"] == "train") & (df["label"] == "normal"))]
    with pytest.raises(FactoryError, match=r"\['normal'\] have no images in the train split"):
        training_rows(df, CLASSES, "m")


def test_class_counts_are_counts_only(tiny_manifest) -> None:
    rows = training_rows(read_manifest(tiny_manifest), CLASSES, "m")
    counts = class_counts(rows, CLASSES)
    assert counts["normal"]["images"] + counts["abnormal"]["images"] == len(rows)
    assert counts["normal"]["patients"] == rows.loc[rows.label == "normal", "patient_id"].nunique()


def test_class_weights_match_scikit_learn() -> None:
    labels = np.array([0] * 67 + [1] * 343)  # INbreast: normal vs abnormal
    expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)
    got = balanced_class_weights(labels, 2)
    np.testing.assert_allclose(got, expected)
    np.testing.assert_allclose(got, [410 / (2 * 67), 410 / (2 * 343)])
    sampling, loss = effective_weights("sampler", got)
    assert (sampling == got).all() and (loss == 1).all()
    sampling, loss = effective_weights("loss", got)
    assert (sampling == 1).all() and (loss == got).all()
    assert all((w == 1).all() for w in effective_weights("none", got))


def test_image_size_mismatch_is_a_clear_error(tiny_manifest) -> None:
    rows = training_rows(read_manifest(tiny_manifest), CLASSES, "m")
    with pytest.raises(FactoryError, match=r"32x32 px but common\.image_size is 64"):
        TrainImages(rows, tiny_manifest.parent, CLASSES, 64, 100)
    with pytest.raises(FactoryError, match=r"32x32 px but common\.image_size is 64"):
        TrainImages(rows, tiny_manifest.parent, CLASSES, 64, 0)  # streamed


def test_streamed_and_in_memory_give_the_same_tensors(tiny_manifest) -> None:
    rows = training_rows(read_manifest(tiny_manifest), CLASSES, "m")
    mem = TrainImages(rows, tiny_manifest.parent, CLASSES, 32, 100)
    disk = TrainImages(rows, tiny_manifest.parent, CLASSES, 32, 0)
    assert not mem.streamed and disk.streamed
    x, y = mem[3]
    assert x.shape == (1, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, disk[3][0]) and y == disk[3][1]


def test_batch_plan_shards_and_covers_each_epoch() -> None:
    plan = BatchPlan(n=24, batch_size=3, world_size=2, seed=0)
    epoch = [plan.indices(m, r) for m in range(4) for r in range(2)]
    flat = [i for batch in epoch for i in batch]
    assert sorted(flat) == list(range(24))  # one epoch = every item once, across ranks
    for m in range(20):  # the ranks never share an item within a step
        assert not set(plan.indices(m, 0)) & set(plan.indices(m, 1))
    again = BatchPlan(n=24, batch_size=3, world_size=2, seed=0)
    assert again.indices(17, 1) == plan.indices(17, 1)  # a pure function of the step
    assert BatchPlan(n=24, batch_size=3, world_size=2, seed=1).indices(0, 0) != plan.indices(0, 0)


def test_batch_plan_sampler_balances_classes() -> None:
    labels = np.array([0] * 10 + [1] * 90)
    w = balanced_class_weights(labels, 2)[labels]
    plan = BatchPlan(n=100, batch_size=10, world_size=1, seed=0, sample_weights=w)
    drawn = np.concatenate([labels[plan.indices(m, 0)] for m in range(400)])
    assert abs(drawn.mean() - 0.5) < 0.03  # plain order would give 0.9


def test_label_dropout_rate_and_null_class() -> None:
    labels = torch.ones(20000, dtype=torch.long)
    out = drop_labels(labels, 2, 0.1, torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) == {1, 2}
    assert abs((out == 2).float().mean().item() - 0.1) < 0.01


def test_loss_weights_scale_each_image(tiny_cfg) -> None:
    from factory.train.model import build_noise_scheduler

    cfg = tiny_cfg()
    unet, sched = build_unet(cfg, 16, 2), build_noise_scheduler(cfg)
    x, y = torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 0, 1])

    def loss(w):
        g = step_generator(0, 0, 0, torch.device("cpu"))
        kw = {"null_class": 2, "label_dropout": 0.0, "generator": g, "sample_weights": w}
        with torch.no_grad():
            return diffusion_loss(unet, sched, x, y, **kw).item()

    base = loss(None)
    assert loss(torch.full((4,), 2.0)) == pytest.approx(2 * base, rel=1e-5)
    assert loss(torch.tensor([1.0, 0.0, 1.0, 0.0])) != pytest.approx(base)


def test_v_prediction_target_is_velocity(tiny_cfg) -> None:
    from factory.train.model import build_noise_scheduler

    sched = build_noise_scheduler(tiny_cfg(prediction_type="v_prediction"))
    assert sched.config.prediction_type == "v_prediction"


def test_step_generator_is_pure() -> None:
    cpu = torch.device("cpu")
    a = torch.rand(3, generator=step_generator(1, 0, 5, cpu))
    assert torch.equal(a, torch.rand(3, generator=step_generator(1, 0, 5, cpu)))
    assert not torch.equal(a, torch.rand(3, generator=step_generator(1, 1, 5, cpu)))


def test_training_rows_keeps_dtypes(tiny_manifest) -> None:
    rows = training_rows(read_manifest(tiny_manifest), CLASSES, "m")
    assert isinstance(rows, pd.DataFrame) and rows.index.tolist() == list(range(len(rows)))
    assert isinstance(TrainConfig().model_signature(CLASSES, 256)["block_out_channels"], list)
