"""The denoising loop: every scheduler, guidance, and per-image noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from factory.sample.sampler import (
    SCHEDULERS,
    build_scheduler,
    image_generators,
    nonfinite_rows,
    sample,
    to_uint16,
)

from .conftest import tiny_unet

TRAIN = DDPMScheduler(num_train_timesteps=1000)


def draw(unet, name, labels, seeds, steps=3, guidance=1.0, prediction_type="epsilon"):
    scheduler = build_scheduler(name, TRAIN.config, prediction_type=prediction_type)
    return sample(
        unet,
        scheduler,
        torch.tensor(labels),
        image_generators(seeds),
        steps=steps,
        guidance=guidance,
        null_class=2,
    )


@pytest.fixture(scope="module")
def unet():
    return tiny_unet()


@pytest.mark.parametrize("name", SCHEDULERS)
@pytest.mark.parametrize("guidance", [0.0, 1.0, 2.5])
def test_every_scheduler_runs(unet, name, guidance):
    x = draw(unet, name, [0, 1], [1, 2], guidance=guidance)
    assert x.shape == (2, 1, 16, 16)
    assert torch.isfinite(x).all()
    assert not torch.equal(x[0], x[1])


def test_schedulers_use_the_training_schedule():
    train = DDPMScheduler(num_train_timesteps=500, beta_schedule="squaredcos_cap_v2")
    for name in SCHEDULERS:
        s = build_scheduler(name, train.config, prediction_type="v_prediction")
        assert s.config.num_train_timesteps == 500
        assert s.config.beta_schedule == "squaredcos_cap_v2"
        assert s.config.prediction_type == "v_prediction"
    assert (
        build_scheduler("dpmsolver++", train.config, prediction_type="epsilon").config[
            "algorithm_type"
        ]
        == "dpmsolver++"
    )


@pytest.mark.parametrize("name", SCHEDULERS)
def test_image_does_not_depend_on_its_batch_companions(unet, name):
    """Same compute shape (4 rows): image 0 alone (padded) == image 0 among others, bitwise.

    ddpm adds fresh noise at every step, so this also checks the per-step noise comes
    from the image's own generator.
    """
    alone = draw(unet, name, [1, 1, 1, 1], [42, 42, 42, 42])[0]
    among = draw(unet, name, [0, 0, 1, 0], [7, 8, 42, 9])[2]
    assert torch.equal(alone, among)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_batch_size_one_versus_four(unet, name):
    """Different compute shapes differ only by float rounding (CPU BLAS), <= 2 of 65535."""
    seeds, labels = [3, 4, 5, 6], [0, 1, 0, 1]
    four = to_uint16(draw(unet, name, labels, seeds)).astype(np.int64)
    ones = np.concatenate(
        [to_uint16(draw(unet, name, labels[i : i + 1], seeds[i : i + 1])) for i in range(4)]
    ).astype(np.int64)
    assert np.abs(four - ones).max() <= 2


def test_ddpm_per_step_noise_matters(unet):
    """Same initial noise, other step noise: a stochastic sampler must differ."""
    a = draw(unet, "ddpm", [0], [1])
    b = draw(unet, "ddim", [0], [1])
    assert not torch.allclose(a, b)


def test_guidance_batches_the_class_and_null_passes(unet):
    calls = []
    hook = unet.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[0]))
    try:
        draw(unet, "ddim", [0, 1, 0], [1, 2, 3], steps=4, guidance=1.0)
        assert calls == [3] * 4
        calls.clear()
        draw(unet, "ddim", [0, 1, 0], [1, 2, 3], steps=4, guidance=3.0)
        assert calls == [6] * 4
    finally:
        hook.remove()


def test_guidance_changes_the_image(unet):
    assert not torch.allclose(
        draw(unet, "ddim", [1], [5], guidance=1.0), draw(unet, "ddim", [1], [5], guidance=4.0)
    )


def test_to_uint16_maps_the_range_and_clamps():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 1, 5)
    assert to_uint16(x).tolist() == [[[0, 0, 32768, 65535, 65535]]]


def test_nonfinite_rows():
    x = torch.zeros(3, 1, 2, 2)
    x[1, 0, 0, 0] = float("nan")
    x[2, 0, 1, 1] = float("inf")
    assert nonfinite_rows(x) == [1, 2]
