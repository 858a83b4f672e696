"""The errors the ``checks`` package raises; :data:`harness.errors.EXIT_CODES` maps them."""

from __future__ import annotations


class CheckError(Exception):
    """Base of every error raised by the ``checks`` package; the message is one line."""


class CheckConfigError(CheckError):
    """A check selection, parameter, policy or waiver names something that does not exist or
    has a value the check cannot use (a usage error)."""
