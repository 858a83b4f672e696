"""Partition tables: MBR (with extended/logical partitions) and GPT (with CRCs and backup header).

Two kinds of trouble are told apart:

* **problems** (overlapping partitions, a partition past the end of the disk, a CRC mismatch, a
  missing backup GPT header or protective MBR) are recorded in :attr:`PartitionTable.problems`;
  the ``partition_table_valid`` check fails on them;
* a table that **lies about itself** so that it cannot be read (a GPT header whose size, entry
  size or entry count is impossible, an entry array outside the disk, a protective MBR with no GPT
  header anywhere, a looping or out-of-disk extended-partition chain) raises
  :class:`~images.errors.ImageFormatError`: the input is unusable.
"""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from images.errors import ImageFormatError
from images.filesystems import LINUX_ROOT_FILESYSTEMS, detect_filesystem

SECTOR = 512
MAX_LOGICAL = 128
"""More logical partitions than this is taken as a looping EBR chain."""
MAX_GPT_ENTRY_BYTES = 4 * 1024 * 1024

Read = Callable[[int, int], bytes]

MBR_TYPES: dict[int, str] = {
    0x01: "FAT12",
    0x04: "FAT16 <32M",
    0x05: "Extended",
    0x06: "FAT16",
    0x07: "HPFS/NTFS/exFAT",
    0x0B: "W95 FAT32",
    0x0C: "W95 FAT32 (LBA)",
    0x0E: "W95 FAT16 (LBA)",
    0x0F: "W95 Extended (LBA)",
    0x27: "Hidden NTFS WinRE",
    0x82: "Linux swap",
    0x83: "Linux",
    0x85: "Linux extended",
    0x8E: "Linux LVM",
    0xA5: "FreeBSD",
    0xA6: "OpenBSD",
    0xA8: "Darwin UFS",
    0xAF: "HFS / HFS+",
    0xEE: "GPT protective",
    0xEF: "EFI (FAT-12/16/32)",
    0xFD: "Linux raid autodetect",
}
MBR_EXTENDED = frozenset({0x05, 0x0F, 0x85})
MBR_SWAP = 0x82
MBR_LINUX = 0x83
MBR_LVM = 0x8E

GPT_TYPES: dict[str, str] = {
    "C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
    "21686148-6449-6E6F-744E-656564454649": "BIOS boot",
    "0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
    "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
    "E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
    "A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
    "44479540-F297-41B2-9AF7-D131D5F0458A": "Linux root (x86)",
    "B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM-64)",
    "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3": "Linux root (ARM)",
    "933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
    "3B8F8425-20E0-4F3B-907F-1A25A76F98E8": "Linux server data (/srv)",
    "4D21B016-B534-45C2-A9FB-5C16E091FD2D": "Linux variable data (/var)",
    "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1": "Linux temporary data (/var/tmp)",
    "8484680C-9521-48C6-9C11-B0720656F69E": "Linux /usr (x86-64)",
    "BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
    "CA7D7CCB-63ED-4C53-861C-1742536059CC": "Linux LUKS",
    "7FFEC5C9-2D00-49B7-8941-3EA10A5586B7": "Linux dm-crypt",
    "8DA63339-0007-60C0-C436-083AC8230908": "Linux reserved",
    "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
    "E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
    "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows recovery environment",
    "024DEE41-33E7-11D3-9D69-0008C781F39F": "MBR partition scheme",
}
GPT_ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
"""The EFI system partition's type GUID: with it a GPT disk boots under UEFI (generation 2)."""
GPT_SWAP = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
GPT_LVM = "E6D6D379-F507-44C2-A23C-238F2A3DF928"
GPT_LINUX_DATA = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
GPT_LINUX_ROOTS = frozenset(
    {
        "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        "44479540-F297-41B2-9AF7-D131D5F0458A",
        "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
        "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3",
    }
)


@dataclass(frozen=True)
class Partition:
    """One partition. Sizes and starts are in bytes; ``*_lba`` in 512-byte sectors."""

    index: int
    """1-based; MBR logical partitions are numbered from 5, as Linux does."""
    scheme: str
    """``mbr`` or ``gpt``."""
    role: str
    """``primary``, ``extended``, ``logical`` (MBR) or ``gpt``."""
    start_lba: int
    size_sectors: int
    type_id: str
    """``0x83`` style for MBR, an upper-case GUID for GPT."""
    type_name: str
    name: str = ""
    """The GPT partition name (UTF-16 in the entry)."""
    unique_guid: str = ""
    bootable: bool = False
    attributes: int = 0
    filesystem: str = "none"
    """Signature at the partition start (see :mod:`images.filesystems`)."""

    @property
    def start(self) -> int:
        """Start offset in bytes."""
        return self.start_lba * SECTOR

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self.size_sectors * SECTOR

    @property
    def end_lba(self) -> int:
        """First sector after the partition."""
        return self.start_lba + self.size_sectors

    @property
    def is_swap(self) -> bool:
        """Swap by type id or by the ``SWAPSPACE2`` signature."""
        return self.type_id in (f"0x{MBR_SWAP:02x}", GPT_SWAP) or self.filesystem == "swap"

    @property
    def is_lvm(self) -> bool:
        """An LVM physical volume by type id or by its ``LABELONE``/``LVM2 001`` label."""
        return self.type_id in (f"0x{MBR_LVM:02x}", GPT_LVM) or self.filesystem == "lvm2"

    @property
    def is_linux_root_capable(self) -> bool:
        """Could hold a Linux root: a root GUID, or a Linux data type with a Linux file system."""
        if self.type_id in GPT_LINUX_ROOTS:
            return True
        linux_type = self.type_id in (f"0x{MBR_LINUX:02x}", GPT_LINUX_DATA)
        return linux_type and self.filesystem in LINUX_ROOT_FILESYSTEMS

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "index": self.index,
            "scheme": self.scheme,
            "role": self.role,
            "start_lba": self.start_lba,
            "size_sectors": self.size_sectors,
            "start": self.start,
            "size": self.size,
            "type_id": self.type_id,
            "type_name": self.type_name,
            "name": self.name,
            "unique_guid": self.unique_guid,
            "bootable": self.bootable,
            "filesystem": self.filesystem,
        }


@dataclass(frozen=True)
class PartitionTable:
    """The partition table of a disk, with everything found wrong with it."""

    kind: str
    """``mbr``, ``gpt`` or ``none``."""
    disk_size: int
    partitions: tuple[Partition, ...] = ()
    problems: tuple[str, ...] = ()
    disk_guid: str = ""
    header_crc_ok: bool | None = None
    entries_crc_ok: bool | None = None
    backup_ok: bool | None = None
    protective_mbr_ok: bool | None = None
    whole_disk_filesystem: str = "none"
    """With no table: the file-system signature at offset 0 (a "superfloppy")."""
    notes: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        """A table exists and nothing is wrong with it."""
        return self.kind != "none" and not self.problems

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {
            "kind": self.kind,
            "disk_size": self.disk_size,
            "disk_guid": self.disk_guid,
            "header_crc_ok": self.header_crc_ok,
            "entries_crc_ok": self.entries_crc_ok,
            "backup_ok": self.backup_ok,
            "protective_mbr_ok": self.protective_mbr_ok,
            "whole_disk_filesystem": self.whole_disk_filesystem,
            "partitions": [p.to_dict() for p in self.partitions],
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _MbrEntry:
    status: int
    type: int
    start: int
    sectors: int


def _mbr_entries(sector: bytes) -> list[_MbrEntry]:
    entries = []
    for i in range(4):
        raw = sector[446 + 16 * i : 462 + 16 * i]
        entries.append(
            _MbrEntry(
                status=raw[0],
                type=raw[4],
                start=int.from_bytes(raw[8:12], "little"),
                sectors=int.from_bytes(raw[12:16], "little"),
            )
        )
    return entries


def _is_mbr(sector: bytes) -> bool:
    """A boot signature and sane status bytes (a FAT/NTFS boot sector also ends in 55AA)."""
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        return False
    entries = _mbr_entries(sector)
    if any(e.status not in (0x00, 0x80) for e in entries):
        return False
    return any(e.type != 0 for e in entries) or not sector[446:510].strip(b"\0")


def _mbr_type_id(value: int) -> str:
    return f"0x{value:02x}"


def _check_overlaps(parts: list[Partition], problems: list[str]) -> None:
    ordered = sorted(parts, key=lambda p: (p.start_lba, p.index))
    for a_i, a in enumerate(ordered):
        for b in ordered[a_i + 1 :]:
            if b.start_lba >= a.end_lba:
                break
            problems.append(
                f"partitions {a.index} (sectors {a.start_lba}-{a.end_lba - 1}) and {b.index} "
                f"(sectors {b.start_lba}-{b.end_lba - 1}) overlap"
            )


def _check_bounds(parts: list[Partition], disk_sectors: int, problems: list[str]) -> None:
    for p in parts:
        if p.end_lba > disk_sectors:
            problems.append(
                f"partition {p.index} ends at sector {p.end_lba - 1}, past the end of the disk "
                f"(last sector {disk_sectors - 1})"
            )


def _read_mbr(read: Read, sector0: bytes, disk_size: int, name: str) -> PartitionTable:
    disk_sectors = disk_size // SECTOR
    parts: list[Partition] = []
    problems: list[str] = []
    extended: Partition | None = None
    for i, entry in enumerate(_mbr_entries(sector0), start=1):
        if entry.type == 0:
            continue
        role = "extended" if entry.type in MBR_EXTENDED else "primary"
        if entry.sectors == 0:
            problems.append(f"partition {i} has type {_mbr_type_id(entry.type)} but 0 sectors")
            continue
        part = Partition(
            index=i,
            scheme="mbr",
            role=role,
            start_lba=entry.start,
            size_sectors=entry.sectors,
            type_id=_mbr_type_id(entry.type),
            type_name=MBR_TYPES.get(entry.type, "unknown"),
            bootable=entry.status == 0x80,
        )
        if role == "extended":
            if extended is not None:
                problems.append(f"partition {i} is a second extended partition")
            else:
                extended = part
        parts.append(part)
    logical = _read_logical(read, extended, disk_sectors, name, problems) if extended else []
    # Overlaps: primaries among themselves (the extended container included), logicals among
    # themselves; a logical must lie inside its container.
    _check_overlaps(parts, problems)
    _check_overlaps(logical, problems)
    if extended is not None:
        for p in logical:
            if p.start_lba < extended.start_lba or p.end_lba > extended.end_lba:
                problems.append(f"logical partition {p.index} lies outside its extended partition")
    _check_bounds(parts + logical, disk_sectors, problems)
    everything = sorted(parts + logical, key=lambda p: p.index)
    return PartitionTable(
        kind="mbr",
        disk_size=disk_size,
        partitions=tuple(_with_filesystems(read, everything, disk_size)),
        problems=tuple(problems),
    )


def _read_logical(
    read: Read, extended: Partition, disk_sectors: int, name: str, problems: list[str]
) -> list[Partition]:
    base = extended.start_lba
    ebr_lba = base
    seen: set[int] = set()
    logical: list[Partition] = []
    while True:
        if ebr_lba in seen or len(logical) >= MAX_LOGICAL:
            raise ImageFormatError(
                f"{name}: partition table lies: the extended-partition chain loops at sector "
                f"{ebr_lba}"
            )
        seen.add(ebr_lba)
        if ebr_lba >= disk_sectors:
            raise ImageFormatError(
                f"{name}: partition table lies: an extended boot record is at sector {ebr_lba}, "
                f"past the end of the disk ({disk_sectors} sectors)"
            )
        ebr = read(ebr_lba * SECTOR, SECTOR)
        if len(ebr) < SECTOR or ebr[510:512] != b"\x55\xaa":
            problems.append(f"extended boot record at sector {ebr_lba} has no 55AA signature")
            break
        first, second = _mbr_entries(ebr)[:2]
        if first.type != 0 and first.sectors:
            index = 5 + len(logical)
            logical.append(
                Partition(
                    index=index,
                    scheme="mbr",
                    role="logical",
                    start_lba=ebr_lba + first.start,
                    size_sectors=first.sectors,
                    type_id=_mbr_type_id(first.type),
                    type_name=MBR_TYPES.get(first.type, "unknown"),
                    bootable=first.status == 0x80,
                )
            )
        if second.type not in MBR_EXTENDED or second.sectors == 0:
            break
        ebr_lba = base + second.start
    return logical


def _guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw)).upper()


@dataclass(frozen=True)
class _GptHeader:
    raw: bytes
    header_size: int
    crc: int
    my_lba: int
    alternate_lba: int
    first_usable: int
    last_usable: int
    disk_guid: str
    entries_lba: int
    num_entries: int
    entry_size: int
    entries_crc: int

    @property
    def crc_ok(self) -> bool:
        body = bytearray(self.raw[: self.header_size])
        body[16:20] = bytes(4)
        return binascii.crc32(bytes(body)) == self.crc


def _parse_gpt_header(sector: bytes, lba: int, disk_sectors: int, name: str) -> _GptHeader | None:
    """Parse a GPT header; None when there is no signature; impossible geometry raises."""
    if len(sector) < 92 or sector[:8] != b"EFI PART":
        return None
    size = int.from_bytes(sector[12:16], "little")
    entries_lba = int.from_bytes(sector[72:80], "little")
    num_entries = int.from_bytes(sector[80:84], "little")
    entry_size = int.from_bytes(sector[84:88], "little")
    where = f"GPT header at sector {lba}"
    if not 92 <= size <= SECTOR:
        raise ImageFormatError(f"{name}: partition table lies: {where} claims {size} bytes")
    if entry_size < 128 or entry_size % 8:
        raise ImageFormatError(
            f"{name}: partition table lies: {where} claims {entry_size}-byte entries"
        )
    array_bytes = num_entries * entry_size
    if array_bytes > MAX_GPT_ENTRY_BYTES:
        raise ImageFormatError(
            f"{name}: partition table lies: {where} claims {num_entries} entries "
            f"({array_bytes} bytes)"
        )
    if entries_lba == 0 or entries_lba + -(-array_bytes // SECTOR) > disk_sectors:
        raise ImageFormatError(
            f"{name}: partition table lies: {where} puts its entry array at sector "
            f"{entries_lba}, outside the disk ({disk_sectors} sectors)"
        )
    return _GptHeader(
        raw=sector,
        header_size=size,
        crc=int.from_bytes(sector[16:20], "little"),
        my_lba=int.from_bytes(sector[24:32], "little"),
        alternate_lba=int.from_bytes(sector[32:40], "little"),
        first_usable=int.from_bytes(sector[40:48], "little"),
        last_usable=int.from_bytes(sector[48:56], "little"),
        disk_guid=_guid(sector[56:72]),
        entries_lba=entries_lba,
        num_entries=num_entries,
        entry_size=entry_size,
        entries_crc=int.from_bytes(sector[88:92], "little"),
    )


def _read_gpt(read: Read, sector0: bytes, disk_size: int, name: str) -> PartitionTable:
    disk_sectors = disk_size // SECTOR
    problems: list[str] = []
    notes: list[str] = []
    last_lba = disk_sectors - 1
    primary = _parse_gpt_header(read(SECTOR, SECTOR), 1, disk_sectors, name)
    backup_at_end = (
        _parse_gpt_header(read(last_lba * SECTOR, SECTOR), last_lba, disk_sectors, name)
        if last_lba > 1
        else None
    )
    header = primary or backup_at_end
    if header is None:
        raise ImageFormatError(
            f"{name}: partition table lies: a protective MBR announces GPT but there is no GPT "
            "header at sector 1 or at the last sector"
        )
    if primary is None:
        problems.append("primary GPT header missing at sector 1 (only the backup was found)")
    elif not primary.crc_ok:
        problems.append("primary GPT header CRC32 mismatch")
    elif primary.my_lba != 1:
        problems.append(f"primary GPT header says it is at sector {primary.my_lba}, not 1")
    array = read(header.entries_lba * SECTOR, header.num_entries * header.entry_size)
    entries_crc_ok = binascii.crc32(array) == header.entries_crc
    if not entries_crc_ok:
        problems.append("GPT partition entry array CRC32 mismatch")
    # The backup header should be at the alternate LBA, which should be the disk's last sector.
    backup_ok: bool
    if primary is not None:
        if primary.alternate_lba != last_lba:
            problems.append(
                f"primary GPT header puts the backup at sector {primary.alternate_lba}, but the "
                f"disk's last sector is {last_lba} (disk resized? fix: sfdisk --relocate "
                "gpt-bak-std <raw disk>)"
            )
        backup = (
            backup_at_end
            if primary.alternate_lba == last_lba
            else (
                _parse_gpt_header(
                    read(primary.alternate_lba * SECTOR, SECTOR),
                    primary.alternate_lba,
                    disk_sectors,
                    name,
                )
                if 1 < primary.alternate_lba < disk_sectors
                else None
            )
        )
        backup_ok = backup is not None and backup.crc_ok
        if backup is None:
            problems.append(f"backup GPT header missing at sector {last_lba}")
        elif not backup.crc_ok:
            problems.append("backup GPT header CRC32 mismatch")
        elif backup.entries_crc != primary.entries_crc or backup.disk_guid != primary.disk_guid:
            problems.append("backup GPT header does not match the primary")
            backup_ok = False
        if primary.alternate_lba != last_lba:
            backup_ok = False
    else:
        backup_ok = header.crc_ok
    protective = [e for e in _mbr_entries(sector0) if e.type == 0xEE]
    protective_ok = bool(protective) and protective[0].start == 1
    if not protective:
        problems.append("no protective MBR (type 0xee) in sector 0")
    elif not protective_ok:
        problems.append(f"protective MBR partition starts at sector {protective[0].start}, not 1")
    if len([e for e in _mbr_entries(sector0) if e.type != 0]) > len(protective):
        notes.append("hybrid MBR: sector 0 lists partitions besides the protective one")
    parts: list[Partition] = []
    for i in range(header.num_entries):
        raw = array[i * header.entry_size : i * header.entry_size + 128]
        if len(raw) < 128:
            break
        type_guid = _guid(raw[:16])
        if type_guid == "00000000-0000-0000-0000-000000000000":
            continue
        first = int.from_bytes(raw[32:40], "little")
        last = int.from_bytes(raw[40:48], "little")
        index = i + 1
        if last < first:
            problems.append(f"partition {index} ends (sector {last}) before it starts ({first})")
            continue
        if first < header.first_usable or last > header.last_usable:
            problems.append(
                f"partition {index} (sectors {first}-{last}) lies outside the usable area "
                f"{header.first_usable}-{header.last_usable}"
            )
        parts.append(
            Partition(
                index=index,
                scheme="gpt",
                role="gpt",
                start_lba=first,
                size_sectors=last - first + 1,
                type_id=type_guid,
                type_name=GPT_TYPES.get(type_guid, "unknown"),
                name=raw[56:128].decode("utf-16-le", "replace").split("\0", 1)[0],
                unique_guid=_guid(raw[16:32]),
                attributes=int.from_bytes(raw[48:56], "little"),
            )
        )
    _check_overlaps(parts, problems)
    _check_bounds(parts, disk_sectors, problems)
    return PartitionTable(
        kind="gpt",
        disk_size=disk_size,
        partitions=tuple(_with_filesystems(read, parts, disk_size)),
        problems=tuple(problems),
        disk_guid=header.disk_guid,
        header_crc_ok=header.crc_ok if primary is not None else False,
        entries_crc_ok=entries_crc_ok,
        backup_ok=backup_ok,
        protective_mbr_ok=protective_ok,
        notes=tuple(notes),
    )


def _with_filesystems(read: Read, parts: list[Partition], disk_size: int) -> list[Partition]:
    """Fill in each partition's file-system signature (extended containers have none)."""
    out = []
    for p in parts:
        if p.role == "extended" or p.start >= disk_size:
            out.append(p)
            continue
        length = min(p.size, disk_size - p.start)
        out.append(replace(p, filesystem=detect_filesystem(read, p.start, length)))
    return out


def read_partition_table(read: Read, disk_size: int, name: str = "image") -> PartitionTable:
    """Read the partition table of a virtual disk of ``disk_size`` bytes.

    ``read(offset, length)`` returns disk bytes (short or empty past the end). ``name`` is used in
    error messages only.
    """
    sector0 = read(0, SECTOR)
    if len(sector0) < SECTOR:
        return PartitionTable(kind="none", disk_size=disk_size)
    whole = detect_filesystem(read, 0, disk_size)
    no_entries = all(e.type == 0 for e in _mbr_entries(sector0))
    if _is_mbr(sector0) and not (whole in ("vfat", "ntfs") and no_entries):
        if any(e.type == 0xEE for e in _mbr_entries(sector0)):
            return _read_gpt(read, sector0, disk_size, name)
        table = _read_mbr(read, sector0, disk_size, name)
        if read(SECTOR, 8) == b"EFI PART":
            notes = (*table.notes, "a GPT header at sector 1 is ignored: no protective MBR")
            table = replace(table, notes=notes)
        return table
    if read(SECTOR, 8) == b"EFI PART":
        # GPT without any MBR: still readable, the missing protective MBR is a problem.
        return _read_gpt(read, bytes(SECTOR), disk_size, name)
    return PartitionTable(kind="none", disk_size=disk_size, whole_disk_filesystem=whole)
