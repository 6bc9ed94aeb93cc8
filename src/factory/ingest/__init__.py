"""The `ingest` concern: public datasets and DICOM exports -> the project's manifest.

`ingest(source_dir, out_dir, common=..., config=..., key=...)` is the one entry point the
DVC stage and `factory ingest` call. `resolve_key` finds (or makes) the pseudonym key.
"""

from factory.ingest.pipeline import IngestFailed, IngestResult, ingest
from factory.ingest.pseudonym import DEFAULT_KEY_FILE, KEY_ENV, pseudonym, resolve_key

__all__ = [
    "DEFAULT_KEY_FILE",
    "KEY_ENV",
    "IngestFailed",
    "IngestResult",
    "ingest",
    "pseudonym",
    "resolve_key",
]
