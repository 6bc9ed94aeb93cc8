"""The pseudonym key is a recorded input: fingerprinted, checked, and never silently swapped.

Another key gives every image and patient a new pseudonym and re-draws the patient split
(issue 15 §3), so ingest refuses to replace a manifest made with another key unless told
to, and says what would change; DVC sees the key through `.factory/pseudonym.fingerprint`,
which names the key of the outputs in place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from factory.cli import main
from factory.errors import FactoryError
from factory.ingest import ingest
from factory.ingest.keycheck import FINGERPRINT_META, KeyChanged, manifest_fingerprint
from factory.ingest.pseudonym import (
    FINGERPRINT_FILE,
    env_flag,
    key_fingerprint,
    resolve_key,
    write_fingerprint,
)
from factory.io import sha256_file

ROOT = Path(__file__).resolve().parents[2]
OTHER = b"another-key-0123456789abcdef"


def run(src: Path, out: Path, common, config, key: bytes, **kw):
    return ingest(src, out, common=common, config=config, key=key, progress=False, **kw)


def test_manifest_records_the_fingerprint_never_the_key(
    tmp_path: Path, inbreast_dir, common, config, kit
) -> None:
    out = tmp_path / "out"
    run(inbreast_dir, out, common, config, kit.KEY)
    meta = pq.read_schema(out / "manifest.parquet").metadata
    assert meta[FINGERPRINT_META].decode() == key_fingerprint(kit.KEY)
    assert manifest_fingerprint(out) == key_fingerprint(kit.KEY)
    for f in out.rglob("*"):
        if f.is_file():
            assert kit.KEY not in f.read_bytes(), f


def test_another_key_is_refused_with_what_would_change_then_allowed(
    tmp_path: Path, inbreast_dir, common, config, kit
) -> None:
    out, tracked = tmp_path / "out", tmp_path / "repo" / FINGERPRINT_FILE
    run(inbreast_dir, out, common, config, kit.KEY, fingerprint_file=tracked)
    assert tracked.read_text() == key_fingerprint(kit.KEY) + "\n"
    before = {p.name: sha256_file(p) for p in out.rglob("*") if p.is_file()}

    with pytest.raises(KeyChanged) as refused:
        run(inbreast_dir, out, common, config, OTHER, fingerprint_file=tracked)
    text = str(refused.value)
    old, new = key_fingerprint(kit.KEY), key_fingerprint(OTHER)
    assert f"key fingerprint {old} -> {new}" in text
    assert "24 of 24 images get a new image_id, 12 patients a new patient_id" in text
    assert "images change split" in text and "FACTORY_ALLOW_KEY_CHANGE=1" in text
    assert {p.name: sha256_file(p) for p in out.rglob("*") if p.is_file()} == before
    assert not list(out.glob(".ingest-*.tmp"))
    assert tracked.read_text() == old + "\n"  # still names the key of the outputs in place

    result = run(
        inbreast_dir, out, common, config, OTHER, fingerprint_file=tracked, allow_key_change=True
    )
    assert manifest_fingerprint(out) == new == result.metrics["key_fingerprint"]
    assert tracked.read_text() == new + "\n"  # dvc.lock will record the new key's hash
    run(inbreast_dir, out, common, config, OTHER)  # the same key again: no question asked


def test_under_dvc_repro_the_record_file_refuses_another_key(
    tmp_path: Path, inbreast_dir, common, config, kit
) -> None:
    """`dvc repro` deletes the outputs before the stage runs: the tracked record file is
    what is left to say which key made them."""
    out, tracked = tmp_path / "outputs" / "ingest", tmp_path / FINGERPRINT_FILE
    tracked.parent.mkdir(parents=True)
    tracked.write_text("none\n")  # as committed: a fresh clone has no outputs yet
    run(inbreast_dir, out, common, config, kit.KEY, fingerprint_file=tracked)
    assert tracked.read_text() == key_fingerprint(kit.KEY) + "\n"
    shutil.rmtree(out)  # what dvc repro does to the stage's outs before running it
    with pytest.raises(KeyChanged, match="re-draws the train/val/test split") as refused:
        run(inbreast_dir, out, common, config, OTHER, fingerprint_file=tracked)
    assert f"fingerprint {key_fingerprint(kit.KEY)}" in str(refused.value)
    assert not out.exists() or not any(out.iterdir())  # refused before any work
    run(inbreast_dir, out, common, config, kit.KEY, fingerprint_file=tracked)  # right key
    run(inbreast_dir, out, common, config, OTHER, fingerprint_file=tracked, allow_key_change=True)
    assert tracked.read_text() == key_fingerprint(OTHER) + "\n"
    tracked.write_text("edited by hand\n")
    with pytest.raises(FactoryError, match="is not a key fingerprint"):
        run(inbreast_dir, out, common, config, OTHER, fingerprint_file=tracked)


def test_the_same_key_is_not_a_change(tmp_path: Path, inbreast_dir, common, config, kit) -> None:
    tracked = tmp_path / "fp"
    write_fingerprint(kit.KEY, tracked)
    stamp = tracked.stat().st_mtime_ns
    assert write_fingerprint(kit.KEY, tracked) is False  # no rewrite, no false DVC change
    assert tracked.stat().st_mtime_ns == stamp
    assert write_fingerprint(OTHER, tracked) is True


def test_empty_environment_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FactoryError, match="FACTORY_PSEUDONYM_KEY is set but empty"):
        resolve_key("", tmp_path / "k.key")
    with pytest.raises(FactoryError, match="set but empty"):
        resolve_key("  \n", tmp_path / "k.key")
    assert not (tmp_path / "k.key").exists()  # no silent fall-back to a key file


def test_directory_key_path_is_one_line(tmp_path: Path, inbreast_dir, capsys) -> None:
    (tmp_path / "keydir").mkdir()
    args = ["ingest", "--source", "inbreast", "--path", str(inbreast_dir), "--out"]
    args += [str(tmp_path / "out"), "--quiet", "--key-file", str(tmp_path / "keydir")]
    assert main([*args, "--params", str(tmp_path / "none.yaml")]) != 0
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert "Traceback" not in err and len(errors) == 1
    assert "keydir: the pseudonym key path is a folder" in errors[0]


def test_allow_switch_is_strict() -> None:
    assert env_flag(None, "X") is False and env_flag("0", "X") is False
    assert env_flag("1", "X") is True
    with pytest.raises(FactoryError, match="X='maybe': expected 1 or 0"):
        env_flag("maybe", "X")


def test_dvc_tracks_the_fingerprint_and_git_never_the_key() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert str(FINGERPRINT_FILE) in stages["ingest"]["deps"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(FINGERPRINT_FILE)], cwd=ROOT, check=False
    )
    assert ignored.returncode == 1  # tracked (fresh clones have it: DVC needs the dep)
    for secret in (".factory/pseudonym.key", ".factory/other"):
        assert subprocess.run(["git", "check-ignore", "-q", secret], cwd=ROOT).returncode == 0


STAGE = ROOT / "stages" / "ingest.py"


def _stage(tmp_path: Path, src: Path, key: str, **env: str) -> subprocess.CompletedProcess:
    params = {
        "common": {"seed": 0, "classes": ["normal", "abnormal"], "image_size": 32},
        "ingest": {"source": "inbreast", "workers": 1, "max_bad_fraction": 0.5},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    cmd = [sys.executable, str(STAGE), "--path", str(src), "--out", "outputs/ingest"]
    full_env = {**os.environ, "FACTORY_PSEUDONYM_KEY": key, **env}
    return subprocess.run(cmd, cwd=tmp_path, env=full_env, capture_output=True, text=True)


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.mark.slow
def test_stage_refuses_another_key_in_one_line_and_empty_key(tmp_path: Path, inbreast_dir) -> None:
    assert _stage(tmp_path, inbreast_dir, "first-key-0123456789").returncode == 0
    manifest = tmp_path / "outputs/ingest/manifest.parquet"
    before = sha256_file(manifest)
    line = _one_error_line(_stage(tmp_path, inbreast_dir, "second-key-0123456789"))
    assert "another pseudonym key" in line and "images change split" in line
    assert sha256_file(manifest) == before
    line = _one_error_line(_stage(tmp_path, inbreast_dir, ""))
    assert "FACTORY_PSEUDONYM_KEY is set but empty" in line
    allowed = _stage(tmp_path, inbreast_dir, "second-key-0123456789", FACTORY_ALLOW_KEY_CHANGE="1")
    assert allowed.returncode == 0, allowed.stderr
    assert "replaced a manifest made with another key" in allowed.stderr
    assert sha256_file(manifest) != before
