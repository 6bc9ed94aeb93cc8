"""INbreast: `AllDICOMs/<FileName>_<patienthash>_MG_<L|R>_<CC|ML>_ANON.dcm` + `INbreast.csv`.

As in the real release: `;`-separated CSV with CRLF line ends, `Patient ID` reads
`removed` (the patient is only the hash in the file name), views are `CC`/`MLO` in the
CSV but `CC`/`ML` in file names, one row has a blank ACR. Images are 3328 x 4084 at full
size. `png=True` adds PNG conversions (same stem, `.png`, alternately 8- and 16-bit) under
`AllPNGs/`; `dicom=False` leaves the DICOMs out (a PNG-only set).
"""

from __future__ import annotations

from pathlib import Path

from factory.phantom.cohort import Patient, patient_rng
from factory.phantom.jobs import Job, Output
from factory.phantom.layouts.base import (
    LayoutPlan,
    base_truth,
    even,
    header,
    mixed_encodings,
    short_hash,
    spec,
    text_flags,
    views,
    write_csv,
)

COLUMNS = [
    "Patient ID",
    "Patient age",
    "Laterality",
    "View",
    "Acquisition date",
    "File Name",
    "ACR",
    "Bi-Rads",
]
ASPECT = 3328 / 4084


def plan(
    cohort: list[Patient], *, seed: int, height: int, png: bool = False, dicom: bool = True
) -> LayoutPlan:
    rng = patient_rng(seed, 10)
    items = views(cohort)
    n = len(items)
    width = even(height * ASPECT)
    encodings = mixed_encodings(n, rng)
    texts = text_flags(n, rng)
    numbers = rng.choice(30_000_000, size=n, replace=False) + 20_000_000
    blank_acr = int(rng.integers(n)) if n > 1 else -1
    jobs, rows = [], []
    for i, (patient, breast, view) in enumerate(items):
        patient_hash = short_hash("inbreast", seed, patient.index)
        short_view = "CC" if view == "CC" else "ML"
        stem = f"{numbers[i]}_{patient_hash}_MG_{breast.laterality}_{short_view}_ANON"
        outputs = []
        if dicom:
            outputs.append(Output(f"AllDICOMs/{stem}.dcm", "dicom"))
        if png:
            outputs.append(Output(f"AllPNGs/{stem}.png", "png16" if i % 2 else "png8"))
        marker = f"{breast.laterality}-{view}" if texts[i] else None
        jobs.append(
            Job(
                spec=spec(height, width, seed, patient, breast, view, text=marker),
                outputs=tuple(outputs),
                encoding=encodings[i],
                header=header(seed, "inbreast", patient, breast, view, height),
                truth={
                    **base_truth(patient, breast, patient_hash),
                    "source_label": breast.birads,
                    "file_name": str(numbers[i]),
                },
            )
        )
        rows.append(
            [
                "removed",
                patient.age,
                breast.laterality,
                view,
                patient.identity.study_date[:6],
                str(numbers[i]),
                "" if i == blank_acr else patient.density,
                breast.birads,
            ]
        )

    def finish(root: Path, records: list[dict]) -> None:
        write_csv(root / "INbreast.csv", COLUMNS, rows, sep=";", crlf=True)

    return LayoutPlan(jobs, finish)
