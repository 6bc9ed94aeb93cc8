"""Fixtures for ingest tests: small mammogram-like DICOMs built with pydicom.

The pixels are a half-ellipse breast against the chest wall with some texture, so the
crop finds it; every file carries PHI-like tag values the outputs must never contain.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from factory.config import CommonConfig
from factory.ingest.config import IngestConfig

PHI = {
    "PatientName": "Doe^Jane^Q",
    "PatientID": "MRN-0042-7731",
    "PatientBirthDate": "19610317",
    "StudyDate": "20190522",
    "InstitutionName": "St Elsewhere Hospital",
    "ReferringPhysicianName": "House^Gregory",
    "AccessionNumber": "ACC99887766",
}
KEY = b"test-key-0123456789abcdef"


def breast_pixels(
    height: int = 96,
    width: int = 72,
    *,
    side: str = "L",
    bits: int = 12,
    seed: int = 0,
    text: bool = False,
    dense: float = 0.6,
) -> np.ndarray:
    """Stored values of a MONOCHROME2 breast: chest wall on the left for side 'L'."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, ry, rx = height / 2, 0.42 * height, 0.7 * width
    inside = ((xx / rx) ** 2 + ((yy - cy) / ry) ** 2) < 1
    tissue = dense + 0.15 * rng.standard_normal((height, width))
    img = np.where(inside, np.clip(tissue, 0.2, 0.95), 0.0)
    if text:  # a burned-in marker far from the breast, like "L-CC"
        img[3:9, width - 14 : width - 3] = 1.0
    if side == "R":
        img = img[:, ::-1]
    top = 2**bits - 1
    return np.rint(img * top).astype(np.uint16)


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    bits: int = 12,
    photometric: str = "MONOCHROME2",
    laterality: str | None = "L",
    view: str | None = "CC",
    syntax: str = ExplicitVRLittleEndian,
    pixel_data: bool = True,
    **tags: Any,
) -> Path:
    """A minimal valid MG-like DICOM file with PHI tags; `tags` adds or overrides."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    for k, v in PHI.items():
        setattr(ds, k, v)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if laterality:
        ds.ImageLaterality = laterality
    if view:
        ds.ViewPosition = view
    for k, v in tags.items():
        setattr(ds, k, v)
    if pixel_data:
        ds.PixelData = pixels.astype("<u2").tobytes()
        if syntax != ExplicitVRLittleEndian:
            ds.compress(syntax)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def voi_lut_item(first: int, table: np.ndarray, depth: int = 16) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.add_new(0x00283002, "US", [len(table), first, depth])  # LUTDescriptor
    item.add_new(0x00283006, "OW", np.asarray(table, "<u2").tobytes())  # LUTData
    return item


def write_inbreast(
    root: Path,
    patients: list[tuple[str, list[tuple[str, str, str]]]],
    *,
    extra_rows: list[str] = (),
    text: bool = False,
) -> Path:
    """An INbreast-layout folder. patients: (hash, [(side, view, birads), ...])."""
    rows = ["Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    number = 20586900
    for p_index, (phash, images) in enumerate(patients):
        for side, view, birads in images:
            number += 1
            view_code = "ML" if view == "MLO" else view
            name = f"{number}_{phash}_MG_{side}_{view_code}_ANON.dcm"
            seed = number
            pixels = breast_pixels(side=side, seed=seed, text=text, dense=0.4 + 0.1 * (p_index % 5))
            write_dicom(root / "AllDICOMs" / name, pixels, laterality=side, view=view)
            rows.append(f"removed;55;{side};{view};201101;{number};2;{birads}")
    rows += list(extra_rows)
    (root / "INbreast.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    return root


def small_inbreast_patients(n: int = 12) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """n patients, two views each, alternating normal (BI-RADS 1) and abnormal."""
    out = []
    for i in range(n):
        birads = "1" if i % 2 == 0 else ("4a", "2", "5", "6", "3")[i % 5]
        out.append((f"{i:04x}c0ffee{i:04x}", [("L", "CC", birads), ("L", "MLO", birads)]))
    return out


def _png(path: Path, pixels12: np.ndarray, bits: int = 16) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    scaled = pixels12.astype(np.float64) / 4095
    if bits == 8:
        Image.fromarray(np.rint(scaled * 255).astype(np.uint8)).save(path)
    else:
        Image.fromarray(np.rint(scaled * 65535).astype(np.uint16)).save(path)
    return path


def write_rsna(root: Path, n: int = 8) -> Path:
    """train.csv + train_images/<patient>/<image>.dcm; MONOCHROME1 on odd patients."""
    rows = [
        "site_id,patient_id,image_id,laterality,view,age,cancer,biopsy,invasive,BIRADS,"
        "implant,density,machine_id,difficult_negative_case"
    ]
    for p in range(n):
        patient = 10000 + p
        for k, (side, view) in enumerate((("L", "CC"), ("L", "MLO"), ("R", "CC"))):
            image = 500000 + 10 * p + k
            stored = breast_pixels(side=side, seed=image)
            mono1 = p % 2 == 1
            if mono1:
                stored = 4095 - stored
            write_dicom(
                root / "train_images" / str(patient) / f"{image}.dcm",
                stored,
                photometric="MONOCHROME1" if mono1 else "MONOCHROME2",
                laterality=None,
                view=None,
                WindowCenter=[2048, 1800],
                WindowWidth=[4096, 3000],
                VOILUTFunction="SIGMOID" if p % 3 == 0 else "LINEAR",
            )
            cancer = int(p % 2 == 1 and side == "L")
            rows.append(f"2,{patient},{image},{side},{view},61,{cancer},0,0,,0,B,49,False")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    return root


def write_vindr(root: Path, n: int = 8) -> Path:
    rows = [
        "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,"
        "breast_density,split"
    ]
    for p in range(n):
        study = f"{p:032x}"
        for k, (side, view) in enumerate((("L", "CC"), ("R", "MLO"))):
            image = f"{p:016x}{k:016x}"
            write_dicom(
                root / "images" / study / f"{image}.dicom",
                breast_pixels(side=side, seed=p * 10 + k),
                laterality=side,
                view=view,
            )
            birads = 1 if p % 2 == 0 else 4
            rows.append(
                f"{study},s{p},{image},{side},{view},96,72,BI-RADS {birads},DENSITY C,training"
            )
    (root / "breast-level_annotations.csv").write_text("\n".join(rows) + "\n")
    return root


def write_mias(root: Path, pairs: int = 8) -> Path:
    """mdbNNN.pgm (8-bit) + a quirky Info.txt: several rows, no coordinates, notes."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for n in range(1, 2 * pairs + 1):
        ref = f"mdb{n:03d}"
        side = "L" if n % 2 == 0 else "R"
        pixels = breast_pixels(96, 96, side=side, seed=n, bits=8)
        Image.fromarray(pixels.astype(np.uint8)).save(root / f"{ref}.pgm")
        pair = (n + 1) // 2
        if pair % 2 == 1:
            lines.append(f"{ref} F NORM ")
        elif n % 4 == 0:
            lines.append(f"{ref} G CIRC B 535 425 197")
            lines.append(f"{ref} G CIRC M 300 200 30 *NOTE 3*")
        else:
            lines.append(f"{ref} D CALC B")  # no coordinates
    (root / "Info.txt").write_text("\n".join(lines))  # no final newline
    return root


def write_folder(root: Path, n: int = 8) -> Path:
    """labels.csv with path,label,patient_id,view,laterality over PNG, TIFF and DICOM."""
    from PIL import Image

    rows = ["path,label,patient_id,view,laterality"]
    for p in range(n):
        for k, side in enumerate("LR"):
            pixels = breast_pixels(side=side, seed=100 * p + k)
            kind = (p + k) % 3
            if kind == 0:
                rel = f"png/{p}_{k}.png"
                _png(root / rel, pixels)
            elif kind == 1:
                rel = f"tiff/{p}_{k}.tif"
                (root / "tiff").mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels.astype(np.uint16) * 16).save(root / rel)
            else:
                rel = f"dicom/{p}_{k}.dcm"
                write_dicom(root / rel, pixels, laterality=side)
            label = "abnormal" if p % 2 else "normal"
            rows.append(f"{rel},{label},hospital-{p},CC,{side}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def common() -> CommonConfig:
    return CommonConfig(seed=0, classes=("normal", "abnormal"), image_size=32)


@pytest.fixture
def config() -> IngestConfig:
    return IngestConfig(source="inbreast", workers=1, max_bad_fraction=0.5)


@pytest.fixture
def inbreast_dir(tmp_path: Path) -> Path:
    return write_inbreast(tmp_path / "inbreast", small_inbreast_patients())


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (importlib mode cannot import conftest)."""
    return SimpleNamespace(
        KEY=KEY,
        PHI=PHI,
        Sequence=Sequence,
        breast_pixels=breast_pixels,
        write_dicom=write_dicom,
        voi_lut_item=voi_lut_item,
        write_inbreast=write_inbreast,
        small_inbreast_patients=small_inbreast_patients,
        write_rsna=write_rsna,
        write_vindr=write_vindr,
        write_mias=write_mias,
        write_folder=write_folder,
        png=_png,
    )
