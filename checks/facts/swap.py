"""The ``swap`` fact: the active swap areas (``/proc/swaps``, with the file system holding a swap
file) and the swap entries of ``/etc/fstab``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


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


def read_offline(image: OfflineImage) -> str:
    """No active swap (nothing runs); the fstab's swap entries as ``swap.sh`` prints them."""
    out = ["### active", "### fstab"]
    if image.is_file("/etc/fstab"):
        for line in image.lines("/etc/fstab"):
            words = line.split(None, 4)
            if not words or words[0].startswith("#"):
                continue
            words += [""] * (4 - len(words))
            if words[2] == "swap":
                out.append(" ".join(words[:4]))
    return "\n".join(out) + "\n"


FACT = fact(
    "swap",
    parse,
    description="active swap (with the filesystem holding swap files) and fstab swap entries",
    offline=read_offline,
    offline_note="the fstab's swap entries; nothing is active in an image",
)
