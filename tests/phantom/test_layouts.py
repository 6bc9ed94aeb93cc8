"""Every layout kind puts its files and label tables where the real dataset does."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image

from factory.phantom import read_truth, write_layout
from factory.phantom.encode import j2k_available
from factory.phantom.layouts import cbis, rsna, vindr


def _write(tmp_path_factory, kind: str, patients: int = 5, **options) -> Path:
    out = tmp_path_factory.mktemp("layouts") / kind
    return write_layout(kind, out, patients=patients, seed=7, height=128, progress=False, **options)


@pytest.fixture(scope="module")
def rsna_set(tmp_path_factory) -> Path:
    return _write(tmp_path_factory, "rsna")


@pytest.fixture(scope="module")
def cbis_set(tmp_path_factory) -> Path:
    return _write(tmp_path_factory, "cbis-ddsm", patients=8)


def test_truth_lists_every_file(tmp_path_factory) -> None:
    for kind in ("vindr", "mias", "folder"):
        out = _write(tmp_path_factory, kind, patients=2)
        records = read_truth(out)
        assert records
        for record in records:
            assert (out / record["file"]).is_file(), (kind, record["file"])
            assert record["label"] in ("normal", "abnormal")


def test_rsna(rsna_set: Path) -> None:
    table = pd.read_csv(rsna_set / "train.csv")
    assert list(table.columns) == rsna.COLUMNS
    seen = Counter()
    truth = {r["image_id"]: r for r in read_truth(rsna_set)}
    for _, row in table.iterrows():
        path = rsna_set / "train_images" / str(row["patient_id"]) / f"{row['image_id']}.dcm"
        ds = pydicom.dcmread(path)
        ds.pixel_array  # noqa: B018 - decodes
        assert "Modality" not in ds and "ViewPosition" not in ds
        assert row["cancer"] == truth[str(row["image_id"])]["cancer"]
        seen[ds.PhotometricInterpretation] += 1
        seen[ds.file_meta.TransferSyntaxUID.name] += 1
        seen[ds.get("VOILUTFunction")] += 1
        seen["several"] += ds["WindowCenter"].VM > 1
        seen["padding"] += "PixelPaddingValue" in ds
    assert seen["MONOCHROME1"] and seen["MONOCHROME2"] and seen["SIGMOID"]
    assert seen["several"] and seen["padding"]
    if j2k_available():
        assert seen["JPEG 2000 Image Compression (Lossless Only)"]
    assert set(table["view"]) <= {"CC", "MLO"} and set(table["laterality"]) <= {"L", "R"}


def test_rsna_breasts_are_small_in_the_field(rsna_set: Path) -> None:
    for record in read_truth(rsna_set)[:4]:
        ds = pydicom.dcmread(rsna_set / record["file"])
        shown = ds.pixel_array.astype(float)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            shown = shown.max() - shown
        tissue = shown > np.percentile(shown, 5) + 0.15 * np.ptp(shown)
        assert tissue.mean() < 0.45


def test_cbis_ddsm(cbis_set: Path) -> None:
    names = sorted(p.name for p in cbis_set.glob("*.csv"))
    assert names == [
        "calc_case_description_test_set.csv",
        "calc_case_description_train_set.csv",
        "mass_case_description_test_set.csv",
        "mass_case_description_train_set.csv",
    ]
    rows = []
    for name in names:
        table = pd.read_csv(cbis_set / name, dtype=str)
        assert list(table.columns) == (
            cbis.MASS_COLUMNS if name.startswith("mass") else cbis.CALC_COLUMNS
        )
        rows.append(table)
    table = pd.concat(rows)
    assert len(table)
    assert set(table["pathology"]) <= {"BENIGN", "BENIGN_WITHOUT_CALLBACK", "MALIGNANT"}
    assert table["ROI mask file path"].str.endswith("\n").any()
    per_image = table.groupby("image file path").size()
    assert (per_image >= 1).all()
    for rel in per_image.index:
        assert re.match(r"^(Mass|Calc)-(Training|Test)_P_\d{5}_(LEFT|RIGHT)_(CC|MLO)/", rel)
        ds = pydicom.dcmread(cbis_set / rel.strip())
        pixels = ds.pixel_array
        assert ds.file_meta.TransferSyntaxUID.name == "RLE Lossless"
        assert ds.BitsStored == 16 and ds.PhotometricInterpretation == "MONOCHROME2"
        assert pixels.max() > 50_000
        assert "ImageLaterality" not in ds and "WindowCenter" not in ds
        assert ds.Laterality == rel.split("_")[3][0]


def test_vindr(tmp_path_factory) -> None:
    out = _write(tmp_path_factory, "vindr", patients=3)
    table = pd.read_csv(out / "breast-level_annotations.csv")
    assert list(table.columns) == vindr.COLUMNS
    assert table["breast_birads"].str.fullmatch(r"BI-RADS [1-5]").all()
    assert table["breast_density"].str.fullmatch(r"DENSITY [A-D]").all()
    assert set(table["split"]) <= {"training", "test"}
    for _, row in table.iterrows():
        ds = pydicom.dcmread(out / "images" / row["study_id"] / f"{row['image_id']}.dicom")
        assert ds.pixel_array.shape == (row["height"], row["width"])
        assert ds.ImageLaterality == row["laterality"] and ds.ViewPosition == row["view_position"]


def test_mias(tmp_path_factory) -> None:
    out = _write(tmp_path_factory, "mias", patients=8)
    images = sorted(out.glob("*.pgm"))
    assert [p.stem for p in images] == [f"mdb{i:03d}" for i in range(1, 17)]
    assert images[0].read_bytes().startswith(b"P5")
    with Image.open(images[0]) as im:
        assert im.mode == "L" and im.size[0] == im.size[1] == 64
    text = (out / "Info.txt").read_text()
    assert not text.endswith("\n")
    lines = text.split("\n")
    assert any(line.endswith(" ") for line in lines)
    assert any(" NORM" in line for line in lines)
    assert any("*NOTE 3*" in line for line in lines)
    fields = [line.split() for line in lines]
    assert any(len(f) == 4 and f[2] != "NORM" for f in fields), "a row without coordinates"
    assert any(len(f) == 7 for f in fields)
    truth = {r["refnum"]: r for r in read_truth(out)}
    for f in fields:
        assert f[0] in truth and f[1] in "FGD"
        assert (f[2] == "NORM") == (truth[f[0]]["label"] == "normal")
        if len(f) == 7:
            assert f[3] in "BM" and 0 <= int(f[4]) < 64 and 0 <= int(f[5]) < 64
    for a, b in zip(list(truth.values())[::2], list(truth.values())[1::2], strict=True):
        assert a["patient"] == b["patient"] and {a["laterality"], b["laterality"]} == {"L", "R"}


def test_folder(tmp_path_factory) -> None:
    out = _write(tmp_path_factory, "folder", patients=3, label="birads")
    table = pd.read_csv(out / "labels.csv", dtype=str)
    assert list(table.columns) == ["path", "label", "patient_id", "view", "laterality"]
    suffixes = Counter(Path(p).suffix for p in table["path"])
    assert set(suffixes) == {".png", ".tif", ".dcm"}
    depths = set()
    for rel in table["path"]:
        if rel.endswith(".dcm"):
            pydicom.dcmread(out / rel).pixel_array  # noqa: B018
        else:
            with Image.open(out / rel) as im:
                depths.add(np.asarray(im).dtype.itemsize)
    assert depths == {1, 2}, "8- and 16-bit images both present"
    assert set(table["label"]) <= {"1", "2", "3", "4a", "4b", "4c", "5", "6"}
