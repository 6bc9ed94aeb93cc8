"""A killed sample run's half-written files are removed by the next run (issue 15 §5)."""

from __future__ import annotations

from .test_run import draw


def test_next_run_removes_a_killed_runs_temporaries(tiny_model, tmp_path) -> None:
    out = tmp_path / "sample"
    (out / "images" / "normal").mkdir(parents=True)
    (out / ".metadata.parquet.k1ll.tmp").write_bytes(b"PAR1")
    (out / "images" / "normal" / ".img-0.png.x9.tmp").write_bytes(b"\x89PNG")
    draw(tiny_model, out)
    left = [p.name for p in out.rglob("*.tmp")]
    assert left == []
    assert (out / "metadata.parquet").is_file()
