"""The ``block_devices`` fact: the root file system's source, the OS disk holding it, and that
disk's partitions and logical volumes (``lsblk -P``)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import key_values, sections

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


FACT = fact(
    "block_devices",
    parse,
    needs_root=True,
    description="root filesystem source, the OS disk and its partitions/LVs (lsblk -P)",
)
