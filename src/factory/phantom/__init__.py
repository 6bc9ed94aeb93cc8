"""The embedded phantom: synthetic mammograms written in the layouts of public datasets.

`write_layout(kind, out, patients=, seed=, height=)` is the entry point (the `phantom`
stage, `factory phantom` and the ingest tests all use it). Synthetic images, for pipelines
and tests, never for clinical conclusions.
"""

from factory.phantom.writer import TRUTH_FILE, is_phantom_set, read_truth, write_layout

__all__ = ["TRUTH_FILE", "is_phantom_set", "read_truth", "write_layout"]
