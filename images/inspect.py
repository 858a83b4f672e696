"""Offline inspection of an image file: format, VHD footer, sizes, data extents, partitions.

:func:`inspect_image` is what ``vmcert inspect`` and ``vmcert certify`` call; its result is the
``"image"`` fact of the offline checks (:mod:`checks.image`, :mod:`checks.disk`). Any problem with
the input raises :class:`~images.errors.ImageInputError` (missing file, permission) or
:class:`~images.errors.ImageFormatError` (bytes that make no usable image), never anything else.

The per-format readers of the virtual disk are public for :mod:`images.fs.disk`:
:class:`ImageFile` (pread over the file), :class:`FlatDisk` (raw, fixed VHD),
:class:`DynamicVhdDisk`, :class:`Qcow2Disk`, :class:`VhdxDisk`, and :class:`UnreadableDiskData`
for data that cannot be decoded offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from images.errors import ImageFormatError, ImageInputError
from images.extents import ExtentMap, open_image, scan_data
from images.partitions import PartitionTable, read_partition_table
from images.vhd import (
    FOOTER_SIZE,
    FormatProbe,
    ImageFormat,
    Reader,
    VhdFooter,
    probe_format,
    vhdx_layout,
)

SCHEMA_VERSION = 1
"""Version of :meth:`ImageInspection.to_dict`'s layout."""

_MAX_BLOCK = 256 * 1024 * 1024


@dataclass(frozen=True)
class ImageInspection:
    """Everything read from an image file without booting it."""

    path: str
    format: ImageFormat
    file_length: int
    virtual_size: int | None
    """Bytes of the virtual disk (footer current size, qcow2/VHDX header, raw file length)."""
    footer: VhdFooter | None
    partition_table: PartitionTable | None
    """None when the format's data could not be read (qcow2, VHDX, differencing VHD)."""
    extents: ExtentMap | None = None
    """The file's data extents; None when inspection was asked to skip them."""
    format_detail: str = ""
    partition_note: str = ""
    """Why ``partition_table`` is None, or a caveat about it."""

    @property
    def data_bytes(self) -> int | None:
        """Bytes of the file holding non-zero data (None without extents)."""
        return self.extents.data_bytes if self.extents is not None else None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (the ``image`` object of ``vmcert inspect --json``).

        Extents are summarised (data bytes and range count); ``extents.to_dict()`` has the ranges.
        """
        return {
            "path": self.path,
            "format": str(self.format),
            "format_detail": self.format_detail,
            "file_length": self.file_length,
            "virtual_size": self.virtual_size,
            "data_bytes": self.data_bytes,
            "footer": self.footer.to_dict() if self.footer else None,
            "partition_table": self.partition_table.to_dict() if self.partition_table else None,
            "partition_note": self.partition_note,
            "extents": {
                "data_bytes": self.extents.data_bytes,
                "ranges": len(self.extents.ranges),
            }
            if self.extents
            else None,
        }


class ImageFile:
    """``read(offset, length)`` over an open image file with ``os.pread``: short or empty past
    ``size``; an I/O error raises :class:`ImageInputError` naming ``name``. The file descriptor
    stays the caller's to close. The disk readers below take one of these."""

    def __init__(self, fd: int, size: int, name: str) -> None:
        self.fd, self.size, self.name = fd, size, name

    def __call__(self, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        try:
            return os.pread(self.fd, min(length, self.size - offset), offset)
        except OSError as exc:
            raise ImageInputError(f"{self.name}: read error: {exc.strerror}") from None


class FlatDisk:
    """The virtual disk of a raw file or fixed VHD: the file's first ``readable`` bytes.

    Like every disk reader here, a callable ``read(offset, length)`` over the virtual disk of
    ``disk_size`` bytes (short past its end); bytes the file does not hold read as zeros."""

    def __init__(self, file: ImageFile, disk_size: int, readable: int) -> None:
        self.file, self.disk_size, self.readable = file, disk_size, min(readable, disk_size)

    def __call__(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.disk_size)
        if offset >= end:
            return b""
        data = self.file(offset, min(end, self.readable) - offset)
        return data + bytes(end - offset - len(data))  # short file: the rest reads as zeros


class DynamicVhdDisk:
    """The virtual disk of a dynamic VHD, through its block allocation table (BAT): a
    ``read(offset, length)`` callable with ``disk_size``; unallocated blocks read as zeros.
    Raises :class:`ImageFormatError` when the header or table does not fit the file."""

    def __init__(self, file: ImageFile, footer: VhdFooter) -> None:
        name = file.name
        header = file(footer.data_offset, 1024) if footer.data_offset < file.size else b""
        if len(header) < 1024 or header[:8] != b"cxsparse":
            raise ImageFormatError(
                f"{name}: dynamic VHD header missing at byte {footer.data_offset} "
                "(cookie 'cxsparse' not found)"
            )
        table_offset = int.from_bytes(header[16:24], "big")
        entries = int.from_bytes(header[28:32], "big")
        block = int.from_bytes(header[32:36], "big")
        if block < 512 or block > _MAX_BLOCK or block & (block - 1):
            raise ImageFormatError(f"{name}: dynamic VHD header claims a block size of {block}")
        if entries * block < footer.current_size or table_offset + 4 * entries > file.size:
            raise ImageFormatError(
                f"{name}: dynamic VHD block table ({entries} entries at byte {table_offset}) "
                "does not fit the file or does not cover the disk"
            )
        self.file = file
        self.block = block
        self.bitmap = -(-(block // 512 // 8) // 512) * 512
        self.disk_size = footer.current_size
        self.table = file(table_offset, 4 * entries)

    def __call__(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.disk_size)
        out = bytearray()
        pos = offset
        while pos < end:
            index, within = divmod(pos, self.block)
            take = min(end - pos, self.block - within)
            sector = int.from_bytes(self.table[4 * index : 4 * index + 4], "big")
            data = b""
            if sector != 0xFFFFFFFF:
                data = self.file(sector * 512 + self.bitmap + within, take)
            out += data + bytes(take - len(data))
            pos += take
        return bytes(out)


class UnreadableDiskData(Exception):
    """The disk's bytes cannot be read offline (compressed or encrypted qcow2 clusters, an
    unreplayed VHDX log). Not an :class:`ImageError`: each caller decides what it means
    (:func:`read_disk_table` makes it a note, :class:`images.fs.disk.VirtualDisk` an
    ``UnreadableImageError``); a reader may raise it late, from a read."""


class Qcow2Disk:
    """The virtual disk of a qcow2 image, through its L1/L2 tables: a ``read(offset, length)``
    callable with ``disk_size``. Clusters of a backing file read as zeros (``backing`` says there
    is one); encrypted data raises :class:`UnreadableDiskData` at once, compressed clusters when
    read; a lying header raises :class:`ImageFormatError`."""

    def __init__(self, file: ImageFile, head: bytes) -> None:
        name = file.name
        version = int.from_bytes(head[4:8], "big")
        backing = int.from_bytes(head[8:16], "big")
        bits = int.from_bytes(head[20:24], "big")
        self.disk_size = int.from_bytes(head[24:32], "big")
        crypt = int.from_bytes(head[32:36], "big")
        l1_size = int.from_bytes(head[36:40], "big")
        l1_offset = int.from_bytes(head[40:48], "big")
        incompatible = int.from_bytes(head[72:80], "big") if version >= 3 else 0
        if not 9 <= bits <= 21:
            raise ImageFormatError(f"{name}: qcow2 header lies: cluster_bits {bits}")
        self.bits = bits
        self.l2_entries = (1 << bits) // 8
        needed = -(-self.disk_size // ((1 << bits) * self.l2_entries))
        if l1_size < needed or l1_offset + 8 * l1_size > file.size or l1_size > 1 << 25:
            raise ImageFormatError(
                f"{name}: qcow2 header lies: L1 table ({l1_size} entries at byte {l1_offset}) "
                f"does not fit the file or does not cover the {self.disk_size}-byte disk"
            )
        if crypt:
            raise UnreadableDiskData("qcow2 data is encrypted")
        if incompatible & 0x10:
            raise UnreadableDiskData("qcow2 extended L2 entries are not parsed")
        self.backing = backing != 0
        self.file = file
        self.l1 = file(l1_offset, 8 * l1_size)
        self._l2: dict[int, bytes] = {}

    def _cluster(self, index: int) -> tuple[int, bool]:
        """(file offset or 0, is-zero) of virtual cluster ``index``."""
        l1_index, l2_index = divmod(index, self.l2_entries)
        entry = int.from_bytes(self.l1[8 * l1_index : 8 * l1_index + 8], "big")
        l2_offset = entry & 0x00FFFFFFFFFFFE00
        if not l2_offset:
            return 0, False
        if l2_offset not in self._l2:
            self._l2[l2_offset] = self.file(l2_offset, 1 << self.bits)
        table = self._l2[l2_offset]
        raw = int.from_bytes(table[8 * l2_index : 8 * l2_index + 8], "big")
        if raw & (1 << 62):
            raise UnreadableDiskData("qcow2 clusters are compressed")
        return raw & 0x00FFFFFFFFFFFE00, bool(raw & 1)

    def __call__(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.disk_size)
        out = bytearray()
        size = 1 << self.bits
        pos = offset
        while pos < end:
            index, within = divmod(pos, size)
            take = min(end - pos, size - within)
            host, zero = self._cluster(index)
            data = self.file(host + within, take) if host and not zero else b""
            out += data + bytes(take - len(data))
            pos += take
        return bytes(out)


class VhdxDisk:
    """The virtual disk of a VHDX, through its block allocation table: a
    ``read(offset, length)`` callable with ``disk_size``. Blocks held by a parent disk read as
    zeros (``has_parent`` says there is one); a pending log raises :class:`UnreadableDiskData`,
    lying metadata :class:`ImageFormatError`."""

    _PRESENT = (6, 7)  # PAYLOAD_BLOCK_FULLY_PRESENT, PARTIALLY_PRESENT (differencing)

    def __init__(self, file: ImageFile) -> None:
        name = file.name
        layout = vhdx_layout(file)
        if layout.log_pending:
            raise UnreadableDiskData(
                "the VHDX log must be replayed first (open it once with Hyper-V)"
            )
        block, sector = layout.block_size, layout.logical_sector_size
        size, bat_offset, bat_length = layout.virtual_size, layout.bat_offset, layout.bat_length
        if None in (block, sector, size, bat_offset, bat_length):
            raise ImageFormatError(
                f"{name}: VHDX metadata incomplete (block size, sector size, "
                "virtual size or block table missing)"
            )
        assert block is not None and sector is not None and size is not None
        assert bat_offset is not None and bat_length is not None
        if not (1 << 20 <= block <= _MAX_BLOCK and block & (block - 1) == 0) or sector not in (
            512,
            4096,
        ):
            raise ImageFormatError(
                f"{name}: VHDX metadata lies: block size {block}, sector size {sector}"
            )
        self.block, self.disk_size, self.file = block, size, file
        self.chunk_ratio = (1 << 23) * sector // block
        blocks = -(-size // block)
        needed = 8 * (blocks + blocks // self.chunk_ratio + 1)
        if bat_offset + min(bat_length, needed) > file.size or bat_length < 8 * blocks:
            raise ImageFormatError(
                f"{name}: VHDX block table ({bat_length} bytes at byte {bat_offset}) does not "
                "fit the file or does not cover the disk"
            )
        self.bat = file(bat_offset, min(bat_length, needed))
        self.has_parent = layout.has_parent

    def __call__(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.disk_size)
        out = bytearray()
        pos = offset
        while pos < end:
            index, within = divmod(pos, self.block)
            take = min(end - pos, self.block - within)
            at = index + index // self.chunk_ratio  # a sector-bitmap entry follows each chunk
            entry = int.from_bytes(self.bat[8 * at : 8 * at + 8], "little")
            data = b""
            if entry & 7 in self._PRESENT:
                data = self.file((entry >> 20) * 1024 * 1024 + within, take)
            out += data + bytes(take - len(data))
            pos += take
        return bytes(out)


def pread_reader(fd: int, size: int, name: str) -> Reader:
    """``read(offset, length)`` over an open file (short at the end; errors name ``name``)."""
    return ImageFile(fd, size, name)


def read_disk_table(
    fd: int, size: int, probe: FormatProbe, name: str
) -> tuple[PartitionTable | None, str]:
    """The partition table of the virtual disk inside an open file of ``size`` bytes whose format
    is ``probe``, and a note on why it is None or a caveat about it.

    Bytes of no known format are read as a raw disk. Raises :class:`ImageFormatError` for a
    container or table that lies about itself.
    """
    file = ImageFile(fd, size, name)
    if probe.format in (ImageFormat.RAW, ImageFormat.UNKNOWN):
        return read_partition_table(FlatDisk(file, size, size), size, name), ""
    if probe.format is ImageFormat.VHD_FIXED and probe.footer is not None:
        disk = probe.footer.current_size
        readable = size - FOOTER_SIZE
        table = read_partition_table(FlatDisk(file, disk, readable), disk, name)
        short = f"the file holds only {readable} of the footer's {disk} disk bytes"
        return table, short if readable < disk else ""
    if probe.format is ImageFormat.VHD_DYNAMIC and probe.footer is not None:
        dynamic = DynamicVhdDisk(file, probe.footer)
        return read_partition_table(dynamic, dynamic.disk_size, name), ""
    if probe.format is ImageFormat.QCOW2:
        try:
            qcow = Qcow2Disk(file, file(0, 112))
            table = read_partition_table(qcow, qcow.disk_size, name)
        except UnreadableDiskData as exc:
            return None, f"partition table not read: {exc}"
        backing = "qcow2 with a backing file: unallocated clusters were read as zeros"
        return table, backing if qcow.backing else ""
    if probe.format is ImageFormat.VHDX:
        try:
            vhdx = VhdxDisk(file)
            table = read_partition_table(vhdx, vhdx.disk_size, name)
        except UnreadableDiskData as exc:
            return None, f"partition table not read: {exc}"
        parent = "differencing VHDX: blocks held by the parent were read as zeros"
        return table, parent if vhdx.has_parent else ""
    note = f"partition table not read: {probe.format} data is not parsed offline"
    if probe.format is ImageFormat.VHD_DIFFERENCING:
        note += " (its blocks live partly in the parent disk)"
    return None, note


def inspect_open(fd: int, size: int, name: str) -> ImageInspection:
    """Inspect an open image file of ``size`` bytes without its extent scan (``extents`` None).

    Reads headers, tables and file-system signatures only, never the bulk of the data; errors are
    those of :func:`inspect_image`.
    """
    file = ImageFile(fd, size, name)
    probe: FormatProbe = probe_format(file, size, name)
    if probe.format is ImageFormat.UNKNOWN:
        what = f" (looks like {probe.detail})" if probe.detail else ""
        raise ImageFormatError(
            f"{name}: not a disk image{what}: no VHD footer, VHDX or qcow2 header, partition "
            "table or file system found"
        )
    table, note = read_disk_table(fd, size, probe, name)
    return ImageInspection(
        path=name,
        format=probe.format,
        file_length=size,
        virtual_size=probe.virtual_size,
        footer=probe.footer,
        partition_table=table,
        format_detail=probe.detail,
        partition_note=note,
    )


def inspect_image(path: Path, *, extents: bool = True) -> ImageInspection:
    """Inspect ``path``; with ``extents=False`` the data-extent scan is skipped (faster verdict).

    Raises :class:`ImageInputError` for an unreadable file and :class:`ImageFormatError` when the
    bytes are no usable image (empty, truncated VHD footer, unknown format, a partition table that
    lies).
    :func:`images.candidate.load_candidate` adds the extents and the sparse digest in one pass.
    """
    name = str(path)
    fd, size = open_image(path)
    try:
        inspection = inspect_open(fd, size, name)
        if extents:
            extent_map, _ = scan_data(fd, size, name, digest=False)
            inspection = replace(inspection, extents=extent_map)
        return inspection
    finally:
        os.close(fd)


def human_size(n: int) -> str:
    """``32212254720`` → ``30 GiB (32212254720 bytes)``; exact figures stay visible."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            value = n / scale
            text = f"{value:.0f}" if n % scale == 0 else f"{value:.6g}"
            return f"{text} {unit} ({n} bytes)"
    return f"{n} bytes"
