"""Listing defects get their own quarantine reason and a message with the real cause:
a file listed twice with different labels (issue 15 §7), and a folder-source path that is
absolute or leads out of the folder, which DVC would not version (issue 13 §5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from factory.ingest import ingest
from factory.ingest.config import IngestConfig


def quarantine(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]


def folder_config() -> IngestConfig:
    return IngestConfig(source="folder", workers=1, max_bad_fraction=0.5)


def run(src: Path, out: Path, common, kit) -> dict:
    result = ingest(src, out, common=common, config=folder_config(), key=kit.KEY, progress=False)
    return result.metrics


def test_same_file_with_two_labels_is_conflicting(tmp_path: Path, common, kit) -> None:
    src = kit.write_folder(tmp_path / "src", n=8)
    lines = (src / "labels.csv").read_text().splitlines()
    first = lines[1].split(",")  # png/0_0.png, normal
    lines.append(",".join([first[0], "abnormal", *first[2:]]))  # row 18
    lines.append(lines[2])  # the same row again, same label: ingested once (row 19)
    (src / "labels.csv").write_text("\n".join(lines) + "\n")
    metrics = run(src, tmp_path / "out", common, kit)
    entries = {q["reason"]: q for q in quarantine(tmp_path / "out")}
    conflict = entries["conflicting_labels"]
    assert conflict["file"] == first[0]
    assert conflict["detail"].startswith(
        "labels.csv row 2 says 'normal', labels.csv row 18 says 'abnormal'"
    )
    again = entries["duplicate"]
    assert again["file"] == lines[2].split(",")[0]
    assert again["detail"].startswith("listed again in labels.csv row 19 (same label as labels")
    assert metrics["images"] == 15  # 16 files, the conflicting one left out
    assert metrics["quarantined_by_reason"]["conflicting_labels"] == 1


def test_paths_outside_the_folder_say_so(tmp_path: Path, common, kit) -> None:
    src = kit.write_folder(tmp_path / "src", n=8)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(src / "png" / "0_0.png", elsewhere / "a.png")
    lines = (src / "labels.csv").read_text().splitlines()
    lines.append(f"{elsewhere / 'a.png'},normal,hospital-90,CC,L")  # absolute, and it exists
    lines.append("../elsewhere/a.png,normal,hospital-91,CC,L")  # relative, outside
    lines.append("png/../png/0_0.png,normal,hospital-0,CC,L")  # inside: the same as row 2
    (src / "labels.csv").write_text("\n".join(lines) + "\n")
    run(src, tmp_path / "out", common, kit)
    bad = [q for q in quarantine(tmp_path / "out") if q["reason"] == "path_outside_folder"]
    assert [q["file"] for q in sorted(bad, key=lambda q: q["detail"])] == [
        str(elsewhere / "a.png"),
        "../elsewhere/a.png",
    ]
    for q in bad:
        assert "paths must be relative to the folder, so that DVC versions them" in q["detail"]
    assert "labels.csv row 18: the path is an absolute path" in bad[0]["detail"] + bad[1]["detail"]
    assert (
        "labels.csv row 19: the path is outside the folder" in bad[0]["detail"] + bad[1]["detail"]
    )
    reasons = [q["reason"] for q in quarantine(tmp_path / "out")]
    assert "missing_file" not in reasons
    assert reasons.count("duplicate") == 1  # png/../png/0_0.png is png/0_0.png again
