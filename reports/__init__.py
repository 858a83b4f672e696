"""Reporters: one module per output format, registered by name."""
