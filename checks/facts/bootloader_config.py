"""The ``bootloader_config`` fact: the kernel command lines configured in the boot loader's files
(grub, grubenv, BLS entries, extlinux/syslinux), only those lines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import sections

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage


@dataclass(frozen=True)
class BootloaderFile:
    """One configuration file and its kernel command-line lines."""

    path: str
    """The file; ``""`` for lines before the first ``### path`` line (the probe prints none)."""
    lines: tuple[str, ...]
    """Lines setting kernel parameters (``linux``, ``append``, ``options``, ``GRUB_CMDLINE_*``
    ...), as written, cut at 2000 characters; empty when the file has none."""


@dataclass(frozen=True)
class BootloaderConfig:
    """Every boot-loader file found, in the probe's order (none: no known boot loader)."""

    files: tuple[BootloaderFile, ...] = ()


def parse(text: str) -> BootloaderConfig:
    """One ``### path`` section per file found."""
    parts = sections(text)
    return BootloaderConfig(
        tuple(BootloaderFile(path, tuple(body.splitlines())) for path, body in parts.items())
    )


_KERNEL_LINE = re.compile(
    r"^[ \t\r\f\v]*(linux|linuxefi|kernel|append|APPEND|options|kernelopts|"
    r"GRUB_CMDLINE_LINUX[A-Z_]*|set[ \t\r\f\v]+kernelopts)([^A-Za-z0-9_]|$)"
)
_FILES = (
    "/etc/default/grub",
    "/etc/default/grub.d/*.cfg",
    "/boot/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/boot/grub2/grubenv",
    "/boot/grub/menu.lst",
    "/boot/efi/EFI/*/grub.cfg",
    "/boot/extlinux/extlinux.conf",
    "/boot/syslinux/syslinux.cfg",
    "/boot/loader/entries/*.conf",
)


def read_offline(image: OfflineImage) -> str:
    """``### path`` and the kernel command-line lines (cut at 2000 bytes) of every boot-loader
    file the probe looks at, in its order."""
    out = []
    for path in (p for pattern in _FILES for p in image.glob(pattern)):
        if not image.is_file(path):
            continue
        out.append(f"### {path}")
        for line in image.lines(path):
            if _KERNEL_LINE.search(line):
                out.append(line.encode()[:2000].decode("utf-8", "replace"))
    return "".join(f"{line}\n" for line in out)


FACT = fact(
    "bootloader_config",
    parse,
    needs_root=True,
    description="kernel command lines configured in grub/extlinux/BLS files (only those lines)",
    offline=read_offline,
)
