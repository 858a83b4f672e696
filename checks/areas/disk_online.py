"""The online half of the OS-disk checks (``no_swap_on_os_disk``, ``single_root_partition``,
``no_lvm_os_disk``): judgements from the ``swap`` and ``block_devices`` probe facts.

The checks themselves live in :mod:`checks.areas.disk` (their offline half reads the image); each of
their ``evaluate`` functions calls the function here when the online facts are present and reports
both sources when both are.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from checks.common import clip
from checks.facts.block_devices import FACT as BLOCK_DEVICES
from checks.facts.swap import FACT as SWAP
from checks.facts.swap import Swap
from checks.model import Facts, Outcome, Status

ONLINE_DISK_FACTS = (BLOCK_DEVICES, SWAP)
"""Probe facts the online half reads (add them to the checks' ``facts=``)."""

_SPLIT_OFF = ("/usr", "/var", "/etc", "/lib", "/bin", "/sbin", "/opt")
"""Root-filesystem paths that must not be separate mounts of the OS disk."""


RESOURCE_DISK_SOURCES = re.compile(
    r"^(/dev/disk/cloud/azure_resource(-part\d+)?|/dev/disk/azure/resource(-part\d+)?"
    r"|/mnt/resource/\S+)$"
)
"""fstab swap sources that live on Azure's resource disk: cloud-init's ``mounts`` module writes
``/dev/disk/cloud/azure_resource-part2 none swap`` for ``swap`` on the resource disk, the udev
rules of WALinuxAgent/azure-vm-utils name it ``/dev/disk/azure/resource``, and waagent's swap file
is ``/mnt/resource/swapfile``. S9 puts swap there; it is not on the OS disk."""


def on_resource_disk(source: str) -> bool:
    """Whether an fstab swap source is on the resource disk (see :data:`RESOURCE_DISK_SOURCES`)."""
    return RESOURCE_DISK_SOURCES.match(source) is not None


def swap_online(facts: Facts) -> Outcome:
    """No active swap on the OS disk (a partition of it or a swap file on one of its filesystems),
    no swap entry in /etc/fstab for the OS disk, and no swap-typed partition on the OS disk. Swap on
    the resource disk (waagent's /mnt/resource/swapfile, cloud-init's azure_resource-part2) is
    fine."""
    disk = facts.require(BLOCK_DEVICES)
    swap = facts.get(SWAP) or Swap()
    os_devices = {d.name for d in disk.devices}
    problems: list[str] = []
    for area in swap.active:
        name, kind, backing = area.name, area.kind, area.backing
        on_os = name in os_devices or backing in os_devices or (not disk.os_disk)
        if kind == "file" and backing == "-":
            on_os = True  # cannot tell where it lives: assume the OS disk
        if on_os:
            problems.append(
                f"active swap {name} ({kind}{', on ' + backing if backing != '-' else ''})"
            )
    for entry in swap.fstab:
        if not on_resource_disk(entry.split()[0] if entry.split() else ""):
            problems.append(f"fstab swap entry: {entry}")
    for d in disk.devices:
        if d.fstype == "swap" and d.type in ("part", "lvm"):
            problems.append(f"swap {d.type} on the OS disk: {d.name}")
    problems = list(dict.fromkeys(problems))
    where = f"/dev/{disk.os_disk or '?'}"
    if problems:
        return Outcome(
            Status.FAIL,
            "Swap space configured on the OS disk.",
            f"{len(problems)} swap item(s) on the OS disk {where}",
            clip(problems),
        )
    return Outcome(Status.PASS, "No. of Swap Partitions: 0", f"no swap on {where}")


def root_partition_online(facts: Facts) -> Outcome:
    """Exactly one mounted filesystem at ``/`` on the OS disk, and no other partition of the OS
    disk is mounted under a root-filesystem path (/usr, /var ... split off)."""
    disk = facts.require(BLOCK_DEVICES)
    root = disk.root_source
    if not root:
        return Outcome(Status.ERROR, "", "root filesystem source unknown")
    roots = [d for d in disk.devices if d.mountpoint == "/"]
    split = [d for d in disk.devices if d.mountpoint in _SPLIT_OFF]
    count = max(1, len(roots))
    evidence = clip(f"{d.name} {d.type} {d.fstype} {d.mountpoint}" for d in disk.devices)
    if split:
        names = ", ".join(f"{d.mountpoint} on {d.name}" for d in split)
        return Outcome(
            Status.WARNING, f"Root Partition: {count}", f"root filesystem split: {names}", evidence
        )
    return Outcome(
        Status.PASS, f"Root Partition: {count}", f"/ on {root} (/dev/{disk.os_disk})", evidence
    )


def lvm_online(facts: Facts) -> Outcome:
    """No logical volume on the OS disk (standard partitions are recommended)."""
    disk = facts.require(BLOCK_DEVICES)
    lvs = [d.name for d in disk.devices if d.type == "lvm"]
    pvs = [d.name for d in disk.devices if d.fstype == "LVM2_member"]
    if lvs or pvs:
        return Outcome(
            Status.WARNING,
            f"LVM on /dev/{disk.os_disk}: {', '.join(lvs or pvs)}",
            "the OS disk uses LVM",
        )
    return Outcome(
        Status.PASS,
        "standard partitions",
        f"no LVM on /dev/{disk.os_disk or '?'} (/ on {disk.root_source})",
    )


def online_if_collected(facts: Facts, judge: Callable[[Facts], Outcome]) -> Outcome | None:
    """``judge(facts)`` when the online disk facts were collected (``block_devices`` has a
    value), else None."""
    return judge(facts) if BLOCK_DEVICES in facts else None


def running_label(facts: Facts) -> str:
    """What :func:`merge` calls the lsblk/swap half: ``running`` (the machine's), or ``fstab``
    when those facts were predicted from the image's files (``certify --offline``)."""
    return "fstab" if facts.sources.get(BLOCK_DEVICES.name) == "offline" else "running"


def merge(offline: Outcome | None, online: Outcome | None, label: str = "running") -> Outcome:
    """Combine the offline and online verdicts: the worse status wins, both are reported
    (the online half as ``label``)."""
    if offline is None and online is None:
        return Outcome(Status.SKIPPED, "", "no facts")
    if offline is None or (offline.status is Status.SKIPPED and online is not None):
        assert online is not None
        return online
    if online is None or online.status is Status.SKIPPED:
        return offline
    order = [Status.PASS, Status.SKIPPED, Status.WARNING, Status.FAIL, Status.ERROR]
    worst = max(offline, online, key=lambda o: order.index(o.status))
    return Outcome(
        worst.status,
        f"image: {offline.actual}; {label}: {online.actual}",
        f"image: {offline.message}; {label}: {online.message}",
        "\n".join(x for x in (offline.evidence, online.evidence) if x),
        required=worst.required,
    )
