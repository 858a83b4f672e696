"""The virtual disk inside an image file, as random-access bytes, for every format inspect reads.

A thin public wrapper over :mod:`images.inspect`'s per-format readers (raw and fixed VHD, dynamic
VHD, qcow2, VHDX). Reading file contents must not silently mix in zeros for data that lives
elsewhere, so images whose blocks are partly outside the file (a qcow2 backing file, a
differencing VHD or VHDX) or cannot be decoded (compressed or encrypted qcow2 clusters) are
refused with :class:`~images.fs.errors.UnreadableImageError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from images.errors import ImageFormatError
from images.extents import open_image
from images.fs.errors import UnreadableImageError
from images.inspect import (
    DynamicVhdDisk,
    FlatDisk,
    ImageFile,
    Qcow2Disk,
    UnreadableDiskData,
    VhdxDisk,
)
from images.vhd import FOOTER_SIZE, ImageFormat, probe_format

Read = Callable[[int, int], bytes]
"""``read(offset, length)``: bytes of the virtual disk, short only past its end."""

_FLATTEN = "convert it to a self-contained image first (qemu-img convert -O raw ...)"


class VirtualDisk:
    """An open image file's virtual disk; use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path | str) -> None:
        self.name = str(path)
        fd, size = open_image(Path(path))
        self._fd: int | None = fd
        try:
            self.format, self.size, self._read = _open_reader(ImageFile(fd, size, self.name))
        except BaseException:
            os.close(fd)
            self._fd = None
            raise

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of the virtual disk (short or empty past its end)."""
        if self._fd is None:
            raise ValueError(f"{self.name}: disk is closed")
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        return self._read(offset, min(length, self.size - offset))

    def close(self) -> None:
        """Close the image file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> VirtualDisk:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _open_reader(file: ImageFile) -> tuple[ImageFormat, int, Read]:
    name = file.name
    probe = probe_format(file, file.size, name)
    fmt = probe.format
    try:
        if fmt is ImageFormat.RAW:
            return fmt, file.size, FlatDisk(file, file.size, file.size)
        if fmt is ImageFormat.VHD_FIXED and probe.footer is not None:
            disk = probe.footer.current_size
            return fmt, disk, FlatDisk(file, disk, file.size - FOOTER_SIZE)
        if fmt is ImageFormat.VHD_DYNAMIC and probe.footer is not None:
            dynamic = DynamicVhdDisk(file, probe.footer)
            return fmt, dynamic.disk_size, dynamic
        if fmt is ImageFormat.QCOW2:
            qcow = Qcow2Disk(file, file(0, 112))
            if qcow.backing:
                raise UnreadableImageError(
                    f"{name}: qcow2 with a backing file: its data is partly in another file; "
                    + _FLATTEN
                )
            return fmt, qcow.disk_size, _Guarded(qcow, name)
        if fmt is ImageFormat.VHDX:
            vhdx = VhdxDisk(file)
            if vhdx.has_parent:
                raise UnreadableImageError(
                    f"{name}: differencing VHDX: its data is partly in the parent disk; " + _FLATTEN
                )
            return fmt, vhdx.disk_size, vhdx
    except UnreadableDiskData as exc:
        raise UnreadableImageError(f"{name}: disk data cannot be read offline: {exc}") from None
    if fmt is ImageFormat.VHD_DIFFERENCING:
        raise UnreadableImageError(
            f"{name}: differencing VHD: its data is partly in the parent disk; " + _FLATTEN
        )
    what = f" (looks like {probe.detail})" if probe.detail else ""
    raise ImageFormatError(f"{name}: not a disk image vmcert can read{what}")


class _Guarded:
    """Turns a qcow2 reader's late "compressed cluster" discovery into the package's error."""

    def __init__(self, read: Read, name: str) -> None:
        self._inner, self._name = read, name

    def __call__(self, offset: int, length: int) -> bytes:
        try:
            return self._inner(offset, length)
        except UnreadableDiskData as exc:
            raise UnreadableImageError(
                f"{self._name}: disk data cannot be read offline: {exc}"
            ) from None


class Slice:
    """A byte range of a disk (a partition), with the same ``read`` contract."""

    def __init__(self, read: Read, start: int, size: int) -> None:
        self._read, self.start, self.size = read, start, max(0, size)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of the range (short or empty past its end)."""
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        return self._read(self.start + offset, min(length, self.size - offset))
