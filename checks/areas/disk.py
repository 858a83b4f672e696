"""OS-disk layout checks: swap, root partitions and LVM (azure-certification.md §1a/§1b).

Each check judges the image offline from the ``image`` fact (the partition table and the
file-system signatures); the online probes of a running VM can add their own verdict, so every
``evaluate`` tolerates a missing ``image`` fact.
"""

from __future__ import annotations

from checks.areas.disk_online import (
    ONLINE_DISK_FACTS,
    lvm_online,
    merge,
    online_if_collected,
    root_partition_online,
    running_label,
    swap_online,
)
from checks.facts.image import FACT as IMAGE
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check
from images.partitions import Partition, PartitionTable

BOTH = ("offline", "online")


def _table(facts: Facts) -> tuple[PartitionTable | None, str]:
    """The image's partition table, or None with the reason it is unavailable."""
    image = facts.get(IMAGE)
    if image is None:
        return None, "no image inspected"
    if image.partition_table is None:
        return None, image.partition_note or "partition table not read"
    return image.partition_table, ""


def _describe(p: Partition) -> str:
    return f"partition {p.index} ({p.type_name}, type {p.type_id}, signature {p.filesystem})"


def swap_offline(facts: Facts) -> Outcome | None:
    """The image's verdict for ``no_swap_on_os_disk``; None without an ``image`` fact."""
    table, why = _table(facts)
    if table is None:
        return None if why == "no image inspected" else Outcome(Status.SKIPPED, "", why)
    swaps = [p for p in table.partitions if p.is_swap]
    if table.kind == "none" and table.whole_disk_filesystem == "swap":
        return Outcome(
            Status.FAIL,
            "Swap space configured on the OS disk.",
            "the whole disk is a swap area (SWAPSPACE2 signature at sector 0)",
        )
    if swaps:
        return Outcome(
            Status.FAIL,
            "Swap space configured on the OS disk.",
            f"{len(swaps)} swap partition(s): "
            + "; ".join(_describe(p) for p in swaps)
            + ". Remove them and let waagent (ResourceDisk.EnableSwap) or cloud-init put swap "
            "on the resource disk",
            evidence="\n".join(_describe(p) for p in swaps),
        )
    return Outcome(
        Status.PASS, "No. of Swap Partitions: 0", "no swap partition by type or signature"
    )


def root_offline(facts: Facts) -> Outcome | None:
    """The image's verdict for ``single_root_partition``; None without an ``image`` fact."""
    table, why = _table(facts)
    if table is None:
        return None if why == "no image inspected" else Outcome(Status.SKIPPED, "", why)
    roots = [p for p in table.partitions if p.is_linux_root_capable]
    actual = f"Root Partition: {len(roots)}"
    evidence = "\n".join(_describe(p) for p in roots)
    if len(roots) == 1:
        return Outcome(Status.PASS, actual, f"one root-capable partition: {_describe(roots[0])}")
    if not roots:
        return Outcome(
            Status.WARNING,
            actual,
            "no Linux root-capable partition (Linux type with an ext2/3/4, xfs or btrfs file "
            "system): root on LVM, encrypted, or not a Linux image?",
        )
    return Outcome(
        Status.WARNING,
        actual,
        f"{len(roots)} Linux root-capable partitions; a single root partition is recommended "
        "(a separate /boot also counts here: offline inspection does not know what mounts at /)",
        evidence=evidence,
    )


def lvm_offline(facts: Facts) -> Outcome | None:
    """The image's verdict for ``no_lvm_os_disk``; None without an ``image`` fact."""
    table, why = _table(facts)
    if table is None:
        return None if why == "no image inspected" else Outcome(Status.SKIPPED, "", why)
    pvs = [p for p in table.partitions if p.is_lvm]
    if table.kind == "none" and table.whole_disk_filesystem == "lvm2":
        return Outcome(Status.WARNING, "LVM on the whole disk", "the whole disk is an LVM2 PV")
    if pvs:
        return Outcome(
            Status.WARNING,
            "LVM: " + ", ".join(f"partition {p.index}" for p in pvs),
            "the OS disk uses LVM; standard partitions are recommended",
            evidence="\n".join(_describe(p) for p in pvs),
        )
    return Outcome(Status.PASS, "standard partitions", "no LVM physical volume on the OS disk")


def _or_skipped(outcome: Outcome | None) -> Outcome:
    return outcome if outcome is not None else Outcome(Status.SKIPPED, "", "no facts collected")


@check(
    id="no_swap_on_os_disk",
    title="No swap partition on the OS disk",
    area="disk",
    severity=Severity.FAIL,
    required="No. of Swap Partitions: 0",
    facts=(IMAGE, *ONLINE_DISK_FACTS),
    ms_test_name="Swap Partition on OS Disk",
    selftest_id=41,
    tags=BOTH,
)
def no_swap_on_os_disk(facts: Facts, params: Params) -> Outcome:
    """No swap partition on the OS disk, by partition type (0x82, the Linux swap GUID) or by the
    ``SWAPSPACE2`` signature; swap belongs on the resource disk."""
    return merge(swap_offline(facts), online_if_collected(facts, swap_online), running_label(facts))


@check(
    id="single_root_partition",
    title="Single root partition on the OS disk",
    area="disk",
    severity=Severity.WARNING,
    required="1",
    facts=(IMAGE, *ONLINE_DISK_FACTS),
    ms_test_name="Root Partition on OS Disk",
    selftest_id=42,
    tags=BOTH,
)
def single_root_partition(facts: Facts, params: Params) -> Outcome:
    """Counts Linux root-capable partitions (a Linux root GUID, or a Linux type holding ext2/3/4,
    xfs or btrfs); more than one is a warning ("a single root partition is recommended")."""
    return merge(
        root_offline(facts), online_if_collected(facts, root_partition_online), running_label(facts)
    )


@check(
    id="no_lvm_os_disk",
    title="Standard partitions, not LVM, on the OS disk",
    area="disk",
    severity=Severity.WARNING,
    required="standard partitions (no LVM)",
    facts=(IMAGE, *ONLINE_DISK_FACTS),
    tags=BOTH,
)
def no_lvm_os_disk(facts: Facts, params: Params) -> Outcome:
    """No LVM physical volume (type 0x8e / the Linux LVM GUID, or an ``LVM2 001`` label)."""
    return merge(lvm_offline(facts), online_if_collected(facts, lvm_online), running_label(facts))
