"""The candidate: one image file, inspected once, as every later step needs it.

:func:`load_candidate` opens the file once, inspects its headers and partition table (small
reads), then reads its data exactly once to compute both the data extents and the sparse digest.
Booting (driver, generation), the offline checks (``inspection``), reports (:meth:`to_dict`) and
replication (``extents``, ``sparse_digest``) all take their facts from the same
:class:`Candidate`, so nothing reads the image's data a second time before the upload itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from images.bootdisk import boot_refusal, driver_of, table_generation
from images.errors import ImageFormatError, ImageInputError
from images.extents import ExtentMap, open_image, scan_data
from images.inspect import ImageInspection, inspect_open


@dataclass(frozen=True)
class Candidate:
    """An image file ready for certification and replication."""

    path: Path
    format: str
    """The inspection's format name (``vhd-fixed``, ``vhd-dynamic``, ``vhdx``, ``qcow2``, ``raw``,
    ``vhd-differencing``)."""
    qemu_driver: str
    """QEMU's ``-drive format=``: ``raw``, ``qcow2``, ``vpc`` or ``vhdx``."""
    generation: int
    """1 (BIOS) or 2 (UEFI: a GPT disk with an EFI system partition)."""
    virtual_size: int
    """Bytes of the virtual disk."""
    extents: ExtentMap
    """The file's data ranges (the file, not the virtual disk: what an upload sends)."""
    sparse_digest: str
    """:class:`images.extents.SparseDigest` of the file, 64 hex digits."""
    inspection: ImageInspection
    """The offline inspection (with ``extents`` filled in), the offline checks' ``image`` fact."""
    boot_refusal: str | None = None
    """Why the file cannot be booted on its own (a differencing VHD), or None."""

    @property
    def file_length(self) -> int:
        """Bytes of the file."""
        return self.extents.size

    def require_bootable(self) -> None:
        """Raise :class:`ImageInputError` (one line, naming the file) when it cannot be booted."""
        if self.boot_refusal is not None:
            raise ImageInputError(self.boot_refusal)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary for reports (the inspection has its own ``to_dict``)."""
        return {
            "path": str(self.path),
            "format": self.format,
            "qemu_driver": self.qemu_driver,
            "generation": self.generation,
            "virtual_size": self.virtual_size,
            "file_length": self.file_length,
            "data_bytes": self.extents.data_bytes,
            "sparse_digest": self.sparse_digest,
        }


def load_candidate(
    path: Path, *, on_progress: Callable[[int, int], None] | None = None
) -> Candidate:
    """Inspect ``path`` and compute its extents and sparse digest, reading its data once.

    ``on_progress(done, total)`` is called as the data is scanned (bytes read of the bytes to
    read; holes are not read). Raises :class:`ImageInputError` for a file that cannot be read and
    :class:`ImageFormatError` for bytes that make no usable image; the message is one line naming
    the file.
    """
    path = Path(path)
    name = str(path)
    fd, size = open_image(path)
    try:
        inspection = inspect_open(fd, size, name)  # headers and tables only
        extents, digest = scan_data(fd, size, name, on_progress=on_progress)  # the data, once
    finally:
        os.close(fd)
    assert digest is not None
    fmt, virtual = inspection.format, inspection.virtual_size
    if virtual is None:
        raise ImageFormatError(f"{name}: the {fmt} header gives no virtual size")
    return Candidate(
        path=path,
        format=str(fmt),
        qemu_driver=driver_of(fmt),
        generation=table_generation(path, inspection.partition_table, fmt, virtual),
        virtual_size=virtual,
        extents=extents,
        sparse_digest=digest,
        inspection=replace(inspection, extents=extents),
        boot_refusal=boot_refusal(fmt, name),
    )
