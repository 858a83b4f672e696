"""The errors the ``images`` package raises (it depends on no other vmcert package).

The command line maps them to exit codes in one table (:data:`harness.errors.EXIT_CODES`).
"""

from __future__ import annotations


class ImageError(Exception):
    """Base of every error the ``images`` package raises; the message is one line for the user."""


class ImageInputError(ImageError):
    """An image file (or an argument about it) cannot be used; the message names the file and,
    where possible, the fix."""


class ImageFormatError(ImageInputError):
    """An image file's bytes do not make a usable image (truncated footer, lying table, ...)."""


class ImageBuildError(ImageError):
    """Building a test image failed (a tool exited non-zero, a download failed)."""
