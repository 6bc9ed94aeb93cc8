"""The `ingest` concern of factory."""
