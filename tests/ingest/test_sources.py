"""Every adapter on files written in its dataset's real layout."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from factory.ingest import ingest
from factory.ingest.config import IngestConfig
from factory.ingest.sources.mias import parse_info
from factory.io import read_json


def run(src: Path, out: Path, common, source: str, key: bytes, **options) -> pd.DataFrame:
    # one split: these tests are about reading layouts (splits: test_split.py)
    options = {"workers": 1, "max_bad_fraction": 0.2, "split": (1.0, 0.0, 0.0), **options}
    config = IngestConfig(source=source, **options)
    return ingest(src, out, common=common, config=config, key=key, progress=False).manifest


@pytest.mark.slow
def test_phantom_inbreast_dicom_and_png(tmp_path: Path, common, kit) -> None:
    from factory.phantom import read_truth, write_layout

    src = write_layout(
        "inbreast", tmp_path / "src", patients=8, seed=1, height=128, png=True, progress=False
    )
    truth = read_truth(src)
    df = run(src, tmp_path / "out", common, "inbreast", kit.KEY)
    assert len(df) == len(truth)
    assert df["patient_id"].nunique() == len({i["patient"] for i in truth})
    expected = sorted("normal" if i["birads"] == "1" else "abnormal" for i in truth)
    assert sorted(df["label"]) == expected
    assert sorted(df["laterality"]) == sorted(i["laterality"] for i in truth)
    assert sorted(df["view"]) == sorted(i["view"] for i in truth)
    # PNG-only conversions of the same set give the same labels and patients
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    (src / "AllPNGs").rename(pngs / "AllPNGs")
    (src / "INbreast.csv").rename(pngs / "INbreast.csv")
    df_png = run(pngs, tmp_path / "out_png", common, "inbreast", kit.KEY)
    assert sorted(df_png["label"]) == expected
    assert df_png["patient_id"].nunique() == df["patient_id"].nunique()


def test_phantom_outputs_carry_no_phi(tmp_path: Path, common, kit) -> None:
    from factory.phantom import read_truth, write_layout

    src = write_layout("inbreast", tmp_path / "src", patients=6, seed=2, height=128, progress=False)
    out = tmp_path / "out"
    run(src, out, common, "inbreast", kit.KEY)
    needles: set[str] = set()
    for image in read_truth(src):
        needles |= {str(v) for v in image["phi"].values()}
        needles |= {image["patient"], image["file_name"], Path(image["file"]).name}
        needles |= {
            part for v in image["phi"].values() for part in str(v).split("^") if len(part) > 3
        }
    files = [p for p in out.rglob("*") if p.is_file() and p.name != "quarantine.jsonl"]
    assert any(p.suffix == ".png" for p in files)
    for path in files:
        text = path.read_bytes().decode("latin-1")
        found = [n for n in needles if n in text]
        assert not found, f"{found} in {path.name}"


def test_rsna(tmp_path: Path, common, kit) -> None:
    src = kit.write_rsna(tmp_path / "src", n=8)
    df = run(src, tmp_path / "out", common, "rsna", kit.KEY)
    assert len(df) == 24 and df["patient_id"].nunique() == 8
    # cancer=1 exactly on the left images of odd patients
    assert (df["label"] == "abnormal").sum() == 8
    assert set(df.loc[df["label"] == "abnormal", "laterality"]) == {"L"}
    assert sorted(set(df["view"])) == ["CC", "MLO"]  # from the CSV: no ViewPosition tag


def test_rsna_listing_problems(tmp_path: Path, common, kit) -> None:
    src = kit.write_rsna(tmp_path / "src", n=8)
    (src / "train_images" / "10000" / "500000.dcm").unlink()
    stray = src / "train_images" / "10000" / "999.dcm"
    stray.write_bytes((src / "train_images" / "10001" / "500010.dcm").read_bytes())
    out = tmp_path / "out"
    run(src, out, common, "rsna", kit.KEY)
    reasons = {
        json.loads(x)["reason"]: json.loads(x)["file"]
        for x in (out / "quarantine.jsonl").read_text().splitlines()
    }
    assert reasons == {
        "missing_file": "train_images/10000/500000.dcm",
        "not_in_csv": "train_images/10000/999.dcm",
    }


def test_vindr(tmp_path: Path, common, kit) -> None:
    src = kit.write_vindr(tmp_path / "src", n=8)
    df = run(src, tmp_path / "out", common, "vindr", kit.KEY)
    assert len(df) == 16 and df["patient_id"].nunique() == 8
    assert set(df["source_label"]) == {"1", "4"}
    assert ((df["source_label"] == "1") == (df["label"] == "normal")).all()
    alt = run(src, tmp_path / "out2", common, "vindr", kit.KEY, label_map="birads-1-3-vs-4-5")
    assert (
        alt.sort_values("image_id")["label"].values == df.sort_values("image_id")["label"].values
    ).all()


def test_mias_info_parsing() -> None:
    text = (
        "mdb001 G CIRC B 535 425 197\nmdb001 G CIRC M 1 2 3 *NOTE 3*\n"
        "mdb002 F NORM \nmdb003 D CALC B"
    )
    assert parse_info(text) == {"mdb001": ["B", "M"], "mdb002": ["NORM"], "mdb003": ["B"]}


def test_mias(tmp_path: Path, common, kit) -> None:
    src = kit.write_mias(tmp_path / "src", pairs=8)
    df = run(src, tmp_path / "out", common, "mias", kit.KEY)
    assert len(df) == 16 and df["patient_id"].nunique() == 8  # a left/right pair = a patient
    assert df.groupby("patient_id")["laterality"].apply(lambda s: sorted(s) == ["L", "R"]).all()
    counts = df["source_label"].value_counts().to_dict()
    assert counts == {"NORM": 8, "M": 4, "B": 4}


def test_mias_benign_vs_malignant_drops_normals(tmp_path: Path, kit) -> None:
    from factory.config import CommonConfig

    common = CommonConfig(classes=("benign", "malignant"), image_size=32)
    src = kit.write_mias(tmp_path / "src", pairs=8)
    config = IngestConfig(
        source="mias", workers=1, label_map="benign-vs-malignant", split=(0.5, 0.0, 0.5)
    )
    result = ingest(
        src, tmp_path / "out", common=common, config=config, key=kit.KEY, progress=False
    )
    assert set(result.manifest["label"]) == {"benign", "malignant"}
    assert result.metrics["excluded_by_label_map"] == 8 and result.metrics["quarantined"] == 0


def test_folder(tmp_path: Path, common, kit) -> None:
    src = kit.write_folder(tmp_path / "src", n=8)
    df = run(src, tmp_path / "out", common, "folder", kit.KEY)
    assert len(df) == 16 and df["patient_id"].nunique() == 8
    assert set(df["label"]) == {"normal", "abnormal"}
    assert sorted(df["laterality"]) == ["L"] * 8 + ["R"] * 8
    metrics = read_json(tmp_path / "out" / "metrics.json")
    assert metrics["per_class"] == {"normal": 8, "abnormal": 8}


def _expected_label(kind: str, truth: dict) -> str:
    if kind == "rsna":
        return "abnormal" if truth["cancer"] else "normal"
    if kind == "cbis-ddsm":
        return "abnormal" if truth["malignant"] else "normal"  # benign -> first class
    return truth["label"]


@pytest.mark.parametrize("kind", ["inbreast", "rsna", "cbis-ddsm", "vindr", "mias", "folder"])
def test_every_phantom_layout_matches_its_truth(tmp_path: Path, common, kit, kind: str) -> None:
    from factory.ingest.pseudonym import pseudonym
    from factory.phantom import read_truth, write_layout

    src = write_layout(kind, tmp_path / "src", patients=8, seed=3, height=128, progress=False)
    truth = read_truth(src)
    df = run(src, tmp_path / "out", common, kind, kit.KEY).set_index("image_id")
    assert len(df) == len(truth)
    patients: dict[str, str] = {}
    for item in truth:
        row = df.loc[pseudonym(kit.KEY, "img", kind, item["file"])]
        assert row["label"] == _expected_label(kind, item), item["file"]
        assert row["laterality"] == item["laterality"], item["file"]
        assert row["view"] == item["view"], item["file"]
        assert patients.setdefault(item["patient"], row["patient_id"]) == row["patient_id"]
    assert len(set(patients.values())) == len(patients)  # distinct women stay distinct
