"""The `benchmark` concern of factory."""
