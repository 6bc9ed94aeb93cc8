"""The `train` concern: a class-conditional, class-weighted DDPM trained with accelerate.

Entry point: `factory.train.run.train_generator(manifest_path, out_dir, common, cfg)`; the
model folder it writes is read back with `factory.generator.load_generator`. This package
file imports nothing, so that loading the config (`factory.train.config`) stays torch-free.
"""
