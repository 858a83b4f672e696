"""What a hypervisor needs to boot an image file: QEMU's driver name and the VM generation.

The driver comes from the bytes (:func:`images.vhd.probe_format`), never from the file name: a
fixed VHD must be told apart from raw (QEMU's own probe calls it raw and boots the footer as a
disk sector). The generation comes from the partition table read by
:func:`images.partitions.read_partition_table` (the one GPT parser): a GPT disk with an EFI system
partition boots under UEFI (generation 2), anything else under BIOS (generation 1).

:func:`qemu_driver` and :func:`disk_generation` are lenient on purpose, for booting a path that was
not inspected: bytes of no recognised format (a blank disk) boot as raw and fail at boot with a
reason. :func:`images.candidate.load_candidate` is the strict path (inspection first).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from images.errors import ImageFormatError, ImageInputError
from images.extents import open_image
from images.inspect import pread_reader, read_disk_table
from images.partitions import GPT_ESP, SECTOR, PartitionTable, read_partition_table
from images.vhd import FormatProbe, ImageFormat, probe_format

HEAD_SECTORS = 34
"""Protective MBR, GPT header and a 128-entry array: all a generation needs."""


def generation_of(table: PartitionTable | None) -> int:
    """2 for a GPT disk with an EFI system partition, else 1 (BIOS)."""
    if table is None or table.kind != "gpt":
        return 1
    return 2 if any(p.type_id == GPT_ESP for p in table.partitions) else 1


def boot_refusal(fmt: ImageFormat, name: str, detail: str = "") -> str | None:
    """Why a file of format ``fmt`` cannot be booted on its own (one line), or None.

    ``detail`` is :attr:`FormatProbe.detail` (what unknown bytes look like).
    """
    if fmt is ImageFormat.VHD_DIFFERENCING:
        return f"image {name} is a differencing VHD; boot its merged (fixed) disk"
    if fmt is ImageFormat.UNKNOWN and detail not in ("", "all zeros at the start"):
        return (
            f"image {name} looks like {detail}, not a VHD/VHDX/qcow2/raw disk; "
            "convert it with qemu-img first"
        )
    return None


def driver_of(fmt: ImageFormat) -> str:
    """QEMU's ``-drive format=`` for a format; bytes of no known format are booted as raw."""
    return fmt.qemu_name or "raw"


def _probe(fd: int, size: int, name: str) -> FormatProbe:
    return probe_format(pread_reader(fd, size, name), size, name)


def qemu_driver(path: Path) -> str:
    """QEMU's driver for ``path`` from its bytes: ``raw``, ``qcow2``, ``vpc`` or ``vhdx``.

    Bytes that are no container and no recognised disk (a blank disk) are booted as ``raw``.
    Raises :class:`ImageInputError` for a file that cannot be read, a differencing VHD (it needs
    its parent) or another container (VMDK, compressed files, ISO images), and
    :class:`ImageFormatError` for a damaged VHD footer.
    """
    name = str(path)
    fd, size = open_image(path)
    try:
        probe = _probe(fd, size, name)
    finally:
        os.close(fd)
    refusal = boot_refusal(probe.format, name, probe.detail)
    if refusal is not None:
        raise ImageInputError(refusal)
    return driver_of(probe.format)


def disk_generation(path: Path) -> int:
    """2 when ``path``'s virtual disk is GPT with an EFI system partition, else 1.

    Reads the disk through its container (raw, fixed or dynamic VHD, VHDX, qcow2); where that is
    not possible offline (compressed qcow2 clusters, a VHDX log to replay) the first sectors are
    read through ``qemu-img dd``. A table that cannot be read counts as generation 1.
    """
    name = str(path)
    fd, size = open_image(path)
    try:
        probe = _probe(fd, size, name)
        try:
            table, _ = read_disk_table(fd, size, probe, name)
        except ImageFormatError:
            return 1  # a lying table boots nowhere; BIOS gives the clearer failure
    finally:
        os.close(fd)
    return table_generation(path, table, probe.format, probe.virtual_size)


def table_generation(
    path: Path, table: PartitionTable | None, fmt: ImageFormat, virtual_size: int | None
) -> int:
    """The generation from a table already read; where none could be read offline (``table``
    None: compressed qcow2 clusters, a VHDX log to replay), from the first sectors as
    ``qemu-img dd`` reads them."""
    if table is None and fmt.qemu_name is not None:
        return generation_from_head(_head_via_qemu_img(path, fmt.qemu_name), virtual_size)
    return generation_of(table)


def generation_from_head(head: bytes, virtual_size: int | None) -> int:
    """The generation from the first sectors of a virtual disk (the rest read as zeros)."""
    if len(head) < 2 * SECTOR:
        return 1
    disk_size = virtual_size or len(head)

    def read(offset: int, length: int) -> bytes:
        end = min(offset + length, disk_size)
        data = head[offset:end] if offset < end else b""
        return data + bytes(max(0, end - offset - len(data)))

    try:
        return generation_of(read_partition_table(read, disk_size, "head"))
    except ImageFormatError:
        return 1


def _head_via_qemu_img(path: Path, driver: str) -> bytes:
    """The first sectors of the virtual disk as QEMU reads them (b"" when qemu-img cannot)."""
    with tempfile.TemporaryDirectory(prefix="vmcert-head-") as tmp:
        out = Path(tmp, "head.raw")
        command = ["qemu-img", "dd", "-f", driver, "-O", "raw", "bs=512"]
        command += [f"count={HEAD_SECTORS}", f"if={path}", f"of={out}"]
        try:
            proc = subprocess.run(command, capture_output=True, check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return b""
        if proc.returncode != 0 or not out.exists():
            return b""
        return out.read_bytes()
