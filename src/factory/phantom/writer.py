"""`write_layout`: the one entry point that writes a phantom set in a public layout.

The set is built in a staging folder and swapped into place only when complete
(`factory.io.atomic_dir`), so a crash leaves the previous set or none. Beside the images it
writes `phantom_truth.json`, the ground truth each file was made from. That file is a test
aid (a reader of real data never has it, so ingest must not use it); it holds no real PHI,
only the fake values the DICOM headers carry, so PHI-scanning tests know what to look for.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from factory.errors import FactoryError
from factory.io import atomic_dir, atomic_write_json, read_json
from factory.leftovers import holding, sweep
from factory.phantom.cohort import BIRADS_COUNTS, draw_cohort
from factory.phantom.config import LAYOUTS
from factory.phantom.jobs import run_jobs
from factory.phantom.layouts import cbis, folder, inbreast, mias, rsna, vindr
from factory.phantom.marker import MARKER_FILE, marker

TRUTH_FILE = "phantom_truth.json"
MIN_HEIGHT, MAX_HEIGHT = 64, 4084

PLANNERS = {
    "inbreast": inbreast.plan,
    "rsna": rsna.plan,
    "cbis-ddsm": cbis.plan,
    "vindr": vindr.plan,
    "mias": mias.plan,
    "folder": folder.plan,
}
assert tuple(PLANNERS) == LAYOUTS


def _check_inputs(
    kind: str, out: Path, patients: int, height: int, seed: int, workers: int, options: dict
) -> None:
    if kind not in PLANNERS:
        raise FactoryError(
            f"unknown phantom layout {kind!r}: expected one of {', '.join(PLANNERS)}"
        )
    if isinstance(patients, bool) or not isinstance(patients, int) or patients < 1:
        raise FactoryError(f"phantom patients = {patients!r}: expected a whole number >= 1")
    if (
        isinstance(height, bool)
        or not isinstance(height, int)
        or not MIN_HEIGHT <= height <= MAX_HEIGHT
    ):
        raise FactoryError(
            f"phantom height = {height!r}: expected a whole number of pixels from {MIN_HEIGHT} "
            f"to {MAX_HEIGHT}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise FactoryError(f"phantom seed = {seed!r}: expected a whole number >= 0")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise FactoryError(f"phantom workers = {workers!r}: expected a whole number >= 1")
    known = [
        p
        for p in inspect.signature(PLANNERS[kind]).parameters
        if p not in ("cohort", "seed", "height")
    ]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise FactoryError(
            f"phantom layout {kind!r} has no option {unknown[0]!r}; its options: "
            f"{', '.join(known) or 'none'}"
        )
    if out.exists() and not out.is_dir():
        raise FactoryError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not is_phantom_set(out):
        raise FactoryError(
            f"{out}: folder holds other files (not a phantom set); choose an empty or new --out "
            "folder, nothing was written"
        )


# Files a stage or user step may add beside a phantom set without making it "other files".
ADDED_BY_STAGE = frozenset({"config.json"})


def _relative_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def is_phantom_set(folder: Path) -> bool:
    """True when `folder` holds only what `write_layout` wrote there (so replacing it
    loses nothing); a single extra file makes it someone's folder."""
    try:
        truth = read_json(folder / TRUTH_FILE)
        if truth.get("written_by") != "factory.phantom":
            return False
        known = set(truth["written_files"]) | {TRUTH_FILE, MARKER_FILE} | ADDED_BY_STAGE
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return False
    return set(_relative_files(folder)) <= known


def write_layout(
    kind: str,
    out: Path | str,
    *,
    patients: int,
    seed: int,
    height: int,
    workers: int = 1,
    progress: bool = True,
    **options: object,
) -> Path:
    """Write a synthetic mammography set in the on-disk layout of public dataset `kind`.

    kind: inbreast, rsna, cbis-ddsm, vindr, mias or folder. `height` is the image height
    in pixels (64..4084); `options` are the layout's own (inbreast: png, dicom; folder:
    label). The same (kind, patients, seed, height, options) give byte-identical files,
    whatever `workers`. Returns `out`; the truth per file is in `out/phantom_truth.json`.
    """
    out = Path(out)
    _check_inputs(kind, out, patients, height, seed, workers, options)
    cohort = draw_cohort(seed, patients)
    plan = PLANNERS[kind](cohort, seed=seed, height=height, **options)
    # A killed run left its staging folder (`.<name>.XXXX.tmp`, or `.<name>.old-PID` from
    # the swap): remove those no live run holds, then hold this run's own.
    sweep(out.parent, (f".{out.name}.*.tmp", f".{out.name}.old-*"))
    with atomic_dir(out) as staging, holding(staging):
        records = run_jobs(
            plan.jobs, staging, workers=workers, progress=progress, desc=f"phantom {kind}"
        )
        plan.finish(staging, records)
        written = _relative_files(staging)
        atomic_write_json(
            staging / TRUTH_FILE,
            {
                "about": "Ground truth of a SYNTHETIC phantom set, a test aid: what each file "
                "was made from. Real datasets have no such file; readers must not use it. "
                "The PHI values are fake.",
                "written_by": "factory.phantom",
                "layout": kind,
                "seed": seed,
                "patients": patients,
                "height": height,
                "options": options,
                "birads_proportions": {k: round(v / 410, 4) for k, v in BIRADS_COUNTS.items()},
                "written_files": written,
                "images": records,
            },
        )
        # What this set is, for ingest to record (Contract 3; factory.phantom.marker).
        atomic_write_json(staging / MARKER_FILE, marker(kind))
    return out


def read_truth(folder: Path | str) -> list[dict]:
    """The per-image truth records of a phantom set (for tests)."""
    return read_json(Path(folder) / TRUTH_FILE)["images"]
