"""The `benchmark` concern: does a synthetic set help a classifier on real, unseen patients?

`factory.benchmark.run.run_benchmark(config, common, dataset_dir, manifest_path, out_dir)`
is the entry point (used by `factory.benchmark.stage`, which `stages/benchmark.py` and
`factory benchmark` run); it returns the acceptance verdict. Modules: `data` (the image
pool), `leakage` (the guard), `scenarios` (compositions and protocol splits), `model` and
`fit` (timm classifier, training), `metrics`, `acceptance` (the verdict), `explain`
(Grad-CAM), `tables` and `figures` (Markdown and plots), `report` (outputs).

This file imports nothing, so that a stage using a few of these modules (the gate uses
`model` and `fit`) depends on those modules only.
"""
