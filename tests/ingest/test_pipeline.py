"""The whole ingest on small INbreast-layout folders: outputs, quarantine, PHI, determinism."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory.errors import ConfigError
from factory.ingest import IngestFailed, ingest
from factory.ingest.config import IngestConfig
from factory.ingest.records import REASONS
from factory.io import read_json, read_png16, sha256_file
from factory.manifest import COLUMNS, read_manifest


def run(src: Path, out: Path, common, config, key: bytes):
    return ingest(src, out, common=common, config=config, key=key, progress=False)


def quarantine(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]


def test_outputs_follow_the_contract(tmp_path: Path, inbreast_dir, common, config, kit) -> None:
    out = tmp_path / "out"
    result = ingest(
        inbreast_dir,
        out,
        common=common,
        config=config,
        key=kit.KEY,
        resolved_config={"ingest": config.model_dump(mode="json")},
        progress=False,
    )
    df = read_manifest(out / "manifest.parquet")
    assert list(df.columns) == list(COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == COLUMNS
    assert len(df) == 24 and df["patient_id"].nunique() == 12
    assert set(df["label"]) == {"normal", "abnormal"}
    assert (df["source"] == "inbreast").all()
    assert df["image_id"].str.fullmatch(r"img-[0-9a-f]{16}").all()
    assert df["patient_id"].str.fullmatch(r"pat-[0-9a-f]{16}").all()
    for row in df.itertuples():
        png = out / row.path
        assert row.path == f"images/{row.image_id}.png"
        assert sha256_file(png) == row.sha256
        image = read_png16(png)
        assert image.shape == (32, 32) and image.max() > 10000
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "images",
        "manifest.parquet",
        "metrics.json",
        "quarantine.jsonl",
        "source.json",
    ]
    metrics = read_json(out / "metrics.json")
    assert metrics["images"] == 24 and metrics["quarantined"] == 0
    assert set(metrics["quarantined_by_reason"]) == set(REASONS)
    split_total = sum(s["images"] for s in metrics["per_split"].values())
    assert split_total == 24
    assert result.metrics == metrics
    assert (out / "quarantine.jsonl").read_text() == ""


def test_birads_map_and_the_alternative(tmp_path: Path, inbreast_dir, common, config, kit) -> None:
    df = run(inbreast_dir, tmp_path / "a", common, config, kit.KEY).manifest
    assert (df["label"] == np.where(df["source_label"] == "1", "normal", "abnormal")).all()
    alt = config.model_copy(update={"label_map": "birads-1-3-vs-4-6"})
    df2 = run(inbreast_dir, tmp_path / "b", common, alt, kit.KEY).manifest
    normal = df2["source_label"].isin(["1", "2", "3"])
    assert (df2["label"] == np.where(normal, "normal", "abnormal")).all()
    assert (df2["label"] != df["label"]).any()


def test_label_map_errors_are_one_line(tmp_path: Path, inbreast_dir, common, config, kit) -> None:
    with pytest.raises(ConfigError, match="not a map of source 'inbreast'"):
        run(
            inbreast_dir, tmp_path / "o", common, config.model_copy(update={"label_map": "x"}), b"k"
        )
    bad = config.model_copy(update={"label_map": {"1": "healthy"}})
    with pytest.raises(ConfigError, match=r"not in common\.classes"):
        run(inbreast_dir, tmp_path / "o", common, bad, kit.KEY)


def test_same_input_same_outputs(tmp_path: Path, inbreast_dir, common, config, kit) -> None:
    run(inbreast_dir, tmp_path / "a", common, config, kit.KEY)
    two = config.model_copy(update={"workers": 2})
    run(inbreast_dir, tmp_path / "b", common, two, kit.KEY)  # worker count must not matter
    for name in ("manifest.parquet", "quarantine.jsonl", "metrics.json"):
        assert sha256_file(tmp_path / "a" / name) == sha256_file(tmp_path / "b" / name), name
    a = sorted((tmp_path / "a" / "images").iterdir())
    b = sorted((tmp_path / "b" / "images").iterdir())
    assert [p.name for p in a] == [p.name for p in b]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(a, b, strict=True))
    other_key = run(inbreast_dir, tmp_path / "c", common, config, kit.KEY + b"2").manifest
    assert not set(other_key["patient_id"]) & set(
        pd.read_parquet(tmp_path / "a" / "manifest.parquet")["patient_id"]
    )


def _all_output_bytes(out: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(out.rglob("*")) if p.is_file()]


def test_no_phi_in_published_outputs(tmp_path: Path, common, config, kit) -> None:
    src = kit.write_inbreast(tmp_path / "src", kit.small_inbreast_patients(8), text=True)
    out = tmp_path / "out"
    ingest(
        src,
        out,
        common=common,
        config=config,
        key=kit.KEY,
        resolved_config={"ingest": config.model_dump(mode="json")},
        progress=False,
    )
    needles = {v for v in kit.PHI.values()} | {v.split("^")[0] for v in kit.PHI.values()}
    for dcm in (src / "AllDICOMs").iterdir():
        number, phash = dcm.stem.split("_")[:2]
        needles |= {dcm.name, dcm.stem, number, phash}
    for row in (src / "INbreast.csv").read_text().splitlines()[1:]:
        needles.add(row.split(";")[4])  # acquisition date
    published = [(n, b) for n, b in _all_output_bytes(out) if n != "quarantine.jsonl"]
    assert published
    for name, data in published:
        text = data.decode("latin-1")
        for needle in needles:
            assert needle not in text, f"{needle!r} found in {name}"
    df = pd.read_parquet(out / "manifest.parquet")
    for col in df.columns:
        assert not df[col].astype(str).isin(needles).any(), col


def test_every_quarantine_reason(tmp_path: Path, common, kit, monkeypatch) -> None:
    patients = kit.small_inbreast_patients(12)
    src = kit.write_inbreast(
        tmp_path / "src",
        patients,
        extra_rows=[
            "removed;50;L;CC;201101;99999991;1;1",  # missing_file
            "removed;50;L;CC;201101;20586990;1;",  # label_missing (blank Bi-Rads)
            "removed;50;L;CC;201101;20586991;1;7",  # label_unmapped
            "removed;50;L;CC;201101;20586992;1;1",  # unreadable
            "removed;50;L;CC;201101;20586993;1;1",  # no_pixel_data
            "removed;50;L;CC;201101;20586994;1;1",  # no_decoder
            "removed;50;L;CC;201101;20586995;1;1",  # no_breast
            "removed;50;L;CC;201101;20586996;1;2",  # duplicate
            "removed;50;L;CC;201101;20586998;1;1",  # conflicting_labels (rows 34 and 35)
            "removed;50;L;CC;201101;20586998;1;5",
        ],
    )
    alld = src / "AllDICOMs"
    first = sorted(alld.iterdir())[0]

    def name(n: int) -> Path:
        return alld / f"{n}_ffff0000_MG_L_CC_ANON.dcm"

    shutil.copy(first, name(20586990))
    shutil.copy(first, name(20586991))
    name(20586992).write_bytes(first.read_bytes()[:300])
    kit.write_dicom(name(20586993), kit.breast_pixels(), pixel_data=False)
    kit.write_dicom(name(20586994), kit.breast_pixels(seed=5))  # made undecodable below
    kit.write_dicom(name(20586995), np.zeros((96, 72), np.uint16))
    shutil.copy(first, name(20586996))
    shutil.copy(first, name(20586998))
    shutil.copy(first, alld / "20586997_ffff0000_MG_R_CC_ANON.dcm")  # not_in_csv
    _set_unknown_syntax(name(20586994))

    config = IngestConfig(source="inbreast", workers=2, max_bad_fraction=0.5)
    result = run(src, tmp_path / "out", common, config, kit.KEY)
    found = {q["reason"] for q in quarantine(tmp_path / "out")}
    only_folder = {"path_outside_folder"}  # the folder source's (tests/ingest/test_sources.py)
    assert found == set(REASONS) - only_folder
    assert result.metrics["quarantined"] == len(REASONS) - len(only_folder)
    by_reason = {q["reason"]: q for q in quarantine(tmp_path / "out")}
    assert "99999991" in by_reason["missing_file"]["file"]
    assert by_reason["no_decoder"]["file"].endswith("20586994_ffff0000_MG_L_CC_ANON.dcm")
    assert by_reason["duplicate"]["detail"].startswith("same pixels as AllDICOMs/")
    conflict = by_reason["conflicting_labels"]
    assert conflict["file"].endswith("20586998_ffff0000_MG_L_CC_ANON.dcm")
    assert conflict["detail"].startswith("INbreast.csv row 34 says '1', INbreast.csv row 35")
    assert len(result.manifest) == 24


def _set_unknown_syntax(path: Path) -> None:
    """Re-save the file as encapsulated data in a transfer syntax pydicom cannot decode."""
    import pydicom
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 MP@ML
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


def test_too_many_bad_files_fail_and_keep_previous_outputs(
    tmp_path: Path, inbreast_dir, common, config, kit
) -> None:
    out = tmp_path / "out"
    run(inbreast_dir, out, common, config, kit.KEY)
    before = {n: sha256_file(out / n) for n in ("manifest.parquet", "metrics.json")}
    for dcm in sorted((inbreast_dir / "AllDICOMs").iterdir())[:4]:
        dcm.write_bytes(b"garbage")
    strict = config.model_copy(update={"max_bad_fraction": 0.05})
    with pytest.raises(IngestFailed) as info:
        run(inbreast_dir, out, common, strict, kit.KEY)
    message = str(info.value)
    assert "4 of 24 images quarantined" in message and "unreadable 4" in message
    assert len(message.splitlines()) < 25  # one screen
    assert {n: sha256_file(out / n) for n in before} == before
    assert (out / "quarantine.failed.jsonl").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # temp folder cleaned


def test_empty_class_in_a_split_fails(tmp_path: Path, common, config, kit) -> None:
    # only two abnormal patients: one split cannot hold the abnormal class
    patients = [(f"{i:04x}beef", [("L", "CC", "1" if i < 10 else "5")]) for i in range(12)]
    src = kit.write_inbreast(tmp_path / "src", patients)
    with pytest.raises(IngestFailed, match="class 'abnormal' has no image in split"):
        run(src, tmp_path / "out", common, config, kit.KEY)
    assert not (tmp_path / "out" / "manifest.parquet").exists()
