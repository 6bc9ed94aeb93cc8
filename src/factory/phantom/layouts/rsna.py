"""RSNA Screening Mammography: `train.csv` + `train_images/<patient_id>/<image_id>.dcm`.

As in the competition data: JPEG 2000 lossless (where an encoder is installed; the JPEG
Lossless SV1 files real sites also send have no Python encoder), both photometric
interpretations, SIGMOID VOI on some machines, several windows per file, padding, small
breasts in large fields, burned-in markers, and no Modality or ViewPosition tags (the view
is only in the CSV). The label is `cancer`.
"""

from __future__ import annotations

from pathlib import Path

from factory.phantom.cohort import Breast, Patient, patient_rng
from factory.phantom.encode import Encoding, spread_encodings
from factory.phantom.jobs import Job, Output
from factory.phantom.layouts.base import (
    LayoutPlan,
    all_syntaxes,
    base_truth,
    even,
    header,
    spec,
    text_flags,
    views,
    write_csv,
)

COLUMNS = [
    "site_id",
    "patient_id",
    "image_id",
    "laterality",
    "view",
    "age",
    "cancer",
    "biopsy",
    "invasive",
    "BIRADS",
    "implant",
    "density",
    "machine_id",
    "difficult_negative_case",
]
# Which (photometric, VOI function) each machine writes, like the real sites' vendors.
MACHINES = {
    ("MONOCHROME2", "LINEAR"): 21,
    ("MONOCHROME2", "SIGMOID"): 49,
    ("MONOCHROME1", "LINEAR"): 93,
    ("MONOCHROME1", "SIGMOID"): 216,
}
ASPECT = 0.8


def _birads_column(birads: str) -> str:
    """RSNA's BIRADS: 1 negative, 2 benign, 0 call-back (anything suspicious)."""
    return {"1": "1", "2": "2", "3": "2"}.get(birads, "0")


def _view(
    patient: Patient,
    breast: Breast,
    view: str,
    *,
    pid: int,
    iid: int,
    enc: Encoding,
    text: bool,
    seed: int,
    size: tuple[int, int],
) -> tuple[Job, list]:
    """One image's job and its train.csv row."""
    height, width = size
    function = "SIGMOID" if enc.voi.startswith("sigmoid") else "LINEAR"
    cancer = int(breast.malignant)
    biopsy = int(cancer or breast.birads in ("4a", "4b", "4c", "5"))
    local = patient_rng(seed, 12, patient.index, ord(breast.laterality))
    invasive = int(cancer and local.random() < 0.7)
    birads = "" if local.random() < 0.15 else _birads_column(breast.birads)
    density = "" if local.random() < 0.2 else "ABCD"[patient.density - 1]
    age = "" if local.random() < 0.03 else f"{patient.age:.1f}"
    rel = f"train_images/{pid}/{iid}.dcm"
    job = Job(
        spec=spec(
            height,
            width,
            seed,
            patient,
            breast,
            view,
            text=f"{breast.laterality}{view}" if text else None,
            scale=float(local.uniform(0.5, 0.72)),
        ),
        outputs=(Output(rel, "dicom"),),
        encoding=enc,
        header=header(
            seed,
            "rsna",
            patient,
            breast,
            view,
            height,
            modality=False,
            view_position=False,
            patient_id=str(pid),
        ),
        truth={
            **base_truth(patient, breast, str(pid)),
            "source_label": str(cancer),
            "cancer": cancer,
            "image_id": str(iid),
        },
    )
    row = [
        1 + patient.index % 2,
        pid,
        iid,
        breast.laterality,
        view,
        age,
        cancer,
        biopsy,
        invasive,
        birads,
        0,
        density,
        MACHINES[(enc.photometric, function)],
        biopsy == 1 and cancer == 0,
    ]
    return job, row


def plan(cohort: list[Patient], *, seed: int, height: int) -> LayoutPlan:
    rng = patient_rng(seed, 11)
    items = views(cohort)
    n = len(items)
    width = even(height * ASPECT)
    syntaxes = ("j2k", "j2k", "explicit") if "j2k" in all_syntaxes() else ("explicit", "rle")
    encodings = spread_encodings(
        n,
        rng,
        syntax=syntaxes,
        photometric=("MONOCHROME1", "MONOCHROME2"),
        bits=(12, 16),
        voi=("sigmoid-multi", "linear-multi", "sigmoid", "linear"),
        padding=(True, True, False),
    )
    texts = text_flags(n, rng, every=2)
    patient_ids = rng.choice(55_000, size=len(cohort), replace=False) + 10_000
    image_ids = rng.choice(2**31 - 1, size=n, replace=False)
    jobs, rows = [], []
    for i, (patient, breast, view) in enumerate(items):
        job, row = _view(
            patient,
            breast,
            view,
            pid=int(patient_ids[patient.index]),
            iid=int(image_ids[i]),
            enc=encodings[i],
            text=texts[i],
            seed=seed,
            size=(height, width),
        )
        jobs.append(job)
        rows.append(row)

    def finish(root: Path, records: list[dict]) -> None:
        write_csv(root / "train.csv", COLUMNS, rows)

    return LayoutPlan(jobs, finish)
