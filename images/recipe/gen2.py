"""The gen2 variant: the good root file system behind a GPT with an EFI system partition.

The ESP holds systemd-boot and the good image's kernel and initramfs (written with mtools, no
mount); the disk boots under UEFI (OVMF), so QEMU and Azure treat it as Generation 2.
"""

from __future__ import annotations

import re
import shutil
import struct
import uuid
import zlib
from pathlib import Path

from images.errors import ImageBuildError
from images.partitions import GPT_ESP
from images.recipe.tools import MIB, PARTITION_OFFSET, Progress, run
from images.recipe.variants import Variant

GEN2_TOOLS: tuple[str, ...] = ("debugfs", "mkfs.vfat", "mcopy", "apt-get", "dpkg-deb")
"""Extra tools the gen2 variant needs (it reads the good image and writes a FAT ESP unmounted)."""

ESP_SIZE = 64 * MIB
ESP_TYPE = uuid.UUID(GPT_ESP)
LINUX_ROOT_X86_64_TYPE = uuid.UUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
GPT_ARRAY_SECTORS = GPT_ENTRIES * GPT_ENTRY_SIZE // 512


def _debugfs(image: Path, request: str, log: Path) -> str:
    return run(["debugfs", "-R", request, f"{image}?offset={PARTITION_OFFSET}"], request, log)


def derive_gen2(spec: Variant, good: Path, work: Path, say: Progress, log: Path) -> Path:
    """The good root file system behind a GPT with an EFI system partition booting systemd-boot.

    The ext4 partition is copied byte for byte (sparse) from the good image; the ESP holds
    systemd-boot (from Debian's ``systemd-boot-efi`` package, fetched with the host's apt), the
    good image's kernel and initramfs and a loader entry with the same kernel command line. Needs
    mtools and dosfstools besides the good image's tools.
    """
    say(f"{spec.name}: GPT + EFI system partition (systemd-boot) around the good root file system")
    fs_bytes = good.stat().st_size - 512 - PARTITION_OFFSET
    extlinux = _debugfs(good, "cat /boot/extlinux/extlinux.conf", log)
    kernel = re.search(r"(?m)^\s*LINUX\s+(\S+)", extlinux)
    initrd = re.search(r"(?m)^\s*INITRD\s+(\S+)", extlinux)
    append = re.search(r"(?m)^\s*APPEND\s+(.+)$", extlinux)
    if not (kernel and initrd and append):
        raise ImageBuildError(f"test image build: no kernel entry in {good}'s extlinux.conf")
    esp_files = work / "esp"
    esp_files.mkdir()
    _debugfs(good, f"dump {kernel.group(1)} {esp_files / 'vmlinuz'}", log)
    _debugfs(good, f"dump {initrd.group(1)} {esp_files / 'initrd.img'}", log)
    (esp_files / "loader/entries").mkdir(parents=True)
    (esp_files / "loader/loader.conf").write_text("default debian.conf\ntimeout 0\n")
    (esp_files / "loader/entries/debian.conf").write_text(
        "title Debian GNU/Linux 12\nlinux /vmlinuz\ninitrd /initrd.img\n"
        f"options {append.group(1).strip()}\n"
    )
    (esp_files / "EFI/BOOT").mkdir(parents=True)
    shutil.copyfile(_systemd_boot_efi(work, log), esp_files / "EFI/BOOT/BOOTX64.EFI")

    esp = work / "esp.img"
    with open(esp, "wb") as handle:
        handle.truncate(ESP_SIZE)
    run(["mkfs.vfat", "-F", "32", "-n", "ESP", str(esp)], "mkfs.vfat", log)
    # mtools, not a mount: the FAT file system is written without needing a vfat kernel module.
    run(
        ["mcopy", "-s", "-i", str(esp), *(str(p) for p in sorted(esp_files.iterdir())), "::/"],
        "filling the EFI system partition (mcopy)",
        log,
    )

    esp_start = PARTITION_OFFSET
    root_start = esp_start + ESP_SIZE
    disk_bytes = root_start + fs_bytes + MIB  # the last MiB holds the backup GPT
    raw = work / "disk.raw"
    with open(raw, "wb") as handle:
        handle.truncate(disk_bytes)
    for source, skip, seek, count in (
        (esp, 0, esp_start, ESP_SIZE),
        (good, PARTITION_OFFSET, root_start, fs_bytes),
    ):
        run(
            [
                *("dd", f"if={source}", f"of={raw}", "bs=1M", "conv=sparse,notrunc", "status=none"),
                *(f"skip={skip // MIB}", f"seek={seek // MIB}", f"count={count // MIB}"),
            ],
            "copying a partition",
            log,
        )
    write_gpt(
        raw,
        disk_bytes,
        [
            (ESP_TYPE, esp_start, ESP_SIZE, "EFI system partition"),
            (LINUX_ROOT_X86_64_TYPE, root_start, fs_bytes, "root"),
        ],
    )
    vhd = work / "disk.vhd"
    run(
        [
            *("qemu-img", "convert", "-f", "raw", "-O", "vpc"),
            *("-o", "subformat=fixed,force_size=on", str(raw), str(vhd)),
        ],
        "qemu-img convert",
        log,
    )
    raw.unlink()
    return vhd


def _systemd_boot_efi(work: Path, log: Path) -> Path:
    """systemd-bootx64.efi from Debian's systemd-boot-efi package (fetched by the host's apt)."""
    debs = work / "deb"
    debs.mkdir()
    run(
        ["apt-get", "download", "systemd-boot-efi"],
        "apt-get download systemd-boot-efi",
        log,
        cwd=debs,
    )
    package = next(debs.glob("systemd-boot-efi_*.deb"))
    run(["dpkg-deb", "-x", str(package), str(debs / "x")], "dpkg-deb -x", log)
    return debs / "x/usr/lib/systemd/boot/efi/systemd-bootx64.efi"


def write_gpt(raw: Path, disk_bytes: int, parts: list[tuple[uuid.UUID, int, int, str]]) -> None:
    """A protective MBR plus primary and backup GPT for ``parts`` (type, offset, size, name)."""
    sectors = disk_bytes // 512
    entries = bytearray(GPT_ENTRIES * GPT_ENTRY_SIZE)
    for index, (type_guid, offset, size, name) in enumerate(parts):
        entry = (
            type_guid.bytes_le
            + uuid.uuid4().bytes_le
            + struct.pack("<QQQ", offset // 512, (offset + size) // 512 - 1, 0)
            + name.encode("utf-16-le").ljust(72, b"\x00")
        )
        entries[index * GPT_ENTRY_SIZE : (index + 1) * GPT_ENTRY_SIZE] = entry
    entries_crc = zlib.crc32(entries)
    disk_guid = uuid.uuid4().bytes_le
    first_usable = 2 + GPT_ARRAY_SECTORS
    last_usable = sectors - 2 - GPT_ARRAY_SECTORS

    def header(current: int, backup: int, array_lba: int) -> bytes:
        fields = struct.pack(
            "<8sIIIIQQQQ16sQIII",
            b"EFI PART",
            0x00010000,
            92,
            0,
            0,
            current,
            backup,
            first_usable,
            last_usable,
            disk_guid,
            array_lba,
            GPT_ENTRIES,
            GPT_ENTRY_SIZE,
            entries_crc,
        )
        crc = zlib.crc32(fields)
        return (fields[:16] + struct.pack("<I", crc) + fields[20:]).ljust(512, b"\x00")

    protective = b"\x00\x00\x02\x00\xee\xff\xff\xff" + struct.pack(
        "<II", 1, min(sectors - 1, 0xFFFFFFFF)
    )
    with open(raw, "r+b") as handle:
        handle.seek(446)
        handle.write(protective + b"\x00" * 48 + b"\x55\xaa")
        handle.seek(512)
        handle.write(header(1, sectors - 1, 2))
        handle.write(entries)
        handle.seek((sectors - 1 - GPT_ARRAY_SECTORS) * 512)
        handle.write(entries)
        handle.write(header(sectors - 1, 1, sectors - 1 - GPT_ARRAY_SECTORS))
