"""Steps versus quality on the demo model: KID and FRD per sampler, and the default pick.

    .venv/bin/python benchmarks/sampler_quality.py --model outputs/train/model \
        --manifest outputs/ingest/manifest.parquet --per-class 50 [--out FILE.md]

Draws one synthetic set per sampler with the sample stage's own `sample_set` (same seeds,
so every sampler starts from the same noise; sets are kept under --work and resume), and
compares each with the generator's real training images (manifest split `train`), all
classes pooled, with the gate's functions: KID through torchmetrics on the gate's
weight-free `random_cnn` features, FRD (v1) with the frd-score package. The default
sampler is the one with the fewest steps whose KID and FRD are both within 10% of
ddpm-1000's, i.e. not worse by more than 10% of its magnitude (for KID, or by no more
than the subset standard deviation: see `kid_within`).
Writes a Markdown table to stdout and to --out.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SAMPLERS = (
    "ddpm-1000",
    "ddim-50",
    "ddim-100",
    "dpmsolver++-10",
    "dpmsolver++-20",
    "dpmsolver++-25",
    "dpmsolver++-50",
)
TOLERANCE = 0.10


@dataclass(frozen=True)
class Row:
    sampler: str
    steps: int
    seconds: float
    kid: float
    kid_std: float
    frd: float


def parse_sampler(spec: str) -> tuple[str, int]:
    """'dpmsolver++-25' -> ('dpmsolver++', 25)."""
    name, _, steps = spec.rpartition("-")
    if not name or not steps.isdigit():
        raise SystemExit(f"--samplers: {spec!r} is not <scheduler>-<steps>, e.g. ddim-50")
    return name, int(steps)


def within(value: float, reference: float, tolerance: float = TOLERANCE) -> bool:
    """Not worse (larger) than `reference` by more than `tolerance` of its magnitude."""
    return value <= reference + tolerance * abs(reference)


def kid_within(row: Row, ref: Row, tolerance: float = TOLERANCE) -> bool:
    """KID within 10% of the reference's, or closer to it than the larger of the two
    subset standard deviations: on a small demo set ddpm-1000's KID can sit below its own
    sd, and a relative band narrower than the measurement noise would reject everything."""
    noise = max(row.kid_std, ref.kid_std)
    return within(row.kid, ref.kid, tolerance) or row.kid - ref.kid <= noise


def pick_default(rows: list[Row], reference: str = "ddpm-1000") -> Row | None:
    """The row with the fewest steps whose KID and FRD are within 10% of the reference."""
    ref = next((r for r in rows if r.sampler == reference), None)
    if ref is None:
        return None
    good = [r for r in rows if kid_within(r, ref) and within(r.frd, ref.frd)]
    return min(good, key=lambda r: (r.steps, r.kid), default=None)


def markdown(rows: list[Row], pick: Row | None, header: str) -> str:
    lines = [
        header,
        "",
        "| sampler | steps | KID (mean ± std) | FRD (v1, log) | wall s | default |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        mark = "**yes**" if pick is not None and r.sampler == pick.sampler else ""
        lines.append(
            f"| {r.sampler} | {r.steps} | {r.kid:.5f} ± {r.kid_std:.5f} | {r.frd:.3f} | "
            f"{r.seconds:.0f} | {mark} |"
        )
    lines.append("")
    if pick is None:
        lines.append("No sampler is within 10% of ddpm-1000 on both KID and FRD.")
    else:
        lines.append(
            f"Default: **{pick.sampler}** (fewest steps with KID and FRD within 10% of ddpm-1000)."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("outputs/train/model"))
    parser.add_argument("--manifest", type=Path, default=Path("outputs/ingest/manifest.parquet"))
    parser.add_argument("--per-class", type=int, default=50, help="images per class per set")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--samplers", default=",".join(DEFAULT_SAMPLERS))
    parser.add_argument("--work", type=Path, default=Path("outputs/sampler_quality"))
    parser.add_argument("--out", type=Path, default=Path("outputs/sampler_quality/table.md"))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()

    import numpy as np
    import torch
    import yaml

    from factory.gate.features import build_extractor, extract_features
    from factory.gate.metrics import frd_features, frd_from_features, kid
    from factory.io import atomic_write_text, read_png16
    from factory.manifest import load_images, read_manifest
    from factory.params import validate_section
    from factory.sample.metadata import read_metadata
    from factory.sample.run import sample_set

    torch.set_num_threads(args.threads)
    logging.getLogger("radiomics").setLevel(logging.ERROR)  # it logs every feature class
    raw = yaml.safe_load(args.params.read_text()) or {}
    common = validate_section("common", raw.get("common"), str(args.params))
    base = validate_section("sample", raw.get("sample"), str(args.params))
    gate = validate_section("gate", raw.get("gate"), str(args.params))
    samplers = [parse_sampler(s) for s in args.samplers.split(",") if s]

    manifest = read_manifest(args.manifest)
    train = manifest[manifest["split"] == "train"]
    real = load_images(train, args.manifest.parent).astype(np.float32) / 65535.0
    extractor = build_extractor("random_cnn", seed=gate.feature_seed)
    real_feats = extract_features(real, extractor, gate.batch_size, "real features")
    real_radiomics = frd_features(real, gate.frd_workers)

    rows = []
    for name, steps in samplers:
        cfg = base.model_copy(
            update={"scheduler": name, "steps": steps, "per_class": args.per_class}
        )
        out = args.work / f"{name}-{steps}"
        start = time.perf_counter()
        sample_set(
            args.model,
            out,
            cfg,
            classes=common.classes,
            seed=common.seed,
            image_size=common.image_size,
        )
        seconds = time.perf_counter() - start
        df = read_metadata(out)
        fake = np.stack([read_png16(out / p) for p in df["path"]]).astype(np.float32) / 65535.0
        fake_feats = extract_features(fake, extractor, gate.batch_size, f"{name}-{steps}")
        kid_mean, kid_std = kid(
            real_feats,
            fake_feats,
            subset_size=gate.kid_subset_size,
            subsets=gate.kid_subsets,
            seed=common.seed,
        )
        frd_value = frd_from_features(real_radiomics, frd_features(fake, gate.frd_workers))
        rows.append(Row(f"{name}-{steps}", steps, seconds, kid_mean, kid_std, frd_value))
        print(f"{name}-{steps}: KID {kid_mean:.5f} FRD {frd_value:.3f} ({seconds:.0f} s)")

    header = (
        f"Model `{args.model}`, {args.per_class} images per class against "
        f"{len(real)} real training images; guidance {base.guidance_scale}, "
        f"timestep spacing {base.timestep_spacing}; {args.threads} threads, "
        f"load average {os.getloadavg()[0]:.1f}."
    )
    table = markdown(rows, pick_default(rows), header)
    print(table)
    atomic_write_text(args.out, table)


if __name__ == "__main__":
    main()
