"""Finding the volumes of a virtual disk: partitions, LVM2 logical volumes, and what each holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from images.filesystems import PROBE_BYTES, detect_filesystem_bytes
from images.fs.disk import Slice, VirtualDisk
from images.fs.errors import FilesystemError
from images.fs.lvm import PhysicalVolume, VolumeGroups
from images.fs.model import Source, VolumeInfo
from images.partitions import Partition, PartitionTable, read_partition_table

READABLE = frozenset({"ext2", "ext3", "ext4", "xfs", "vfat"})
_STATUS = {
    "lvm2": "container",
    "luks": "encrypted",
    "swap": "swap",
    "btrfs": "unsupported",
    "ntfs": "unsupported",
    "none": "empty",
}


@dataclass(frozen=True)
class FoundVolume:
    """A volume and the bytes it lives in."""

    info: VolumeInfo
    source: Source
    where: str
    """How messages name it: ``disk.vhd: partition 2`` or ``disk.vhd: LV rootvg/root``."""


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def identity(kind: str, head: bytes) -> tuple[str, str]:
    """(UUID as fstab spells it, label) read from a volume's first bytes; ``""`` where absent."""
    if kind.startswith("ext") and len(head) >= 1024 + 0x88:
        sb = head[1024:]
        return str(uuid.UUID(bytes=sb[0x68:0x78])), _text(sb[0x78:0x88])
    if kind == "xfs" and len(head) >= 120:
        return str(uuid.UUID(bytes=head[32:48])), _text(head[108:120])
    if kind == "vfat" and len(head) >= 90:
        fat32 = head[82:87] == b"FAT32"
        at = 67 if fat32 else 39
        serial = int.from_bytes(head[at : at + 4], "little")
        label = _text(head[at + 4 : at + 15])
        return f"{serial >> 16:04X}-{serial & 0xFFFF:04X}", "" if label == "NO NAME" else label
    if kind == "swap" and len(head) >= 1068:
        return str(uuid.UUID(bytes=head[1036:1052])), _text(head[1052:1068])
    if kind == "luks" and len(head) >= 208:
        return _text(head[168:208]), ""
    return "", ""


def _info(vid: str, source: Source, *, partuuid: str = "", partlabel: str = "") -> VolumeInfo:
    try:
        head = source.read(0, PROBE_BYTES)
    except FilesystemError as exc:
        return VolumeInfo(
            id=vid, filesystem="none", size=source.size, status="error", note=str(exc)
        )
    fs = detect_filesystem_bytes(head)
    uid, label = identity(fs, head)
    status = "readable" if fs in READABLE else _STATUS.get(fs, "unsupported")
    note = {
        "encrypted": "LUKS-encrypted: its files cannot be read without the key",
        "unsupported": f"{fs} file systems are not read offline",
    }.get(status, "")
    return VolumeInfo(
        id=vid,
        filesystem=fs,
        size=source.size,
        status=status,
        uuid=uid,
        label=label,
        partuuid=partuuid,
        partlabel=partlabel,
        note=note,
    )


def _partuuid(part: Partition, disk_signature: int) -> str:
    if part.scheme == "gpt":
        return part.unique_guid.lower()
    return f"{disk_signature:08x}-{part.index:02x}" if disk_signature else ""


def find_volumes(disk: VirtualDisk) -> tuple[list[FoundVolume], list[str]]:
    """Every partition (or the whole disk) and every LVM LV, with notes on what was skipped."""
    return find_volumes_in(disk, read_partition_table(disk.read, disk.size, disk.name))


def find_volumes_in(
    disk: VirtualDisk, table: PartitionTable
) -> tuple[list[FoundVolume], list[str]]:
    """:func:`find_volumes` with the disk's partition table already read."""
    name = disk.name
    found: list[FoundVolume] = []
    notes: list[str] = [f"partition table: {p}" for p in table.problems]
    if table.kind == "none":
        whole = Slice(disk.read, 0, disk.size)
        found.append(FoundVolume(_info("disk", whole), whole, f"{name}: whole disk"))
    else:
        signature = int.from_bytes(disk.read(440, 4), "little") if table.kind == "mbr" else 0
        for part in table.partitions:
            if part.role == "extended":
                continue
            source = Slice(disk.read, part.start, min(part.size, disk.size - part.start))
            info = _info(
                f"p{part.index}",
                source,
                partuuid=_partuuid(part, signature),
                partlabel=part.name,
            )
            found.append(FoundVolume(info, source, f"{name}: partition {part.index}"))
    pvs = [PhysicalVolume(v.where, v.source) for v in found if v.info.filesystem == "lvm2"]
    if pvs:
        groups = VolumeGroups(pvs)
        notes += groups.notes
        for lv in groups.logical_volumes:
            info = _info(f"lvm:{lv.name}", lv)
            found.append(FoundVolume(info, lv, f"{name}: LV {lv.name}"))
    return found, notes


def by_id(volumes: Sequence[FoundVolume], vid: str) -> FoundVolume | None:
    """The volume with id ``vid``."""
    return next((v for v in volumes if v.info.id == vid), None)
