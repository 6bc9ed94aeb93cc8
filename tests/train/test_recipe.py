"""Recipe levers of the generator: min-SNR weighting, zero terminal SNR, vertical flips,
their load-time checks, and resume refusing a checkpoint of another recipe."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr

from factory.errors import ConfigError, FactoryError
from factory.params import validate_section
from factory.sample.sampler import build_scheduler
from factory.train.model import build_noise_scheduler, build_unet
from factory.train.objective import LossRecipe, diffusion_loss, snr_weights, step_generator
from factory.train.run import train_generator


def _loss(cfg, recipe: LossRecipe | None, x=None) -> float:
    torch.manual_seed(0)
    unet, sched = build_unet(cfg, 16, 2), build_noise_scheduler(cfg)
    x = torch.randn(4, 1, 16, 16) if x is None else x
    g = step_generator(0, 0, 0, torch.device("cpu"))
    with torch.no_grad():
        return diffusion_loss(
            unet,
            sched,
            x,
            torch.tensor([0, 1, 0, 1]),
            null_class=2,
            label_dropout=0.0,
            generator=g,
            recipe=recipe,
        ).item()


def test_min_snr_weights_are_diffusers_formula() -> None:
    t = torch.tensor([0, 10, 500, 999])
    for pred in ("epsilon", "v_prediction"):
        sched = DDPMScheduler(prediction_type=pred)
        snr = compute_snr(sched, t)
        expected = torch.minimum(snr, torch.tensor(5.0)) / (snr + 1 if pred != "epsilon" else snr)
        assert torch.allclose(snr_weights(sched, t, 5.0), expected)
    # low noise (high SNR) is down-weighted, high noise keeps (nearly) full weight
    w = snr_weights(DDPMScheduler(), t, 5.0)
    assert w[0] < 0.01 and w[-1] == pytest.approx(1.0)


def test_min_snr_is_finite_at_zero_terminal_snr() -> None:
    sched = DDPMScheduler(prediction_type="v_prediction", rescale_betas_zero_snr=True)
    w = snr_weights(sched, torch.tensor([999, 998]), 5.0)
    assert torch.isfinite(w).all() and w[0] == 0


def test_min_snr_changes_the_loss_and_default_recipe_does_not(tiny_cfg) -> None:
    cfg = tiny_cfg(prediction_type="v_prediction")
    plain = _loss(cfg, None)
    assert _loss(cfg, LossRecipe()) == plain
    assert _loss(cfg, LossRecipe(snr_gamma=5.0)) != pytest.approx(plain)


def test_vertical_flip_is_used_and_only_vertical(tiny_cfg) -> None:
    cfg = tiny_cfg()
    # An image symmetric top-bottom is unchanged by a vertical flip: same loss; an image
    # symmetric left-right but not top-bottom changes under it.
    sym_v = torch.randn(4, 1, 8, 16)
    sym_v = torch.cat([sym_v, sym_v.flip(-2)], dim=-2)
    assert _loss(cfg, LossRecipe(vflip=True), sym_v) == _loss(cfg, None, sym_v)
    sym_h = torch.randn(4, 1, 16, 8)
    sym_h = torch.cat([sym_h, sym_h.flip(-1)], dim=-1)
    assert _loss(cfg, LossRecipe(vflip=True), sym_h) != _loss(cfg, None, sym_h)


def test_recipe_from_config(tiny_cfg) -> None:
    assert LossRecipe.from_config(tiny_cfg()) == LossRecipe()
    r = LossRecipe.from_config(tiny_cfg(snr_gamma=5.0, augment="vflip"))
    assert r == LossRecipe(snr_gamma=5.0, vflip=True)


def test_horizontal_flip_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"train\.augment = 'hflip'.*left edge"):
        validate_section("train", {"augment": "hflip"})


def test_zero_terminal_snr_needs_v_prediction_naming_both_keys() -> None:
    with pytest.raises(ConfigError) as err:
        validate_section("train", {"zero_terminal_snr": True, "prediction_type": "epsilon"})
    assert "train.zero_terminal_snr" in str(err.value)
    assert "train.prediction_type" in str(err.value)
    ok = validate_section("train", {"zero_terminal_snr": True, "prediction_type": "v_prediction"})
    assert ok.zero_terminal_snr


def test_zero_terminal_snr_reaches_the_schedule_and_every_sampler(tiny_cfg) -> None:
    sched = build_noise_scheduler(
        tiny_cfg(prediction_type="v_prediction", beta_schedule="linear", zero_terminal_snr=True)
    )
    assert float(sched.alphas_cumprod[-1]) == 0.0
    plain = build_noise_scheduler(tiny_cfg(prediction_type="v_prediction", beta_schedule="linear"))
    assert float(plain.alphas_cumprod[-1]) > 1e-5  # linear never reaches pure noise
    for name in ("ddpm", "ddim", "dpmsolver++", "unipc"):
        inference = build_scheduler(name, sched.config, prediction_type="v_prediction")
        assert inference.config.rescale_betas_zero_snr
        inference.set_timesteps(5)
        assert int(inference.timesteps[0]) == 999  # trailing starts at the pure-noise step


def test_zero_terminal_snr_model_refuses_leading_spacing(tiny_cfg) -> None:
    sched = build_noise_scheduler(tiny_cfg(prediction_type="v_prediction", zero_terminal_snr=True))
    with pytest.raises(FactoryError, match=r"sample\.timestep_spacing.*train\.zero_terminal_snr"):
        build_scheduler(
            "ddim", sched.config, prediction_type="v_prediction", timestep_spacing="leading"
        )
    plain = build_noise_scheduler(tiny_cfg(prediction_type="v_prediction"))
    build_scheduler(
        "ddim", plain.config, prediction_type="v_prediction", timestep_spacing="leading"
    )


def test_recipe_fields_are_in_the_checkpoint_signature(tiny_cfg) -> None:
    a = tiny_cfg().model_signature(("normal", "abnormal"), 16)
    for change in ({"snr_gamma": 5.0}, {"augment": "vflip"}, {"label_dropout": 0.3}):
        assert tiny_cfg(**change).model_signature(("normal", "abnormal"), 16) != a
    assert tiny_cfg(learning_rate=0.5).model_signature(("normal", "abnormal"), 16) == a


def test_checkpoint_of_another_recipe_is_refused(manifest16, tmp_path, tiny_cfg, common16) -> None:
    out = tmp_path / "train"
    train_generator(manifest16, out, common16, tiny_cfg(steps=2))
    with pytest.raises(FactoryError, match=r"snr_gamma None in the checkpoint vs 5\.0 in params"):
        train_generator(manifest16, out, common16, tiny_cfg(steps=3, snr_gamma=5.0))
    result = train_generator(
        manifest16, out, common16, tiny_cfg(steps=3, snr_gamma=5.0, augment="vflip", resume=False)
    )
    assert result.resumed_from is None and result.step == 3
