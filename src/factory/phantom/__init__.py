"""The `phantom` concern of factory."""
