"""The ``image`` fact: the offline inspection of the image file (format, footer, sizes, partition
table), supplied by the caller from :func:`images.inspect.inspect_image`."""

from __future__ import annotations

from checks.fact import supplied
from images.inspect import ImageInspection

FACT = supplied(
    "image",
    ImageInspection,
    description="the image file's format, VHD footer, sizes and partition table (offline)",
)
