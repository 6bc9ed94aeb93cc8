"""`factory ingest` and `stages/ingest.py` call the same library and resolve the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from factory.cli import main
from factory.ingest.pseudonym import key_fingerprint, resolve_key

STAGE = Path(__file__).resolve().parents[2] / "stages" / "ingest.py"


def test_cli_ingests_with_a_key_file(tmp_path: Path, inbreast_dir, capsys) -> None:
    key_file = tmp_path / "keys" / "k.key"
    args = ["ingest", "--source", "inbreast", "--path", str(inbreast_dir), "--out"]
    args += [str(tmp_path / "out"), "--image-size", "32", "--workers", "1", "--quiet"]
    args += ["--key-file", str(key_file), "--params", str(tmp_path / "none.yaml")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "created a new pseudonym key in" in err and key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    df = pd.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert len(df) == 24
    assert (tmp_path / "out" / "config.json").exists()
    # the same key file again: the same pseudonyms, no new key
    args[args.index(str(tmp_path / "out"))] = str(tmp_path / "o2")
    assert main(args) == 0
    assert "created" not in capsys.readouterr().err
    again = pd.read_parquet(tmp_path / "o2" / "manifest.parquet")
    assert list(again["patient_id"]) == list(df["patient_id"])


def test_cli_rejects_bad_input(tmp_path: Path, capsys) -> None:
    base = ["ingest", "--path", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*base, "--source", "nope"]) == 2
    assert main([*base, "--source", "inbreast", "--params", str(tmp_path / "x.yaml")]) == 2
    assert "no INbreast.csv" in capsys.readouterr().err


@pytest.mark.slow
def test_stage_reads_params_and_env_key(tmp_path: Path, inbreast_dir) -> None:
    params = {
        "common": {"seed": 0, "classes": ["normal", "abnormal"], "image_size": 32},
        "ingest": {"source": "inbreast", "workers": 1, "max_bad_fraction": 0.5},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "FACTORY_PSEUDONYM_KEY": "an-environment-key-0123456789"}
    cmd = [sys.executable, str(STAGE), "--path", str(inbreast_dir), "--out", "outputs/ingest"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "ingest: 24 images of 12 patients" in done.stdout
    assert not (tmp_path / ".factory/pseudonym.key").exists()  # the env key was used
    key, _ = resolve_key("an-environment-key-0123456789", tmp_path / "unused")
    fingerprint = (tmp_path / ".factory/pseudonym.fingerprint").read_text()
    assert fingerprint == key_fingerprint(key) + "\n"  # what DVC's ingest stage depends on
    config = yaml.safe_load((tmp_path / "outputs/ingest/config.json").read_text())
    assert config["ingest"]["source"] == "inbreast" and config["common"]["image_size"] == 32
    from factory.ingest.pseudonym import pseudonym

    df = pd.read_parquet(tmp_path / "outputs/ingest/manifest.parquet")
    first = sorted((inbreast_dir / "AllDICOMs").iterdir())[0]
    assert pseudonym(key, "img", "inbreast", f"AllDICOMs/{first.name}") in set(df["image_id"])


@pytest.mark.slow
def test_stage_failure_is_a_summary_not_a_traceback(tmp_path: Path, inbreast_dir) -> None:
    for dcm in sorted((inbreast_dir / "AllDICOMs").iterdir())[:6]:
        dcm.write_bytes(b"broken")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"ingest": {"workers": 1}}))
    env = {**os.environ, "FACTORY_PSEUDONYM_KEY": "an-environment-key-0123456789"}
    cmd = [sys.executable, str(STAGE), "--path", str(inbreast_dir), "--out", "out"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "ingest failed" in done.stderr and "unreadable 6" in done.stderr
    assert not (tmp_path / "out" / "manifest.parquet").exists()
