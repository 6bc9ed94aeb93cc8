"""Atomic writes: the previous content or the new one, never half of it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from factory.io import atomic_dir, atomic_write_json, read_json, read_png16, write_png16


def test_atomic_write_json_round_trip_and_normal_permissions(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path / "a" / "m.json", {"x": np.float32(1.5), "p": Path("q")})
    assert read_json(path) == {"x": 1.5, "p": "q"}
    mode = stat.S_IMODE(os.stat(path).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask  # not mkstemp's 0600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_atomic_write_refuses_nan_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path / "m.json", {"ok": 1})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"bad": float("nan")})
    assert read_json(path) == {"ok": 1}


def test_atomic_dir_keeps_previous_content_on_crash(tmp_path: Path) -> None:
    target = tmp_path / "set"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("crash")
    assert (target / "a.txt").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_png16_round_trip_is_exact(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 65536, (9, 7), dtype=np.uint16)
    write_png16(tmp_path / "x.png", image)
    np.testing.assert_array_equal(read_png16(tmp_path / "x.png"), image)
