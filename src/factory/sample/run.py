"""Drawing a synthetic set to disk: sharded over processes, resumable, atomic at the end.

Layout of a sample folder:

    images/<class>/<image_id>.png   16-bit PNGs, each written atomically
    metadata.parquet                written last, by the main process: a set is complete
                                    exactly when this file exists
    grids/<class>.png               preview grids
    .progress/settings.json         what the images were drawn with (a change starts over)
    .progress/records-<rank>.jsonl  one metadata row per finished image, per process

Resuming: an image is skipped when its PNG exists, a record of it is in `.progress/` and
the PNG's hash matches the record. Processes split the plan by image position, so every
process computes the same shards without talking to the others.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from factory.accel import make_accelerator
from factory.errors import FactoryError
from factory.generator import GeneratorMeta, load_generator
from factory.io import (
    atomic_write_json,
    read_json,
    read_png16,
    save_resolved_config,
    sha256_file,
    sha256_tree,
    write_png16,
)
from factory.leftovers import sweep
from factory.sample.config import SampleConfig
from factory.sample.grid import write_grid
from factory.sample.metadata import METADATA_FILE, metadata_frame, write_metadata
from factory.sample.plan import PlannedImage, plan_images, shard
from factory.sample.sampler import (
    build_scheduler,
    image_generators,
    nonfinite_rows,
    sample,
    to_uint16,
)

PROGRESS = ".progress"


@dataclass(frozen=True)
class SampleSummary:
    """What one process did (the counts of the whole set on the main process)."""

    out_dir: Path
    is_main: bool
    model_hash: str
    per_class: dict[str, int]
    drawn: int  # images this process sampled now
    resumed: int  # images of this process's shard found already done
    seconds: float


@dataclass(frozen=True)
class LoadedModel:
    unet: Any
    training_scheduler_config: Any
    meta: GeneratorMeta
    model_hash: str


def load_model(
    model_dir: str | Path, classes: tuple[str, ...], image_size: int | None, ema: bool = True
) -> LoadedModel:
    """Load the generator and check it is one this set can be drawn from."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FactoryError(f"{model_dir}: no trained model here; run `dvc repro train` first")
    unet, scheduler, meta = load_generator(model_dir, classes, ema=ema)
    embeds = unet.config.num_class_embeds
    if embeds is None or embeds <= meta.null_class:
        raise FactoryError(
            f"{model_dir}: the UNet has num_class_embeds={embeds} but the null class is "
            f"{meta.null_class}; it is not a class-conditional model of this project: retrain"
        )
    if image_size is not None and unet.config.sample_size != image_size:
        raise FactoryError(
            f"{model_dir}: the model makes {unet.config.sample_size} px images but "
            f"common.image_size is {image_size}; retrain or fix params.yaml"
        )
    weights = model_dir / ("unet_ema" if ema else "unet")
    model_hash = sha256_tree(weights)
    if ema and meta.model_hash and meta.model_hash != model_hash:
        raise FactoryError(
            f"{weights}: the weights changed after training (hash differs from "
            f"factory_model.json's model_hash); re-run `dvc repro train` or restore them"
        )
    return LoadedModel(unet.eval(), scheduler.config, meta, model_hash)


def run_settings(cfg: SampleConfig, model: LoadedModel, seed: int) -> dict[str, Any]:
    """Everything that changes the pixels of an image (not the batch size: see docs)."""
    return {
        "model_hash": model.model_hash,
        "ema": cfg.ema,
        "seed": seed,
        "scheduler": cfg.scheduler,
        "steps": cfg.steps,
        "guidance": cfg.guidance_scale,
        "timestep_spacing": cfg.timestep_spacing,
    }


def metadata_row(p: PlannedImage, cfg: SampleConfig, model_hash: str, sha256: str) -> dict:
    return {
        "image_id": p.image_id,
        "label": p.label,
        "class_name": p.class_name,
        "seed": p.seed,
        "scheduler": cfg.scheduler,
        "steps": cfg.steps,
        "guidance": cfg.guidance_scale,
        "model_hash": model_hash,
        "path": p.path,
        "sha256": sha256,
    }


def read_records(out_dir: Path) -> dict[str, dict]:
    """Finished-image records of every process (a torn last line from a crash is skipped)."""
    records: dict[str, dict] = {}
    for path in sorted((out_dir / PROGRESS).glob("records-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "image_id" in rec:
                records[rec["image_id"]] = rec
    return records


def append_record(path: Path, record: dict) -> None:
    """Append one JSON line, first ending any line a crash left unterminated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab+") as fh:
        fh.seek(0, 2)
        if fh.tell() > 0:
            fh.seek(-1, 2)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
        fh.write((json.dumps(record) + "\n").encode("utf-8"))
        fh.flush()


def is_done(p: PlannedImage, records: dict[str, dict], out_dir: Path) -> bool:
    rec = records.get(p.image_id)
    png = out_dir / p.path
    return (
        rec is not None
        and rec.get("seed") == p.seed
        and png.is_file()
        and sha256_file(png) == rec.get("sha256")
    )


def prepare_out_dir(out_dir: Path, settings: dict, plan: list[PlannedImage]) -> None:
    """Main process, before sampling: start over if the settings changed, drop the
    completion marker (and config.json, grids) and remove files outside the plan (a
    killed run's temporaries included)."""
    progress = out_dir / PROGRESS
    settings_path = progress / "settings.json"
    if settings_path.exists() and read_json(settings_path) != settings:
        shutil.rmtree(out_dir / "images", ignore_errors=True)
        shutil.rmtree(progress, ignore_errors=True)
    for stale in (METADATA_FILE, "config.json"):
        (out_dir / stale).unlink(missing_ok=True)
    # half-written files of a killed run (atomic writes' temporaries)
    sweep(out_dir, tuple(f".{name}.*.tmp" for name in (METADATA_FILE, "config.json")))
    shutil.rmtree(out_dir / "grids", ignore_errors=True)
    wanted = {p.path for p in plan}
    images = out_dir / "images"
    if images.exists():
        for f in [f for f in images.rglob("*") if f.is_file()]:
            if f.relative_to(out_dir).as_posix() not in wanted:
                f.unlink()
    atomic_write_json(settings_path, settings)


def batches(items: list[PlannedImage], size: int) -> Iterator[list[PlannedImage]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def draw_batch(
    model: LoadedModel, cfg: SampleConfig, batch: list[PlannedImage], device: torch.device
) -> torch.Tensor:
    """Sample `batch`, always running the UNet on `cfg.batch_size` rows.

    The short last batch is padded with copies of its last image (thrown away): CPU BLAS
    kernels give rounding-level differences between batch shapes (batch 1 especially), so
    a fixed shape makes each image bit-identical whichever images share its batch, i.e.
    across process counts and resumes.
    """
    padded = batch + [batch[-1]] * (cfg.batch_size - len(batch))
    labels = torch.tensor([p.label for p in padded], device=device)
    scheduler = build_scheduler(
        cfg.scheduler,
        model.training_scheduler_config,
        prediction_type=model.meta.prediction_type,
        timestep_spacing=cfg.timestep_spacing,
    )
    x = sample(
        model.unet,
        scheduler,
        labels,
        image_generators([p.seed for p in padded]),
        steps=cfg.steps,
        guidance=cfg.guidance_scale,
        null_class=model.meta.null_class,
    )
    return x[: len(batch)]


def check_finite(x: torch.Tensor, batch: list[PlannedImage], cfg: SampleConfig, where: Path):
    bad = nonfinite_rows(x)
    if bad:
        ids = ", ".join(batch[i].image_id for i in bad[:3])
        raise FactoryError(
            f"{where}: the model produced NaN/Inf for {len(bad)} image(s) ({ids}) with "
            f"{cfg.scheduler}-{cfg.steps}; the model diverged: retrain it (e.g. lower the "
            "learning rate) or sample from an earlier checkpoint"
        )


def write_grids(out_dir: Path, plan: list[PlannedImage], per_class: int) -> None:
    for name in dict.fromkeys(p.class_name for p in plan):
        chosen = [p for p in plan if p.class_name == name][:per_class]
        if chosen:
            images = [read_png16(out_dir / p.path) for p in chosen]
            write_grid(out_dir / "grids" / f"{name}.png", images, f"{name}: {len(images)} samples")


def finalize(out_dir: Path, plan: list[PlannedImage], cfg: SampleConfig) -> None:
    """Main process, after every process finished: metadata table and grids."""
    records = read_records(out_dir)
    missing = [p.image_id for p in plan if p.image_id not in records]
    missing += [p.image_id for p in plan if not (out_dir / p.path).is_file()]
    if missing:
        raise FactoryError(
            f"{out_dir}: {len(set(missing))} planned image(s) were not drawn (e.g. "
            f"{missing[0]}); a process stopped early: run again to resume"
        )
    write_grids(out_dir, plan, cfg.grid_per_class)
    write_metadata(out_dir, metadata_frame([records[p.image_id] for p in plan]))


def sample_set(
    model_dir: str | Path,
    out_dir: str | Path,
    cfg: SampleConfig,
    *,
    classes: tuple[str, ...],
    seed: int,
    image_size: int | None = None,
    accelerator: Any = None,
    progress: bool = True,
) -> SampleSummary:
    """Draw the set `cfg` describes from the model in `model_dir` into `out_dir`.

    Run in every process of a torchrun/accelerate launch (or alone); each draws its shard; the
    main process writes `metadata.parquet` once all images exist. Resumes a stopped run.
    """
    accelerator = accelerator if accelerator is not None else make_accelerator()  # fp32
    start = time.perf_counter()
    out_dir = Path(out_dir)
    model = load_model(model_dir, classes, image_size, ema=cfg.ema)
    model.unet.to(accelerator.device)
    plan = plan_images(cfg.per_class, classes, seed)
    if accelerator.is_main_process:
        prepare_out_dir(out_dir, run_settings(cfg, model, seed), plan)
    accelerator.wait_for_everyone()

    mine = shard(plan, accelerator.process_index, accelerator.num_processes)
    records = read_records(out_dir)
    todo = [p for p in mine if not is_done(p, records, out_dir)]
    record_file = out_dir / PROGRESS / f"records-{accelerator.process_index}.jsonl"
    bar = tqdm(
        total=len(mine),
        initial=len(mine) - len(todo),
        unit="img",
        desc=f"sample {cfg.scheduler}-{cfg.steps}",
        disable=not (progress and accelerator.is_main_process),
    )
    for batch in batches(todo, cfg.batch_size):
        x = draw_batch(model, cfg, batch, accelerator.device)
        check_finite(x, batch, cfg, Path(model_dir))
        for p, pixels in zip(batch, to_uint16(x), strict=True):
            sha = write_png16(out_dir / p.path, pixels)
            append_record(record_file, metadata_row(p, cfg, model.model_hash, sha))
        bar.update(len(batch))
    bar.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        finalize(out_dir, plan, cfg)
    counts: dict[str, int] = {}
    for p in plan:
        counts[p.class_name] = counts.get(p.class_name, 0) + 1
    return SampleSummary(
        out_dir=out_dir,
        is_main=accelerator.is_main_process,
        model_hash=model.model_hash,
        per_class=counts,
        drawn=len(todo),
        resumed=len(mine) - len(todo),
        seconds=time.perf_counter() - start,
    )


def save_sample_config(
    out_dir: str | Path, common: Any, cfg: SampleConfig, summary: SampleSummary, model_dir: Any
) -> Path:
    """`config.json` beside the set: the resolved sections and the model sampled from."""
    return save_resolved_config(
        out_dir,
        common=common.model_dump(mode="json"),
        sample=cfg.model_dump(mode="json"),
        model={"dir": str(model_dir), "model_hash": summary.model_hash},
        counts=summary.per_class,
    )
