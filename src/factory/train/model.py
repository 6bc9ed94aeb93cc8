"""The generator's parts: a class-conditional diffusers UNet and its DDPM noise schedule."""

from __future__ import annotations

from diffusers import DDPMScheduler, UNet2DModel

from factory.errors import ConfigError
from factory.train.config import TrainConfig


def level_resolutions(image_size: int, levels: int) -> list[int]:
    """Feature-map side of each UNet level (each level but the last halves it)."""
    return [image_size // 2**i for i in range(levels)]


def block_types(cfg: TrainConfig, image_size: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Down and up block names: attention blocks at `cfg.attention_resolutions`."""
    levels = len(cfg.block_out_channels)
    if image_size % 2 ** (levels - 1):
        raise ConfigError(
            f"params.yaml: common.image_size = {image_size} is not divisible by "
            f"2^{levels - 1} (train.block_out_channels has {levels} levels); "
            "use fewer levels or another image size"
        )
    sides = level_resolutions(image_size, levels)
    unknown = sorted(set(cfg.attention_resolutions) - set(sides))
    if unknown:
        raise ConfigError(
            f"params.yaml: train.attention_resolutions = {list(cfg.attention_resolutions)}: "
            f"{unknown} is not a UNet level side at {image_size} px; levels are {sides}"
        )
    attn = [side in cfg.attention_resolutions for side in sides]
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attn)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn))
    return down, up


def build_unet(cfg: TrainConfig, image_size: int, num_classes: int) -> UNet2DModel:
    """A one-channel (grayscale) UNet with a class embedding and one extra "null" class.

    Label index `num_classes` is the null class used for classifier-free guidance. The
    attention blocks use diffusers' default processor, which calls PyTorch's
    scaled_dot_product_attention (SDPA, flash/memory-efficient kernels where available).
    """
    down, up = block_types(cfg, image_size)
    return UNet2DModel(
        sample_size=image_size,
        in_channels=1,
        out_channels=1,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        add_attention=cfg.mid_attention,
        attention_head_dim=cfg.attention_head_dim,
        norm_num_groups=cfg.norm_num_groups,
        dropout=cfg.dropout,
        num_class_embeds=num_classes + 1,
    )


def build_noise_scheduler(cfg: TrainConfig) -> DDPMScheduler:
    """The training noise schedule; saved with the model and reused by the sampler.

    `rescale_betas_zero_snr` travels in the saved scheduler config, so every inference
    scheduler built from it (`from_config`) gets the same zero-terminal-SNR schedule.
    """
    return DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        rescale_betas_zero_snr=cfg.zero_terminal_snr,
    )
