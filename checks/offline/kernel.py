"""What ``uname`` would say on a boot of the image: the kernel's release, version and machine,
read from the kernel file the default boot entry names.

An x86 ``bzImage`` carries its version string in the setup header (``kernel_version``, the
release, builder and ``#1 SMP ...`` version) and says whether it is 64-bit (``xloadflags``); an
arm64 ``Image`` (gzip-compressed as ``vmlinuz`` on most distributions) has the ``Linux version``
banner in its data. When the file cannot be read, the release comes from the file's name.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

from checks.offline.image import OfflineError, OfflineImage

KERNEL_LIMIT = 128 * 1024 * 1024
"""Largest kernel file read (a decompressed arm64 Image is ~40 MiB)."""

_BANNER = re.compile(rb"Linux version (\S+) \((?:[^()]|\([^()]*\))*\)[^\x00\n]*?\s(#\d+[^\x00\n]*)")


@dataclass(frozen=True)
class KernelInfo:
    """``uname -m``, ``-r`` and ``-v`` of a kernel file."""

    machine: str
    release: str
    version: str


def _from_setup_header(head: bytes) -> KernelInfo | None:
    if len(head) < 0x240 or head[0x202:0x206] != b"HdrS":
        return None
    protocol = struct.unpack_from("<H", head, 0x206)[0]
    pointer = struct.unpack_from("<H", head, 0x20E)[0]
    text = (
        head[pointer + 0x200 : pointer + 0x200 + 512].split(b"\0", 1)[0].decode("ascii", "replace")
    )
    release = text.split(" ", 1)[0]
    m = re.search(r"\s(#\d+.*)$", text)
    xloadflags = struct.unpack_from("<H", head, 0x236)[0] if protocol >= 0x20C else 0
    machine = "x86_64" if xloadflags & 1 else "i686"
    if not release:
        return None
    return KernelInfo(machine, release, m.group(1).strip() if m else "")


def _from_banner(data: bytes) -> KernelInfo | None:
    m = _BANNER.search(data)
    if m is None:
        return None
    arm64 = len(data) > 0x40 and data[0x38:0x3C] == b"ARM\x64"
    machine = "aarch64" if arm64 else ""
    return KernelInfo(
        machine,
        m.group(1).decode("ascii", "replace"),
        m.group(2).decode("ascii", "replace").strip(),
    )


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        return inflater.decompress(data, limit)
    except zlib.error as exc:
        raise OfflineError(f"kernel image: corrupt gzip data ({exc})") from None


def kernel_info(image: OfflineImage) -> KernelInfo:
    """The default boot entry's kernel as ``uname`` would describe it once booted."""
    entry = image.boot
    name = entry.kernel.rsplit("/", 1)[-1]
    from_name = name.removeprefix("vmlinuz-").removeprefix("vmlinux-").removeprefix("Image-")
    if entry.kernel_path:
        head = entry.tree.read_file(entry.kernel_path, 64 * 1024, truncate=True)
        info = _from_setup_header(head)
        if info is not None:
            return info
        data = entry.tree.read_file(entry.kernel_path, KERNEL_LIMIT, truncate=True)
        if data[:2] == b"\x1f\x8b":
            data = _gunzip(data, KERNEL_LIMIT)
        info = _from_banner(data)
        if info is not None:
            return info
    if from_name != name and re.match(r"\d+\.\d+", from_name):
        return KernelInfo("", from_name, "")
    raise OfflineError(f"cannot tell the release of the kernel {entry.kernel} ({entry.config})")


_ELF_MACHINES = {62: "x86_64", 183: "aarch64", 3: "i686", 40: "armv7l", 243: "riscv64"}


def elf_machine(image: OfflineImage) -> str:
    """``uname -m`` guessed from the image's own ``/bin/sh`` (its ELF ``e_machine``); ``""``."""
    for path in ("/bin/sh", "/usr/bin/sh", "/sbin/init"):
        if image.is_file(path):
            head = image.files.read_file(path, 64, truncate=True)
            if head[:4] == b"\x7fELF" and len(head) >= 20:
                order = "<" if head[5] == 1 else ">"
                return _ELF_MACHINES.get(struct.unpack_from(order + "H", head, 18)[0], "")
    return ""
