"""The ``uname`` fact: architecture, kernel release and version, boot time and the guest's clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import key_values

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class Uname:
    """The running kernel (``uname -m/-r/-v``) and the guest's clock; ``""``/None when unread."""

    machine: str
    """The architecture, ``uname -m``: ``x86_64``, ``aarch64``."""
    release: str
    """``uname -r``, e.g. ``6.1.0-28-cloud-amd64``."""
    version: str
    """``uname -v``, e.g. ``#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)``."""
    btime: int | None = None
    """Boot time, seconds since the epoch (``btime`` of /proc/stat)."""
    now: int | None = None
    """The guest's clock when the probe ran, seconds since the epoch."""

    @property
    def debian_package(self) -> str | None:
        """The kernel package version a Debian kernel names in ``uname -v`` (``Debian 6.1.119-1``
        gives ``6.1.119-1``), else None."""
        m = re.search(r"Debian (\S+)", self.version)
        return m.group(1) if m else None


def _epoch(value: str) -> int | None:
    # at most 19 digits: a plausible epoch, and int() never refuses it
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 19 else None


def parse(text: str) -> Uname:
    """``key=value`` lines (``machine``, ``release``, ``version``, ``btime``, ``now``)."""
    kv = key_values(text)
    return Uname(
        machine=kv.get("machine", ""),
        release=kv.get("release", ""),
        version=kv.get("version", ""),
        btime=_epoch(kv.get("btime", "")),
        now=_epoch(kv.get("now", "")),
    )


def read_offline(image: OfflineImage) -> str:
    """Machine, release and version of the default boot entry's kernel; no clock (no boot)."""
    from checks.offline.kernel import elf_machine, kernel_info

    info = kernel_info(image)
    machine = info.machine or elf_machine(image)
    return f"machine={machine}\nrelease={info.release}\nversion={info.version}\n"


FACT = fact(
    "uname",
    parse,
    description="architecture, kernel release, boot time (epoch) and guest clock",
    offline=read_offline,
    offline_note="the default boot entry's kernel (setup header or banner); no clock",
)
