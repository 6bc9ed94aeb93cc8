"""The `package` concern of factory."""
