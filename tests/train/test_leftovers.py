"""A killed export's staging folder is removed by the next run (issue 15 §5)."""

from __future__ import annotations

from factory.train.run import train_generator


def test_next_run_removes_a_killed_exports_staging(manifest16, tmp_path, tiny_cfg, common16):
    out = tmp_path / "train"
    (out / ".model.k1ll3d.tmp").mkdir(parents=True)
    (out / ".model.k1ll3d.tmp" / "unet.safetensors").write_bytes(b"0" * 100)
    (out / ".model.old-31337").mkdir()
    train_generator(manifest16, out, common16, tiny_cfg(steps=1))
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".model")) == []
    assert (out / "model" / "factory_model.json").is_file()
