"""The ``block_devices`` fact: the root file system's source, the OS disk holding it, and that
disk's partitions and logical volumes (``lsblk -P``)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import key_values, sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage

_COLUMNS = ("NAME", "TYPE", "FSTYPE", "MOUNTPOINT", "PARTTYPE")
"""The columns the probe asks lsblk for (``-o``); lsblk prints each on every row."""


@dataclass(frozen=True)
class BlockDevice:
    """One row of ``lsblk -P -p -o NAME,TYPE,FSTYPE,MOUNTPOINT,PARTTYPE``; ``""`` when empty."""

    name: str
    """The device path: ``/dev/sda1``, ``/dev/mapper/rootvg-rootlv``."""
    type: str
    """``disk``, ``part``, ``lvm``, ``crypt`` ..."""
    fstype: str
    """``ext4``, ``xfs``, ``swap``, ``LVM2_member`` ..."""
    mountpoint: str
    """``/``, ``/boot/efi``, ``[SWAP]``."""
    parttype: str
    """The partition type: an MBR code (``0x83``) or a GPT type GUID."""


@dataclass(frozen=True)
class BlockDevices:
    """The OS disk as the running guest sees it."""

    root_source: str
    """The device mounted at ``/`` (``""`` when unknown)."""
    root_fstype: str
    os_disk: str
    """The disk holding the root file system (``sda``, ``vda``); ``""`` when unknown."""
    devices: tuple[BlockDevice, ...] = ()
    """The OS disk itself, then its partitions and the volumes on them."""


def _device(line: str) -> BlockDevice:
    try:
        items = shlex.split(line)
    except ValueError as exc:  # an unbalanced quote: a row cut short
        raise ValueError(f"lsblk row {line!r}: {exc}") from None
    pairs: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        pairs[key] = value
    missing = [c for c in _COLUMNS if c not in pairs]
    if missing:
        raise ValueError(f"lsblk row {line!r} has no {', '.join(missing)}")
    return BlockDevice(*(pairs[c] for c in _COLUMNS))


def parse(text: str) -> BlockDevices:
    """``key=value`` lines (``root_source``, ``root_fstype``, ``os_disk``), then the rows of the
    ``### lsblk`` section (lines with an ``=``)."""
    header = key_values(text.split("###", 1)[0])
    rows = (sections(text).get("lsblk") or "").splitlines()
    return BlockDevices(
        root_source=header.get("root_source", ""),
        root_fstype=header.get("root_fstype", ""),
        os_disk=header.get("os_disk", ""),
        devices=tuple(_device(line) for line in rows if "=" in line),
    )


_LSBLK_FSTYPE = {"lvm2": "LVM2_member", "luks": "crypto_LUKS", "none": ""}


def _mapper(name: str) -> str:
    vg, _, lv = name.partition("/")
    return "/dev/mapper/" + vg.replace("-", "--") + "-" + lv.replace("-", "--")


def read_offline(image: OfflineImage) -> str:
    """The OS disk as a booted guest's ``lsblk`` would show it, from the partition table, the
    volumes found and the image's fstab: the disk is named ``sda`` (Azure's SCSI controller),
    mount points are where the fstab (and ``/``) put them, swap the fstab names is ``[SWAP]``."""
    from checks.offline.image import OfflineError
    from images.fs.fstab import match_spec, parse_fstab

    files = image.files
    table = files.partition_table
    if table is None:
        raise OfflineError("the image's partition table was not read")
    infos = {v.id: v for v in files.volumes}
    mounts = {m.volume: m.path for m in files.mounts}
    mounts[files.root_volume] = "/"
    if image.is_file("/etc/fstab"):
        for entry in parse_fstab(image.read_text("/etc/fstab")):
            if entry.fstype == "swap":
                volume = match_spec(entry.spec, list(infos.values()), files.root_volume)
                if volume is not None:
                    mounts.setdefault(volume.id, "[SWAP]")

    def row(name: str, kind: str, vid: str, parttype: str) -> str:
        info = infos.get(vid)
        fstype = "" if info is None else _LSBLK_FSTYPE.get(info.filesystem, info.filesystem)
        mountpoint = mounts.get(vid, "")
        return (
            f'NAME="{name}" TYPE="{kind}" FSTYPE="{fstype}" MOUNTPOINT="{mountpoint}" '
            f'PARTTYPE="{parttype}"'
        )

    names = {"disk": "/dev/sda"}
    rows = [row("/dev/sda", "disk", "disk", "")]
    lvs = [v for v in infos if v.startswith("lvm:")]
    for part in table.partitions:
        vid = f"p{part.index}"
        names[vid] = f"/dev/sda{part.index}"
        parttype = part.type_id.lower()
        rows.append(row(names[vid], "part", vid, parttype))
        if infos.get(vid) is not None and infos[vid].filesystem == "lvm2":
            for lv in sorted(lvs):
                names[lv] = _mapper(lv[4:])
                rows.append(row(names[lv], "lvm", lv, ""))
    if table.kind == "none":
        for lv in sorted(lvs):
            names[lv] = _mapper(lv[4:])
            rows.append(row(names[lv], "lvm", lv, ""))
    root = infos[files.root_volume]
    return (
        "\n".join(
            [
                f"root_source={names.get(files.root_volume, '')}",
                f"root_fstype={root.filesystem}",
                "os_disk=sda",
                "### lsblk",
                *rows,
            ]
        )
        + "\n"
    )


FACT = fact(
    "block_devices",
    parse,
    needs_root=True,
    description="root filesystem source, the OS disk and its partitions/LVs (lsblk -P)",
    offline=read_offline,
    offline_note="predicted from the partition table, volumes and fstab; the disk is named sda",
)
