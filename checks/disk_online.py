"""The online half of the OS-disk checks (``no_swap_on_os_disk``, ``single_root_partition``,
``no_lvm_os_disk``): judgements from the ``swap`` and ``block_devices`` probe facts.

The checks themselves live in :mod:`checks.disk` (their offline half reads the image); each of
their ``evaluate`` functions calls the function here when the online facts are present and reports
both sources when both are.
"""

from __future__ import annotations

from collections.abc import Callable

from checks.common import clip, key_values, lsblk_pairs, section
from checks.model import Facts, Outcome, Status

ONLINE_DISK_FACTS = ("block_devices", "swap")
"""Probe facts the online half reads (add them to the checks' ``facts=``)."""


def _os_disk(facts: Facts) -> tuple[str, str, list[dict[str, str]]]:
    raw = str(facts.get("block_devices", ""))
    kv = key_values(raw.split("###", 1)[0])
    rows = lsblk_pairs(section(facts, "block_devices", "lsblk") or "")
    return kv.get("os_disk", ""), kv.get("root_source", ""), rows


def swap_online(facts: Facts) -> Outcome:
    """No active swap on the OS disk (a partition of it or a swap file on one of its filesystems),
    no swap entry in /etc/fstab, and no swap-typed partition on the OS disk. Swap files on the
    resource disk (waagent's /mnt/resource/swapfile) are fine."""
    disk, _, rows = _os_disk(facts)
    os_devices = {r.get("NAME", "") for r in rows}
    problems: list[str] = []
    for line in (section(facts, "swap", "active") or "").splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        name, kind, _size, backing = parts[:4]
        on_os = name in os_devices or backing in os_devices or (not disk)
        if kind == "file" and backing == "-":
            on_os = True  # cannot tell where it lives: assume the OS disk
        if on_os:
            problems.append(
                f"active swap {name} ({kind}{', on ' + backing if backing != '-' else ''})"
            )
    for line in (section(facts, "swap", "fstab") or "").splitlines():
        if line.strip():
            problems.append(f"fstab swap entry: {line.strip()}")
    for r in rows:
        if r.get("FSTYPE") == "swap" and r.get("TYPE") in ("part", "lvm"):
            problems.append(f"swap {r.get('TYPE')} on the OS disk: {r.get('NAME')}")
    problems = list(dict.fromkeys(problems))
    if problems:
        return Outcome(
            Status.FAIL,
            "Swap space configured on the OS disk.",
            f"{len(problems)} swap item(s) on the OS disk /dev/{disk or '?'}",
            clip(problems),
        )
    return Outcome(Status.PASS, "No. of Swap Partitions: 0", f"no swap on /dev/{disk or '?'}")


def root_partition_online(facts: Facts) -> Outcome:
    """Exactly one mounted filesystem at ``/`` on the OS disk, and no other partition of the OS
    disk is mounted under a root-filesystem path (/usr, /var ... split off)."""
    disk, root, rows = _os_disk(facts)
    if not root:
        return Outcome(Status.ERROR, "", "root filesystem source unknown")
    roots = [r for r in rows if r.get("MOUNTPOINT") == "/"]
    split = [
        r
        for r in rows
        if r.get("MOUNTPOINT") in ("/usr", "/var", "/etc", "/lib", "/bin", "/sbin", "/opt")
    ]
    count = max(1, len(roots)) if root else 0
    evidence = clip(
        f"{r.get('NAME')} {r.get('TYPE')} {r.get('FSTYPE')} {r.get('MOUNTPOINT')}" for r in rows
    )
    if split:
        names = ", ".join(f"{r['MOUNTPOINT']} on {r['NAME']}" for r in split)
        return Outcome(
            Status.WARNING, f"Root Partition: {count}", f"root filesystem split: {names}", evidence
        )
    return Outcome(Status.PASS, f"Root Partition: {count}", f"/ on {root} (/dev/{disk})", evidence)


def lvm_online(facts: Facts) -> Outcome:
    """No logical volume on the OS disk (standard partitions are recommended)."""
    disk, root, rows = _os_disk(facts)
    lvs = [r.get("NAME", "") for r in rows if r.get("TYPE") == "lvm"]
    pvs = [r.get("NAME", "") for r in rows if r.get("FSTYPE") == "LVM2_member"]
    if lvs or pvs:
        return Outcome(
            Status.WARNING,
            f"LVM on /dev/{disk}: {', '.join(lvs or pvs)}",
            "the OS disk uses LVM",
        )
    return Outcome(
        Status.PASS, "standard partitions", f"no LVM on /dev/{disk or '?'} (/ on {root})"
    )


def online_if_collected(facts: Facts, judge: Callable[[Facts], Outcome]) -> Outcome | None:
    """``judge(facts)`` when the online disk facts were collected, else None."""
    return judge(facts) if "block_devices" in facts else None


def merge(offline: Outcome | None, online: Outcome | None) -> Outcome:
    """Combine the offline and online verdicts: the worse status wins, both are reported."""
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
        f"image: {offline.actual}; running: {online.actual}",
        f"image: {offline.message}; running: {online.message}",
        "\n".join(x for x in (offline.evidence, online.evidence) if x),
        required=worst.required,
    )
