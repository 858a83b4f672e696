"""The ``bootloader_config`` fact: the kernel command lines configured in the boot loader's files
(grub, grubenv, BLS entries, extlinux/syslinux), only those lines."""

from __future__ import annotations

from dataclasses import dataclass

from checks.fact import fact
from checks.parsing import sections


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


FACT = fact(
    "bootloader_config",
    parse,
    needs_root=True,
    description="kernel command lines configured in grub/extlinux/BLS files (only those lines)",
)
