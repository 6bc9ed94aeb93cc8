"""The `train` concern of factory."""
