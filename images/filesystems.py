"""File-system and volume signatures found at the start of a partition.

Only magic numbers are read (like ``blkid`` does, but without its probing breadth): enough to
tell ext2/3/4, xfs, btrfs, vfat, ntfs, swap, an LVM2 physical volume and LUKS apart.
"""

from __future__ import annotations

from collections.abc import Callable

PROBE_BYTES = 0x10100
"""How many bytes from the partition start :func:`detect_filesystem_bytes` may look at."""

FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "ntfs", "swap", "lvm2", "luks")
"""Every name :func:`detect_filesystem_bytes` can return besides ``none``."""

LINUX_ROOT_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs"})
"""File systems a Linux root can live on (counted by ``single_root_partition``)."""

_EXT_MAGIC_AT = 1024 + 0x38
_EXT4_INCOMPAT = 0x40 | 0x80 | 0x200 | 0x400 | 0x2000 | 0x8000 | 0x10000
"""extents, 64bit, flex_bg, ea_inode, csum_seed, inline_data, encrypt."""
_EXT4_RO_COMPAT = 0x8 | 0x10 | 0x20 | 0x40 | 0x400
"""huge_file, gdt_csum, dir_nlink, extra_isize, metadata_csum."""
_SWAP_PAGE_SIZES = (4096, 8192, 16384, 65536)


def _ext_variant(data: bytes) -> str:
    base = 1024
    compat = int.from_bytes(data[base + 0x5C : base + 0x60], "little")
    incompat = int.from_bytes(data[base + 0x60 : base + 0x64], "little")
    ro_compat = int.from_bytes(data[base + 0x64 : base + 0x68], "little")
    if incompat & _EXT4_INCOMPAT or ro_compat & _EXT4_RO_COMPAT:
        return "ext4"
    if compat & 0x4:  # has_journal
        return "ext3"
    return "ext2"


def detect_filesystem_bytes(data: bytes) -> str:
    """The signature found in ``data`` (the first bytes of a partition), or ``none``."""
    if data[_EXT_MAGIC_AT : _EXT_MAGIC_AT + 2] == b"\x53\xef":
        return _ext_variant(data)
    if data[:4] == b"XFSB":
        return "xfs"
    if data[0x10040:0x10048] == b"_BHRfS_M":
        return "btrfs"
    for page in _SWAP_PAGE_SIZES:
        if data[page - 10 : page] in (b"SWAPSPACE2", b"SWAP-SPACE"):
            return "swap"
    for sector in range(4):  # the LVM2 label sits in one of the first four sectors
        label = data[sector * 512 : sector * 512 + 32]
        if label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001":
            return "lvm2"
    if data[:6] == b"LUKS\xba\xbe":
        return "luks"
    if data[3:11] == b"NTFS    ":
        return "ntfs"
    if data[510:512] == b"\x55\xaa" and (
        data[54:59] in (b"FAT12", b"FAT16") or data[82:87] == b"FAT32"
    ):
        return "vfat"
    return "none"


def detect_filesystem(read: Callable[[int, int], bytes], start: int, length: int) -> str:
    """The signature at byte ``start`` of a disk, looking at most ``length`` bytes into it."""
    if length <= 0:
        return "none"
    return detect_filesystem_bytes(read(start, min(length, PROBE_BYTES)))
