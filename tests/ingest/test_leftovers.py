"""A killed ingest leaves `.ingest-*.tmp` (and swapped-out or half-written files); the next
run removes them, unless a live run still holds them (issue 15 §5)."""

from __future__ import annotations

import os
from pathlib import Path

from factory.ingest import ingest
from factory.leftovers import hold


def test_next_ingest_removes_what_a_killed_one_left(
    tmp_path: Path, inbreast_dir, common, config, kit
) -> None:
    out = tmp_path / "out"
    dead = out / ".ingest-k1ll3d.tmp"
    (dead / "images").mkdir(parents=True)
    (dead / "images" / "img-0.png").write_bytes(b"\x89PNG" + b"0" * 1000)
    (out / ".images.old-31337").mkdir()
    (out / ".metrics.json.x7y8.tmp").write_text('{"half":')
    (out / ".notes.txt.tmp").write_text("someone else's")  # not a name ingest makes
    live = out / ".ingest-running.tmp"
    live.mkdir()
    fd = hold(live)  # another ingest still at work
    try:
        ingest(inbreast_dir, out, common=common, config=config, key=kit.KEY, progress=False)
    finally:
        os.close(fd)
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert hidden == [live.name, ".notes.txt.tmp"]
    assert (out / "manifest.parquet").is_file()
