"""The image being replicated: its path, data extents and sparse digest, each computed once.

An :class:`images.candidate.Candidate` is such an image (the certify run hands its Candidates
over); a bare path is scanned once by :func:`scan_image`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.errors import InputError
from images.extents import ExtentMap, open_image, scan_data


class ImageData(Protocol):
    """What replication needs of an image: an :class:`images.candidate.Candidate` has it all."""

    @property
    def path(self) -> Path: ...
    @property
    def extents(self) -> ExtentMap: ...
    @property
    def sparse_digest(self) -> str: ...


if TYPE_CHECKING:
    from images.candidate import Candidate

    def _conforms(candidate: Candidate) -> ImageData:
        return candidate  # mypy proves here that a Candidate is what replication takes


@dataclass(frozen=True)
class ImageFile:
    """An image file's extents and sparse digest, for replicating a file that has no Candidate."""

    path: Path
    extents: ExtentMap
    sparse_digest: str


def scan_image(path: Path) -> ImageFile:
    """Extents and sparse digest of ``path`` from one read of its data.

    The same single pass as :func:`images.candidate.load_candidate`, without judging the format:
    replication copies any file of N x 512 bytes (an Azure fixed VHD is one), as it always has.
    """
    fd, size = open_image(path)
    try:
        extents, digest = scan_data(fd, size, str(path))
    finally:
        os.close(fd)
    assert digest is not None  # scan_data computes it unless asked not to
    return ImageFile(path, extents, digest)


def check_unchanged(image: ImageData) -> None:
    """Refuse an image whose file changed size since its extents were taken (a cheap stat)."""
    try:
        size = image.path.stat().st_size
    except OSError as exc:
        raise InputError(f"{image.path}: cannot read the image ({exc.strerror})") from None
    if size != image.extents.size:
        raise InputError(
            f"{image.path}: the file changed since it was inspected (size {size}, was "
            f"{image.extents.size}); certify it again"
        )
