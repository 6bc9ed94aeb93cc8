"""CBIS-DDSM: the four case-description CSVs + a DICOM tree addressed by `image file path`.

As in the real release: one row per abnormality (an image has one or several rows), the
mass CSVs say `breast_density` but the calc CSVs `breast density`, pathology is BENIGN,
BENIGN_WITHOUT_CALLBACK or MALIGNANT, some ROI paths end in a stray newline. The DICOMs
are scanned film: Secondary Capture, RLE Lossless, MONOCHROME2 16-bit over the full range,
no window, side only in `Laterality (0020,0060)`, view only in `PatientOrientation`, a
film label burned in. Every image is abnormal (CBIS-DDSM has no normals); a breast with a
mass is a mass case, else a calcification case. Only full mammograms are written: the
cropped and ROI-mask paths in the CSVs point at files this phantom does not make.
"""

from __future__ import annotations

from pathlib import Path

from factory.phantom.cohort import Breast, Finding, Patient, patient_rng
from factory.phantom.encode import SECONDARY_CAPTURE, Encoding
from factory.phantom.jobs import Job, Output
from factory.phantom.layouts.base import LayoutPlan, base_truth, even, header, spec, write_csv

TAIL = ["abnormality id", "abnormality type"]
END = [
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
HEAD = ["patient_id", "breast_density", "left or right breast", "image view"]
MASS_COLUMNS = [*HEAD, *TAIL, "mass shape", "mass margins", *END]
CALC_COLUMNS = [
    *["patient_id", "breast density", "left or right breast", "image view"],
    *TAIL,
    "calc type",
    "calc distribution",
    *END,
]
ASPECT = 0.64
DICOM_UID_ROOT = "1.3.6.1.4.1.9590.100.1.2."
FILM = Encoding(syntax="rle", photometric="MONOCHROME2", bits=16, voi="none", full_range=True)

SHAPE = {
    "round": "ROUND",
    "oval": "OVAL",
    "lobulated": "LOBULATED",
    "irregular": "IRREGULAR",
    "spiculated": "IRREGULAR",
}
MARGINS = {
    "round": "CIRCUMSCRIBED",
    "oval": "CIRCUMSCRIBED",
    "lobulated": "MICROLOBULATED",
    "irregular": "ILL_DEFINED",
    "spiculated": "SPICULATED",
}
CALC = {"coarse": ("LARGE_RODLIKE", "REGIONAL"), "fine": ("PLEOMORPHIC", "CLUSTERED")}


def _uid(seed: int, *parts: object) -> str:
    import hashlib

    digest = hashlib.sha256(":".join(map(str, ("cbis", seed, *parts))).encode()).hexdigest()
    return DICOM_UID_ROOT + str(int(digest, 16) % 10**39)


def _dicom_path(seed: int, folder: str, name: str, *parts: object) -> str:
    study, series = _uid(seed, folder, "study", *parts), _uid(seed, folder, "series", *parts)
    return f"{folder}/{study}/{series}/{name}"


def _pathology(finding: Finding, birads: str) -> str:
    if finding.malignant:
        return "MALIGNANT"
    return "BENIGN_WITHOUT_CALLBACK" if birads in ("2",) else "BENIGN"


def plan(cohort: list[Patient], *, seed: int, height: int) -> LayoutPlan:
    width = even(height * ASPECT)
    rng = patient_rng(seed, 15)
    patient_numbers = rng.choice(2000, size=len(cohort), replace=False) + 1
    jobs: list[Job] = []
    tables: dict[str, list[list[object]]] = {}
    row_count = 0
    for patient in cohort:
        pid = f"P_{int(patient_numbers[patient.index]):05d}"
        split = "Test" if patient_rng(seed, 16, patient.index).random() < 0.2 else "Training"
        for breast in patient.breasts:
            if not breast.findings:
                continue
            masses = [f for f in breast.findings if f.kind == "mass"]
            case = "Mass" if masses else "Calc"
            listed = masses or list(breast.findings)
            side = {"L": "LEFT", "R": "RIGHT"}[breast.laterality]
            local = patient_rng(seed, 17, patient.index, ord(breast.laterality))
            for view in breast.views:
                folder = f"{case}-{split}_{pid}_{side}_{view}"
                image_path = _dicom_path(seed, folder, "000000.dcm")
                jobs.append(
                    _job(seed, height, width, patient, breast, view, folder, image_path, pid)
                )
                for k, finding in enumerate(listed, start=1):
                    crop_folder = f"{folder}_{k}"
                    roi = _dicom_path(seed, crop_folder, "000001.dcm", "roi")
                    if row_count % 3 == 2:
                        roi += "\n"  # as in the real CSVs
                    row_count += 1
                    shape_cols = (
                        [SHAPE[finding.shape], MARGINS[finding.shape]]
                        if case == "Mass"
                        else list(CALC[finding.shape])
                    )
                    tables.setdefault(
                        f"{case.lower()}_case_description_{split.lower().removesuffix('ing')}_set.csv",
                        [],
                    ).append(
                        [
                            pid,
                            patient.density,
                            side,
                            view,
                            k,
                            "mass" if case == "Mass" else "calcification",
                            *shape_cols,
                            min(int(breast.birads[0]), 5),
                            _pathology(finding, breast.birads),
                            int(local.integers(1, 6)),
                            image_path,
                            _dicom_path(seed, crop_folder, "000000.dcm", "crop"),
                            roi,
                        ]
                    )

    def finish(root: Path, records: list[dict]) -> None:
        for case in ("mass", "calc"):
            for split in ("train", "test"):
                name = f"{case}_case_description_{split}_set.csv"
                columns = MASS_COLUMNS if case == "mass" else CALC_COLUMNS
                write_csv(root / name, columns, tables.get(name, []))

    return LayoutPlan(jobs, finish)


def _job(
    seed: int,
    height: int,
    width: int,
    patient: Patient,
    breast: Breast,
    view: str,
    folder: str,
    image_path: str,
    pid: str,
) -> Job:
    return Job(
        spec=spec(
            height, width, seed, patient, breast, view, text=f"{breast.laterality}{view}", film=True
        ),
        outputs=(Output(image_path, "dicom"),),
        encoding=FILM,
        header=header(
            seed,
            "cbis-ddsm",
            patient,
            breast,
            view,
            height,
            sop_class=SECONDARY_CAPTURE,
            view_position=False,
            laterality_tag="Laterality",
            patient_name=folder,
            patient_id=folder,
            extra={"PatientOrientation": view},
        ),
        truth={
            **base_truth(patient, breast, pid),
            "source_label": "MALIGNANT" if breast.malignant else "BENIGN",
            "case": folder,
        },
    )
