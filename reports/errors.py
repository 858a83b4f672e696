"""The errors the ``reports`` package raises; :data:`harness.errors.EXIT_CODES` maps them."""

from __future__ import annotations


class ReportError(Exception):
    """A report cannot be written or was asked for in an unknown format (a usage error)."""
