"""The `gate` concern: is a synthetic set faithful, diverse, private and sane?

- `factory.gate.metrics`: FID, KID, FRD, precision/recall/density/coverage, MS-SSIM diversity
  (small pure functions, also used by the sampler benchmark);
- `factory.gate.features`: the pluggable feature extractors (`build_extractor`,
  `extract_features`);
- `factory.gate.memorization`: the copy search (NCC over shifts, feature distance) and its
  calibration on real held-out images;
- `factory.gate.sanity`: per-image checks; `factory.gate.gates`: thresholds and the table;
- `factory.gate.assess`: all of it on in-memory sets; `factory.gate.run`: the file edges.

Nothing heavy is imported here: `factory.gate.config` must load without torch.
"""
