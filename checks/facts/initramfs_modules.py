"""The ``initramfs_modules`` fact: the Hyper-V modules (``hv_vmbus``, ``hv_storvsc``,
``hv_netvsc``) built into the running kernel or listed in its initramfs."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import key_values, sections


@dataclass(frozen=True)
class InitramfsModules:
    """Where the Hyper-V modules are available at early boot."""

    release: str
    """The running kernel's release (``uname -r``)."""
    builtin: tuple[str, ...] = ()
    """Lines of ``modules.builtin`` naming a Hyper-V module (``kernel/drivers/hv/hv_vmbus.ko``)."""
    initramfs: tuple[str, ...] = ()
    """The initramfs section as printed: the ``image=`` line, then the Hyper-V entries listed
    (a path, or an ``lsinitrd`` line ending in one)."""
    image: str = "none"
    """The initramfs listed (a path, or ``lsinitrd``); ``none`` without a tool to list it."""

    @property
    def lines(self) -> tuple[str, ...]:
        """Both sections' lines (evidence)."""
        return self.builtin + self.initramfs


def parse(text: str) -> InitramfsModules:
    """``release=``, then the ``### builtin`` and ``### initramfs`` sections (a missing section
    reads as empty)."""
    parts = sections(text)
    initramfs = parts.get("initramfs", "")
    return InitramfsModules(
        release=key_values(text.split("###", 1)[0]).get("release", ""),
        builtin=tuple(parts.get("builtin", "").splitlines()),
        initramfs=tuple(initramfs.splitlines()),
        image=key_values(initramfs).get("image", "none"),
    )


FACT = fact(
    "initramfs_modules",
    parse,
    timeout=40,
    max_output=16 * 1024,
    needs_root=True,
    description=(
        "Hyper-V modules built into the kernel or present in the running kernel's initramfs"
    ),
)
