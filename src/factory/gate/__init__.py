"""The `gate` concern of factory."""
