"""The `sample` concern: draw versioned synthetic sets from a trained generator.

Modules (imported on demand, so that loading the config never imports torch):

- `config`: `SampleConfig`, the `sample:` section of params.yaml.
- `plan`: which images a set holds, their per-image seeds, and process shards.
- `sampler`: diffusers schedulers and the visible denoising loop with guidance.
- `run`: `sample_set(...)`, drawing a set to disk (sharded, resumable).
- `metadata`: the `metadata.parquet` table (`COLUMNS`, `read_metadata`) gate/package read.
"""
