"""Planted sets: known-bad and known-good "synthetic" sets built from real images.

They measure the gate's power (docs/gate.md, "Gate power"; benchmarks/gate_power.py):
every known-bad set must fail at least one gate, every known-good set must pass. Each
builder takes the real splits of an ingest output (`RealSets`) and a seed and returns a
`Planted` set; `gate_inputs` turns it into the `GateInputs` that `assess` judges, so the
sets go through the real gate, not a copy of its rules.

Known-bad: blurred training images, held-out images on a noisy background, shuffled
labels, exact and lightly perturbed training copies, one image per class repeated with
small noise (mode collapse). Known-good: real held-out images presented as a synthetic set
(`heldout`), and an independent phantom draw (`phantom_draw`, which renders and ingests one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter, shift

from factory.errors import FactoryError
from factory.gate.assess import GateInputs
from factory.manifest import class_index, load_images, read_manifest

BAD, GOOD = "bad", "good"


@dataclass(frozen=True)
class RealSets:
    """The real splits of one ingest output; images [N, H, W] float32 in [0, 1]."""

    classes: tuple[str, ...]
    train: np.ndarray
    train_labels: np.ndarray
    train_ids: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray
    val_patients: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    test_patients: np.ndarray


@dataclass(frozen=True)
class Planted:
    """A planted synthetic set and what the gate should say about it.

    `val`/`val_labels` replace the real val split when set (the held-out set re-draws
    which held-out patients are the reference and which are "synthetic").
    """

    name: str
    kind: str  # BAD (must fail a gate) or GOOD (must pass every gate)
    description: str
    images: np.ndarray
    labels: np.ndarray
    seed: int
    val: np.ndarray | None = None
    val_labels: np.ndarray | None = None


def load_real(ingest_dir: str | Path, classes: tuple[str, ...]) -> RealSets:
    """Train, val and test images of an ingest output folder (manifest.parquet + images/)."""
    path = Path(ingest_dir) / "manifest.parquet"
    if not path.is_file():
        raise FactoryError(
            f"{path}: no manifest; point --ingest at an ingest output folder "
            "(outputs/ingest of a `dvc repro` copy)"
        )
    manifest = read_manifest(path)
    parts = {}
    for split in ("train", "val", "test"):
        rows = manifest[manifest["split"] == split].reset_index(drop=True)
        if rows.empty:
            raise FactoryError(f"{path}: split {split!r} is empty; the planted sets need all three")
        images = load_images(rows, path.parent).astype(np.float32) / 65535.0
        labels = class_index(rows["label"], classes, str(path))
        parts[split] = (images, labels, rows)
    return RealSets(
        classes=tuple(classes),
        train=parts["train"][0],
        train_labels=parts["train"][1],
        train_ids=parts["train"][2]["image_id"].astype(str).to_numpy(),
        val=parts["val"][0],
        val_labels=parts["val"][1],
        val_patients=parts["val"][2]["patient_id"].astype(str).to_numpy(),
        test=parts["test"][0],
        test_labels=parts["test"][1],
        test_patients=parts["test"][2]["patient_id"].astype(str).to_numpy(),
    )


def gate_inputs(real: RealSets, planted: Planted) -> GateInputs:
    """The GateInputs of a planted set: its images against the real train (and val) split."""
    val = real.val if planted.val is None else planted.val
    val_labels = real.val_labels if planted.val_labels is None else planted.val_labels
    args = {
        "classes": real.classes,
        "fake": np.ascontiguousarray(planted.images, dtype=np.float32),
        "fake_labels": np.asarray(planted.labels, dtype=np.int64),
        "train": real.train,
        "train_labels": real.train_labels,
        "train_ids": real.train_ids,
        "val": val,
    }
    names = {f.name for f in dataclasses.fields(GateInputs)}
    if "val_labels" in names:  # the real-vs-real reference needs the val labels
        args["val_labels"] = np.asarray(val_labels, dtype=np.int64)
    return GateInputs(**args)


def _stratified_pick(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of n items drawn without replacement, class proportions kept (>= 3 each)."""
    if n > len(labels):
        raise FactoryError(f"planted set: asked for {n} images of a split of {len(labels)}")
    picks = []
    classes = np.unique(labels)
    for c in classes:
        idx = np.flatnonzero(labels == c)
        k = max(3, round(n * len(idx) / len(labels)))
        picks.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(picks))


def heldout(real: RealSets, seed: int, min_per_class: int = 6) -> Planted:
    """Known-good: real held-out images presented as a synthetic set.

    The val and test patients are pooled and re-split by patient, seeded, in the ingest's
    val:test proportion of images: a random permutation of the patients is walked and a
    patient joins the reference val set while its class (the patient's first image's) is
    short of its share. Draws that leave fewer than `min_per_class` images of a class on
    either side (the per-class metrics need prdc_k + 1) are redrawn from the same stream.
    """
    rng = np.random.default_rng(seed)
    images = np.concatenate([real.val, real.test])
    labels = np.concatenate([real.val_labels, real.test_labels])
    patients = np.concatenate([real.val_patients, real.test_patients])
    first: dict[str, int] = {}
    for p, lab in zip(patients, labels, strict=True):
        first.setdefault(str(p), int(lab))
    share = len(real.val) / len(images)
    for _ in range(1000):
        is_val = np.zeros(len(images), dtype=bool)
        for p in rng.permutation(sorted(first)):
            c = first[p]
            if is_val[labels == c].sum() < share * (labels == c).sum():
                is_val |= patients == p
        counts = [np.bincount(labels[m], minlength=len(real.classes)) for m in (is_val, ~is_val)]
        if min(c.min() for c in counts) >= min_per_class:
            break
    else:
        raise FactoryError(
            f"held-out set: no patient split of the {len(images)} val+test images leaves "
            f"{min_per_class} images of every class on both sides; ingest more patients"
        )
    return Planted(
        "heldout",
        GOOD,
        f"real held-out images re-split by patient: {int((~is_val).sum())} as the synthetic "
        f"set, {int(is_val.sum())} as the reference val set",
        images[~is_val],
        labels[~is_val],
        seed,
        val=images[is_val],
        val_labels=labels[is_val],
    )


def blurred(real: RealSets, seed: int, n: int = 46, sigma: float = 1.5) -> Planted:
    """Known-bad: training images blurred with a Gaussian of `sigma` px."""
    rng = np.random.default_rng(seed)
    idx = _stratified_pick(real.train_labels, n, rng)
    images = np.stack([gaussian_filter(im, sigma) for im in real.train[idx]])
    return Planted(
        "blurred_train",
        BAD,
        f"{len(idx)} training images, Gaussian blur sigma {sigma} px",
        images,
        real.train_labels[idx],
        seed,
    )


def blurred_heldout(real: RealSets, seed: int, sigma: float = 1.5) -> Planted:
    """Known-bad (diagnostic): held-out test images blurred; no copy detector can help."""
    images = np.stack([gaussian_filter(im, sigma) for im in real.test])
    return Planted(
        "blurred_heldout",
        BAD,
        f"the {len(images)} test images, Gaussian blur sigma {sigma} px",
        images,
        real.test_labels,
        seed,
    )


def noisy_background(real: RealSets, seed: int, sd: float = 0.05) -> Planted:
    """Known-bad: held-out images whose background (pixels at 0) gets |N(0, sd)| noise."""
    rng = np.random.default_rng(seed)
    images = real.test.copy()
    background = images <= 1.0 / 65535
    noise = np.abs(rng.normal(0.0, sd, images.shape)).astype(np.float32)
    images[background] = np.clip(noise[background], 0, 1)
    return Planted(
        "noisy_background",
        BAD,
        f"the {len(images)} test images, background set to |N(0, {sd})| noise",
        images,
        real.test_labels,
        seed,
    )


def shuffled_labels(real: RealSets, seed: int) -> Planted:
    """Known-bad: held-out images with their labels randomly permuted."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(real.test_labels)
    kept = float((labels == real.test_labels).mean())
    return Planted(
        "shuffled_labels",
        BAD,
        f"the {len(labels)} test images, labels permuted ({kept:.0%} still right)",
        real.test,
        labels,
        seed,
    )


def copies(real: RealSets, seed: int, n: int = 46) -> Planted:
    """Known-bad: exact copies of training images."""
    idx = _stratified_pick(real.train_labels, n, np.random.default_rng(seed))
    return Planted(
        "exact_copies",
        BAD,
        f"{len(idx)} training images, unchanged",
        real.train[idx].copy(),
        real.train_labels[idx],
        seed,
    )


def perturbed_copies(real: RealSets, seed: int, n: int = 46, sd: float = 0.02) -> Planted:
    """Known-bad: training images shifted by up to 1 px, gain 0.95-1.05, N(0, sd) noise."""
    rng = np.random.default_rng(seed)
    idx = _stratified_pick(real.train_labels, n, rng)
    out = []
    for im in real.train[idx]:
        moved = shift(im, rng.integers(-1, 2, size=2), order=0, mode="constant")
        noisy = moved * rng.uniform(0.95, 1.05) + rng.normal(0, sd, im.shape) * (moved > 0)
        out.append(np.clip(noisy, 0, 1))
    return Planted(
        "perturbed_copies",
        BAD,
        f"{len(idx)} training images, shift <= 1 px, gain 0.95-1.05, noise sd {sd} on the breast",
        np.stack(out).astype(np.float32),
        real.train_labels[idx],
        seed,
    )


def mode_collapse(real: RealSets, seed: int, per_class: int = 23, sd: float = 0.01) -> Planted:
    """Known-bad: one held-out image per class, repeated with N(0, sd) noise on the breast."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in np.unique(real.test_labels):
        base = real.test[rng.choice(np.flatnonzero(real.test_labels == c))]
        noise = rng.normal(0, sd, (per_class, *base.shape)) * (base > 0)
        images.append(np.clip(base + noise, 0, 1))
        labels += [int(c)] * per_class
    return Planted(
        "mode_collapse",
        BAD,
        f"one test image per class, each repeated {per_class} times with noise sd {sd}",
        np.concatenate(images).astype(np.float32),
        np.asarray(labels),
        seed,
    )


def demo_set(samples_dir: str | Path, classes: tuple[str, ...]) -> Planted:
    """Known-bad: a sample stage output (the demo generator's own set), as the gate reads it."""
    from factory.gate.run import _to_unit, read_samples
    from factory.io import read_png16

    samples = read_samples(samples_dir, classes)
    images = np.stack([read_png16(Path(samples_dir) / p) for p in samples["path"]])
    return Planted(
        "demo_generator",
        BAD,
        f"the demo generator's {len(images)} sampled images ({samples_dir})",
        _to_unit(images),
        samples["label"].astype(int).to_numpy(),
        0,
    )


# A fixed pseudonym key for the phantom draws: they are synthetic (no identifiers to
# protect) and a fixed key keeps their image ids stable across runs.
PHANTOM_KEY = b"gate-power-phantom-draw-key"


def phantom_draw(
    work_dir: str | Path, seed: int, params_path: str | Path = "params.yaml", patients: int = 30
) -> Planted:
    """Known-good: a fresh phantom cohort (another seed), rendered and ingested like the demo.

    params.yaml's phantom and ingest sections are used as the pipeline uses them, except
    the seed and the number of patients. Every ingested image (all splits) is the set.
    """
    import yaml

    from factory.ingest import ingest
    from factory.params import validate_section
    from factory.phantom import write_layout

    # Only the three sections used are validated: the rest of the file is not ours to need.
    raw = yaml.safe_load(Path(params_path).read_text()) or {}
    common, cfg, ingest_cfg = (
        validate_section(name, raw.get(name), str(params_path))
        for name in ("common", "phantom", "ingest")
    )
    work = Path(work_dir) / f"phantom-seed{seed}-p{patients}"
    manifest_path = work / "ingest" / "manifest.parquet"
    if not manifest_path.is_file():  # a finished draw is reused (same inputs, same bytes)
        src = write_layout(
            cfg.layout,
            work / "src",
            patients=patients,
            seed=seed,
            height=cfg.height,
            workers=cfg.workers,
            progress=False,
        )
        ingest(
            src,
            work / "ingest",
            common=common.model_copy(update={"seed": seed}),
            config=ingest_cfg,
            key=PHANTOM_KEY,
            progress=False,
        )
    manifest = read_manifest(manifest_path)
    images = load_images(manifest, manifest_path.parent).astype(np.float32) / 65535.0
    return Planted(
        "phantom_draw",
        GOOD,
        f"an independent phantom draw (seed {seed}, {patients} patients, "
        f"{len(images)} images), ingested with params.yaml's ingest section",
        images,
        class_index(manifest["label"], common.classes, str(manifest_path)),
        seed,
    )


BAD_BUILDERS = {
    "blurred_train": blurred,
    "blurred_heldout": blurred_heldout,
    "noisy_background": noisy_background,
    "shuffled_labels": shuffled_labels,
    "exact_copies": copies,
    "perturbed_copies": perturbed_copies,
    "mode_collapse": mode_collapse,
}
