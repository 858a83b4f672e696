"""The ``bootloader_config`` fact: the kernel command lines configured in the boot loader's files
(grub, grubenv, BLS entries, systemd-boot's entries and ``loader.conf`` on the ESP,
extlinux/syslinux), only those lines, and whether systemd-boot started the system (its
``LoaderInfo`` EFI variable online, the image's default boot entry offline)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.fact import fact
from checks.parsing import key_values, sections

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
    systemd_boot: bool | None = None
    """systemd-boot started this boot (online: its ``LoaderInfo`` EFI variable names it) or is
    the image's default loader (offline); False when another loader did (a BIOS boot, or a UEFI
    boot without ``LoaderInfo``, which systemd-boot sets on every boot); None when unknown."""
    loader_info: str = ""
    """The ``LoaderInfo`` EFI variable (``systemd-boot 252.22-1~deb12u1``); offline, the loader
    :mod:`checks.offline.boot` found (``offline: grub``)."""
    entry: str = ""
    """The entry the loader started (``LoaderEntrySelected``; offline, the default entry's file)."""


BOOT_SECTION = "@boot"
"""The probe's last section: ``efi=0|1`` (EFI variables readable), ``LoaderInfo=``,
``LoaderEntrySelected=``; offline ``loader=`` and ``entry=`` of the default boot entry."""


def parse(text: str) -> BootloaderConfig:
    """One ``### path`` section per file found, then the ``### @boot`` section."""
    parts = sections(text)
    boot = key_values(parts.pop(BOOT_SECTION, ""))
    files = tuple(BootloaderFile(path, tuple(body.splitlines())) for path, body in parts.items())
    info, loader = boot.get("LoaderInfo", ""), boot.get("loader", "")
    systemd_boot: bool | None = None
    if info:
        systemd_boot = info.lower().startswith("systemd-boot")
    elif loader:
        systemd_boot, info = loader == "systemd-boot", f"offline: {loader}"
    elif boot.get("efi") == "0":
        # a BIOS boot: systemd-boot (a UEFI program) did not start it. A UEFI boot without a
        # readable LoaderInfo stays unknown: an unreadable variable is not an absent one
        systemd_boot = False
    entry = boot.get("LoaderEntrySelected") or boot.get("entry", "")
    return BootloaderConfig(files, systemd_boot, info, entry)


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
    "/boot/efi/loader/entries/*.conf",
    "/efi/loader/entries/*.conf",
    "/boot/loader/loader.conf",
    "/boot/efi/loader/loader.conf",
    "/efi/loader/loader.conf",
)
_DEFAULT_LINE = re.compile(r"^[ \t\r\f\v]*default[ \t]")
"""``loader.conf``'s ``default`` line: which entry systemd-boot starts."""


def _wanted(path: str, line: str) -> bool:
    if path.endswith("/loader.conf"):
        return _DEFAULT_LINE.search(line) is not None
    return _KERNEL_LINE.search(line) is not None


def read_offline(image: OfflineImage) -> str:
    """``### path`` and the kernel command-line lines (cut at 2000 bytes) of every boot-loader
    file the probe looks at, in its order; an unmounted ESP's systemd-boot entry as its
    ``pN:/loader/entries/…`` name; then which loader boots the image by default
    (:meth:`OfflineImage.boot`)."""
    from checks.offline.image import OfflineError  # the offline package imports the facts

    out = []
    for path in (p for pattern in _FILES for p in image.glob(pattern)):
        if not image.is_file(path):
            continue
        out.append(f"### {path}")
        out += [_cut(line) for line in image.lines(path) if _wanted(path, line)]
    out.append(f"### {BOOT_SECTION}")
    try:
        entry = image.boot
    except OfflineError:  # no loader found: the files above are all there is
        return "".join(f"{line}\n" for line in out)
    _volume, _, path = entry.config.partition(":")
    seen = any(line.startswith("### ") and line.endswith(path) for line in out)
    if entry.loader == "systemd-boot" and path and not seen:  # an ESP the root tree lacks
        text = entry.tree.read_text(path, 64 * 1024)
        lines = [_cut(line) for line in text.splitlines() if _KERNEL_LINE.search(line)]
        out[-1:-1] = [f"### {entry.config}", *lines]
    out += [f"loader={entry.loader}", f"entry={entry.config}"]
    return "".join(f"{line}\n" for line in out)


def _cut(line: str) -> str:
    return line.encode()[:2000].decode("utf-8", "replace")


FACT = fact(
    "bootloader_config",
    parse,
    needs_root=True,
    description=(
        "kernel command lines configured in grub/extlinux/BLS/systemd-boot files (only those "
        "lines) and the loader that started the system (LoaderInfo EFI variable)"
    ),
    offline=read_offline,
)
