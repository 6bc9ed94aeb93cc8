"""The `sample` concern of factory."""
