"""The trained generator on disk: the contract between `train` and `sample`.

Layout of a model folder (diffusers `save_pretrained` for each part):

    unet/               raw UNet2DModel weights (for inspection and fine-tuning)
    unet_ema/           EMA weights, used for sampling
    scheduler/          DDPMScheduler config (the training noise schedule)
    factory_model.json  GeneratorMeta: classes, null class, image size, hashes, steps
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from factory.errors import FactoryError
from factory.io import atomic_write_json, sha256_tree

META_FILE = "factory_model.json"


class GeneratorMeta(BaseModel):
    """What a sampler must know about a trained class-conditional DDPM."""

    model_config = ConfigDict(extra="allow", frozen=True)

    classes: tuple[str, ...]
    image_size: int
    null_class: int  # index of the classifier-free-guidance "no class" embedding
    prediction_type: str = "epsilon"
    train_steps: int = 0
    manifest_sha256: str | None = None
    model_hash: str | None = None  # sha256 over unet_ema/ (set by save_generator)


def save_generator(
    out_dir: str | Path, unet: Any, ema_unet: Any, scheduler: Any, meta: GeneratorMeta
) -> GeneratorMeta:
    """Write the model folder's parts into `out_dir` (callers make it atomic)."""
    out_dir = Path(out_dir)
    unet.save_pretrained(out_dir / "unet")
    ema_unet.save_pretrained(out_dir / "unet_ema")
    scheduler.save_pretrained(out_dir / "scheduler")
    meta = meta.model_copy(update={"model_hash": sha256_tree(out_dir / "unet_ema")})
    atomic_write_json(out_dir / META_FILE, meta.model_dump(mode="json"))
    return meta


def read_generator_meta(model_dir: str | Path) -> GeneratorMeta:
    path = Path(model_dir) / META_FILE
    if not path.exists():
        raise FactoryError(
            f"{model_dir}: not a trained model folder (no {META_FILE}); run `dvc repro train`"
        )
    return GeneratorMeta.model_validate(json.loads(path.read_text()))


def load_generator(
    model_dir: str | Path, classes: tuple[str, ...] | None = None, ema: bool = True
) -> tuple[Any, Any, GeneratorMeta]:
    """Load (unet, scheduler, meta); `classes` from params must match the model's."""
    from diffusers import DDPMScheduler, UNet2DModel

    meta = read_generator_meta(model_dir)
    if classes is not None and tuple(classes) != meta.classes:
        raise FactoryError(
            f"{model_dir}: the model was trained for classes {list(meta.classes)} but "
            f"common.classes is {list(classes)}; retrain or fix params.yaml"
        )
    unet = UNet2DModel.from_pretrained(Path(model_dir) / ("unet_ema" if ema else "unet"))
    scheduler = DDPMScheduler.from_pretrained(Path(model_dir) / "scheduler")
    return unet, scheduler, meta
