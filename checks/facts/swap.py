"""The ``swap`` fact: the active swap areas (``/proc/swaps``, with the file system holding a swap
file) and the swap entries of ``/etc/fstab``."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import sections


@dataclass(frozen=True)
class ActiveSwap:
    """One active swap area."""

    name: str
    """The partition or file: ``/dev/sda3``, ``/mnt/resource/swapfile``."""
    kind: str
    """``partition`` or ``file``."""
    size: str
    """Size in KiB, as /proc/swaps prints it."""
    backing: str
    """For a swap file, the device holding its file system; ``-`` when unknown or a partition."""


@dataclass(frozen=True)
class Swap:
    """Active swap and configured swap (none of either: no swap)."""

    active: tuple[ActiveSwap, ...] = ()
    fstab: tuple[str, ...] = ()
    """fstab swap entries (``source target type options``), without surrounding blanks."""


def parse(text: str) -> Swap:
    """The ``### active`` rows (``name kind size backing``; shorter lines are ignored) and the
    non-blank lines of ``### fstab`` (a missing section reads as empty)."""
    parts = sections(text)
    active = []
    for line in (parts.get("active") or "").splitlines():
        words = line.split()
        if len(words) >= 4:
            active.append(ActiveSwap(*words[:4]))
    fstab = tuple(ln.strip() for ln in (parts.get("fstab") or "").splitlines() if ln.strip())
    return Swap(tuple(active), fstab)


FACT = fact(
    "swap",
    parse,
    description="active swap (with the filesystem holding swap files) and fstab swap entries",
)
