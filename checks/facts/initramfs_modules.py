"""The ``initramfs_modules`` fact: the Hyper-V modules (``hv_vmbus``, ``hv_storvsc``,
``hv_netvsc``) built into the running kernel or listed in its initramfs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import key_values, sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


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


_HV = re.compile(r"/hv_(vmbus|storvsc|netvsc)\.ko")


def _listing(image: OfflineImage, path: str) -> list[str]:
    """The Hyper-V entries of the initramfs at ``path``, listed until vmbus and storvsc were
    both seen (as the probe's ``awk ... exit`` stops the listing)."""
    from checks.offline.initramfs import list_names

    size = image.stat(path)
    if size is None:
        return []
    out: list[str] = []
    seen: set[str] = set()

    def read(offset: int, length: int) -> bytes:
        return image.files.read_at(path, offset, length)

    for name in list_names(read, size.size, image.tick):
        m = _HV.search(name)
        if m:
            out.append(name)
            seen.add(m.group(1))
            if {"vmbus", "storvsc"} <= seen:
                break
    return out


def read_offline(image: OfflineImage) -> str:
    """The default boot kernel's release, its Hyper-V built-ins and the Hyper-V modules in its
    initramfs (listed by reading the cpio archives, as the probe lists Debian's and dracut's
    images; names only where the probe would fall back to ``lsinitrd``'s long listing)."""
    from checks.offline.kernel import kernel_info

    release = kernel_info(image).release
    out = [f"release={release}", "### builtin"]
    builtin = f"/lib/modules/{release}/modules.builtin"
    if image.is_file(builtin):
        out += [ln for ln in image.lines(builtin) if _HV.search(ln)]
    out.append("### initramfs")
    debian_image = f"/boot/initrd.img-{release}"
    if image.command("lsinitramfs") and image.is_file(debian_image):
        out.append(f"image={debian_image}")
        out += _listing(image, debian_image)
    else:
        dracut = (f"/boot/initramfs-{release}.img", f"/boot/initrd-{release}",
                  f"/lib/modules/{release}/initrd")  # fmt: skip
        found = next((path for path in dracut if image.is_file(path)), None)
        if found is not None and image.command("cpio"):
            out.append(f"image={found}")  # the probe lists it directly, as here
            out += _listing(image, found)
        elif image.command("lsinitrd"):
            out.append("image=lsinitrd")
            if found is not None:
                out += _listing(image, found)
        else:
            out.append("image=none")
    return "\n".join(out) + "\n"


FACT = fact(
    "initramfs_modules",
    parse,
    timeout=40,
    max_output=16 * 1024,
    needs_root=True,
    description=(
        "Hyper-V modules built into the kernel or present in the running kernel's initramfs"
    ),
    offline=read_offline,
    offline_note="the default boot kernel's initramfs, listed directly (names only)",
)
